//! A switch port as a DHCP relay agent names it: the agent's circuit-id
//! and, when it sends one, its remote-id (RFC 3046 sub-options 1 and 2; in
//! DHCPv6 the relay's interface-id and remote-id options, RFC 8415 21.18
//! and RFC 4649). A node reserved on a port is the machine plugged into
//! it, whatever its MAC.
//!
//! Agent identifiers are bytes. They are written as text when they are
//! printable ASCII (`Gi1/0/7`, `eth0`), else as `hex:` and colon-separated
//! pairs (`hex:00:04:00:07`), the form Cisco's and Juniper's binary
//! circuit-ids need.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::hex;

/// The longest agent sub-option (its length is one byte).
pub(crate) const MAX_LEN: usize = 255;

const HEX: &str = "hex:";

/// A relay agent's circuit-id or remote-id: 1 to 255 bytes.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct AgentId(Vec<u8>);

/// Why a spelling is not an agent identifier.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum AgentIdError {
    #[error("is empty")]
    Empty,
    #[error("is longer than {MAX_LEN} bytes")]
    TooLong,
    #[error("after `hex:` must come colon-separated hex pairs, like `hex:00:04:00:07`")]
    BadHex,
}

impl AgentId {
    /// The identifier these bytes are, if they can be one.
    pub(crate) fn new(bytes: &[u8]) -> Result<AgentId, AgentIdError> {
        match bytes.len() {
            0 => Err(AgentIdError::Empty),
            n if n > MAX_LEN => Err(AgentIdError::TooLong),
            _ => Ok(AgentId(bytes.to_vec())),
        }
    }

    /// Reads the text or `hex:` spelling.
    pub(crate) fn parse(s: &str) -> Result<AgentId, AgentIdError> {
        match s.strip_prefix(HEX) {
            Some(pairs) => AgentId::new(&hex::parse(pairs).ok_or(AgentIdError::BadHex)?),
            None => AgentId::new(s.as_bytes()),
        }
    }

    fn printable(&self) -> bool {
        self.0.iter().all(|b| (0x20..0x7f).contains(b)) && !self.0.starts_with(HEX.as_bytes())
    }
}

impl fmt::Display for AgentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.printable() {
            // Printable ASCII is UTF-8.
            f.write_str(&String::from_utf8_lossy(&self.0))
        } else {
            f.write_str(HEX)?;
            hex::write(f, &self.0, false)
        }
    }
}

impl fmt::Debug for AgentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AgentId({self})")
    }
}

impl Serialize for AgentId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for AgentId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<AgentId, D::Error> {
        let s = String::deserialize(d)?;
        AgentId::parse(&s).map_err(|e| serde::de::Error::custom(format!("agent identifier `{s}` {e}")))
    }
}

/// The switch port a node is reserved on. Without a remote-id it matches
/// that circuit-id from any relay; with one, only from the relay that
/// sends that remote-id (circuit-ids repeat from switch to switch).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SwitchPort {
    pub(crate) circuit_id: AgentId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) remote_id: Option<AgentId>,
}

impl SwitchPort {
    /// The port a relay names with these sub-options (a remote-id that is
    /// empty or too long counts as none); `None` without a circuit-id.
    pub(crate) fn from_relay(circuit_id: Option<&[u8]>, remote_id: Option<&[u8]>) -> Option<SwitchPort> {
        Some(SwitchPort {
            circuit_id: AgentId::new(circuit_id?).ok()?,
            remote_id: remote_id.and_then(|r| AgentId::new(r).ok()),
        })
    }
}

impl fmt::Display for SwitchPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "circuit-id `{}`", self.circuit_id)?;
        if let Some(r) = &self.remote_id {
            write!(f, " remote-id `{r}`")?;
        }
        Ok(())
    }
}

crate::types::schema::string_valued!(
    AgentId,
    "A relay agent's circuit-id or remote-id: printable ASCII as itself, other bytes as `hex:` and colon-separated hex pairs.",
    None
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_and_hex_spellings_round_trip() {
        let text = AgentId::parse("Gi1/0/7").unwrap();
        assert_eq!(text.0, b"Gi1/0/7".to_vec());
        assert_eq!(text.to_string(), "Gi1/0/7");
        let bin = AgentId::parse("hex:00:04:00:07").unwrap();
        assert_eq!(bin.0, vec![0, 4, 0, 7]);
        assert_eq!(bin.to_string(), "hex:00:04:00:07");
        // Text that looks like the hex spelling is written as hex, so it
        // reads back as itself.
        let tricky = AgentId::new(b"hex:zz").unwrap();
        assert_eq!(AgentId::parse(&tricky.to_string()).unwrap(), tricky);
        let json = serde_json::to_string(&bin).unwrap();
        assert_eq!(serde_json::from_str::<AgentId>(&json).unwrap(), bin);
    }

    #[test]
    fn bad_spellings_are_refused_with_the_reason() {
        assert_eq!(AgentId::parse(""), Err(AgentIdError::Empty));
        assert_eq!(AgentId::parse(&"x".repeat(256)), Err(AgentIdError::TooLong));
        assert_eq!(AgentId::parse("hex:0:1"), Err(AgentIdError::BadHex));
        assert_eq!(AgentId::parse("hex:"), Err(AgentIdError::BadHex));
        let err = serde_json::from_str::<SwitchPort>(r#"{"circuit_id":"hex:q"}"#).unwrap_err().to_string();
        assert!(err.contains("hex pairs"), "{err}");
        let err = serde_json::from_str::<SwitchPort>(r#"{"circuit":"eth0"}"#).unwrap_err().to_string();
        assert!(err.contains("unknown field"), "{err}");
    }
}
