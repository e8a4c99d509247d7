//! DHCPv6 identities: the DUID type (RFC 8415 section 11) with the MAC
//! that a DUID-LL or DUID-LLT carries, the server's own DUID (made once
//! and kept in the store, so that clients see the same server across
//! restarts), and the record of which DUIDs belong to which node (written
//! when a node is first recognised by a MAC, read to recognise it by its
//! DUID from then on; it follows the node's renames and goes with it).

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use imbl::HashMap;
use serde::{Deserialize, Serialize};

use crate::inventory::node::Node;
use crate::state::{record, Index, Schema, StateError, StoreKey, Table, Txn};
use crate::types::hex;
use crate::types::mac::Mac;

/// The longest DUID: a 2-byte type and up to 128 bytes (RFC 8415 11.1).
pub(crate) const MAX_LEN: usize = 130;

/// A DHCP Unique Identifier, as the client sent it.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct Duid(Arc<[u8]>);

/// Bytes that are not a DUID.
#[derive(Debug, thiserror::Error)]
pub(crate) enum DuidError {
    #[error("a DUID is 3 to {MAX_LEN} bytes, got {0}")]
    Length(usize),
    #[error("`{0}` is not a DUID in hex (like 00:03:00:01:52:54:00:12:34:56)")]
    NotHex(String),
}

impl Duid {
    /// Checks the length; the contents are the client's business.
    pub(crate) fn new(bytes: &[u8]) -> Result<Duid, DuidError> {
        if !(3..=MAX_LEN).contains(&bytes.len()) {
            return Err(DuidError::Length(bytes.len()));
        }
        Ok(Duid(bytes.into()))
    }

    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The Ethernet MAC inside a DUID-LLT (type 1) or DUID-LL (type 3)
    /// of hardware type 1; `None` for any other DUID.
    pub(crate) fn mac(&self) -> Option<Mac> {
        let b = &*self.0;
        let (kind, htype) = (u16::from_be_bytes([b[0], b[1]]), b.get(2..4)?);
        let mac = match (kind, htype) {
            (1, [0, 1]) if b.len() == 14 => &b[8..14],
            (3, [0, 1]) if b.len() == 10 => &b[4..10],
            _ => return None,
        };
        Mac::from_chaddr(mac)
    }

    /// Whether the DUID can tell one machine from another: not a DUID-UUID
    /// (type 4) of all zeros or all ones, which firmware without an SMBIOS
    /// UUID sends (iPXE in a QEMU guest without `-uuid`). Such a DUID is
    /// never recorded for a node nor used to recognise one.
    pub(crate) fn is_distinctive(&self) -> bool {
        let b = &*self.0;
        let uuid = u16::from_be_bytes([b[0], b[1]]) == 4 && b.len() == 18;
        !(uuid && (b[2..].iter().all(|x| *x == 0) || b[2..].iter().all(|x| *x == 0xff)))
    }

    /// A DUID-LLT for `mac` made at `unix` seconds (the time field counts
    /// from 2000-01-01, modulo 2^32).
    pub(crate) fn llt(mac: Mac, unix: u64) -> Duid {
        let since_2000 = (unix.saturating_sub(946_684_800) & 0xffff_ffff) as u32;
        let mut b = vec![0, 1, 0, 1];
        b.extend_from_slice(&since_2000.to_be_bytes());
        b.extend_from_slice(&mac.0);
        Duid(b.into())
    }
}

impl fmt::Display for Duid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        hex::write(f, &self.0, false)
    }
}

impl fmt::Debug for Duid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Duid({self})")
    }
}

impl FromStr for Duid {
    type Err = DuidError;
    fn from_str(s: &str) -> Result<Duid, DuidError> {
        match hex::parse(s) {
            Some(b) => Duid::new(&b),
            None => Err(DuidError::NotHex(s.chars().take(64).collect())),
        }
    }
}

impl Serialize for Duid {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Duid {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Duid, D::Error> {
        String::deserialize(d)?.parse().map_err(serde::de::Error::custom)
    }
}

impl StoreKey for Duid {
    fn store_key(&self) -> String {
        self.to_string()
    }
}

/// The server's DUID, made at the first start of the DHCPv6 server.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ServerDuid {
    /// Always [`ServerDuid::NAME`]: the kind has one record.
    pub(crate) name: String,
    pub(crate) duid: Duid,
}

impl ServerDuid {
    pub(crate) const NAME: &'static str = "server";
}

record!(ServerDuid, kind = "server_duid", table = "server_duid", key = name: String, index = crate::state::NoIndex);

