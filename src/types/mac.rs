//! MAC addresses: one canonical type that parses every spelling clients and
//! iPXE use (`52:54:00:12:34:56`, `52-54-00-12-34-56`, `525400123456`) and
//! always prints lower-case with colons.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A 48-bit Ethernet hardware address.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Mac(pub [u8; 6]);

/// A string that is not a MAC address in any accepted spelling.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("`{0}` is not a MAC address (expected 6 hex octets, e.g. 52:54:00:12:34:56)")]
pub struct MacParseError(pub String);

impl Mac {
    /// Takes the first six bytes of a DHCP `chaddr`; `None` if it is shorter.
    pub fn from_chaddr(chaddr: &[u8]) -> Option<Mac> {
        let bytes: [u8; 6] = chaddr.get(..6)?.try_into().ok()?;
        Some(Mac(bytes))
    }

    /// Whether this can be a NIC's own address: not all zeros and not a
    /// group (multicast or broadcast) address.
    pub fn is_station(&self) -> bool {
        self.0 != [0; 6] && self.0[0] & 1 == 0
    }

    /// `52-54-00-12-34-56`, the spelling used in file and host names.
    pub fn dashed(&self) -> String {
        self.to_string().replace(':', "-")
    }
}

impl FromStr for Mac {
    type Err = MacParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let hex: String = s.trim().chars().filter(|c| !matches!(c, ':' | '-' | '.')).collect();
        let err = || MacParseError(s.to_string());
        if hex.len() != 12 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(err());
        }
        let mut out = [0u8; 6];
        for (i, byte) in out.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).map_err(|_| err())?;
        }
        Ok(Mac(out))
    }
}

impl fmt::Display for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c, d, e, g] = self.0;
        write!(f, "{a:02x}:{b:02x}:{c:02x}:{d:02x}:{e:02x}:{g:02x}")
    }
}

impl fmt::Debug for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl Serialize for Mac {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Mac {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

crate::types::schema::string_valued!(
    Mac,
    "An Ethernet address, written `52:54:00:12:34:56` (dashes, dots and bare hex are read too).",
    Some("^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}$")
);