/// The stored server DUID, made now (a DUID-LLT of `mac`) and stored in
/// the same transaction when there is none yet.
pub(crate) fn server_duid(txn: &mut Txn<'_>, mac: Mac, now: u64) -> Result<Duid, StateError> {
    if let Some(s) = txn.world().table::<ServerDuid>().get(ServerDuid::NAME) {
        return Ok(s.duid.clone());
    }
    let duid = Duid::llt(mac, now);
    txn.put(ServerDuid { name: ServerDuid::NAME.into(), duid: duid.clone() })?;
    Ok(duid)
}

/// A DUID a node's DHCPv6 client presented.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct NodeDuid {
    pub(crate) duid: Duid,
    pub(crate) node: String,
    /// Unix seconds of the lease that recorded it.
    pub(crate) seen_at: u64,
}

/// DUIDs by node, for the node's view.
#[derive(Clone, Default)]
pub(crate) struct NodeDuidIndex {
    by_node: HashMap<String, Arc<[Duid]>>,
}

impl Index<NodeDuid> for NodeDuidIndex {
    fn inserted(&mut self, old: Option<&NodeDuid>, new: &NodeDuid) {
        if let Some(old) = old {
            self.removed(old);
        }
        let mut held: Vec<Duid> = self.by_node.get(&new.node).map(|d| d.to_vec()).unwrap_or_default();
        held.push(new.duid.clone());
        self.by_node.insert(new.node.clone(), held.into());
    }

    fn removed(&mut self, old: &NodeDuid) {
        let Some(held) = self.by_node.get(&old.node) else { return };
        let rest: Vec<Duid> = held.iter().filter(|d| **d != old.duid).cloned().collect();
        if rest.is_empty() {
            self.by_node.remove(&old.node);
        } else {
            self.by_node.insert(old.node.clone(), rest.into());
        }
    }
}

record!(NodeDuid, kind = "node_duid", table = "node_duids", key = duid: Duid, index = NodeDuidIndex);

impl Table<NodeDuid> {
    /// The DUIDs recorded for `node`.
    pub(crate) fn of_node(&self, node: &str) -> &[Duid] {
        self.index().by_node.get(node).map_or(&[], |d| d)
    }
}

fn node_deleted(txn: &mut Txn<'_>, node: &Node) -> Result<(), StateError> {
    let duids = txn.world().table::<NodeDuid>().of_node(&node.name).to_vec();
    for d in duids {
        txn.delete::<NodeDuid, _>(&d)?;
    }
    Ok(())
}

fn node_renamed(txn: &mut Txn<'_>, old: &Node, new: &Node) -> Result<(), StateError> {
    let table = txn.world().table::<NodeDuid>();
    let moved: Vec<NodeDuid> = table
        .of_node(&old.name)
        .iter()
        .filter_map(|d| table.get(d))
        .map(|r| NodeDuid { node: new.name.clone(), ..(**r).clone() })
        .collect();
    for r in moved {
        txn.put(r)?;
    }
    Ok(())
}

/// Registers the server DUID and the node DUIDs.
pub(crate) fn register(schema: &mut Schema) {
    schema.register::<ServerDuid>();
    schema.register::<NodeDuid>().on_delete::<Node>(node_deleted).on_rekey::<Node>(node_renamed);
}

crate::types::schema::string_valued!(
    Duid,
    "A DHCPv6 DUID as colon-separated hex pairs.",
    Some("^[0-9a-f]{2}(:[0-9a-f]{2})*$")
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mac_inside_ll_and_llt_duids() {
        let mac: Mac = "52:54:00:12:34:56".parse().unwrap();
        let llt = Duid::llt(mac, 946_684_800 + 5);
        assert_eq!(llt.to_string(), "00:01:00:01:00:00:00:05:52:54:00:12:34:56");
        assert_eq!(llt.mac(), Some(mac));
        let ll: Duid = "00:03:00:01:52:54:00:12:34:56".parse().unwrap();
        assert_eq!(ll.mac(), Some(mac));
        // DUID-UUID (what iPXE sends) and DUID-EN carry no MAC.
        let uuid = Duid::new(&[0, 4, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17]).unwrap();
        assert_eq!(uuid.mac(), None);
        // A DUID-LL of another hardware type, or of the wrong length.
        assert_eq!("00:03:00:06:52:54:00:12:34:56".parse::<Duid>().unwrap().mac(), None);
        assert_eq!("00:03:00:01:52:54:00:12:34".parse::<Duid>().unwrap().mac(), None);
        assert!(uuid.is_distinctive() && llt.is_distinctive());
        let mut zero = vec![0, 4];
        zero.extend([0; 16]);
        assert!(!Duid::new(&zero).unwrap().is_distinctive());
        assert!(Duid::new(&[0, 1]).is_err());
        assert!(Duid::new(&[0; 131]).is_err());
        assert!("00:1".parse::<Duid>().is_err());
        assert!("zz:00:01".parse::<Duid>().is_err());
    }
}
