//! What a node's network-boot firmware says about itself in DHCPv4: its
//! machine UUID (option 97, RFC 4578) and its architecture (option 93),
//! kept per node so that the API shows them. Written with the lease that
//! carried them, and only when they change (a renewal that repeats them
//! writes nothing more); follows the node's renames and goes with it.

use serde::{Deserialize, Serialize};

use crate::inventory::node::Node;
use crate::state::{record, NoIndex, Schema, StateError, Txn};

/// A node's firmware as its last network boot described it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct BootClient {
    pub(crate) node: String,
    /// Option 97: a type byte (0) and 16 bytes, shown as a UUID; `None` when
    /// the firmware sent none or all zeros (QEMU without `-uuid`).
    pub(crate) uuid: Option<String>,
    /// Option 93: the IANA processor architecture type (0 BIOS, 7/9 x64
    /// UEFI, 11 arm64 UEFI, 16 x64 UEFI HTTP).
    pub(crate) arch: Option<u16>,
    /// Unix seconds of the request that said so.
    pub(crate) seen_at: u64,
}

record!(BootClient, kind = "boot_client", table = "boot_clients", key = node: String, index = NoIndex);

/// Option 97's value as a UUID (RFC 4122 text, as SMBIOS and `dmidecode`
/// print it); `None` unless it is type 0 with 16 bytes that are not all
/// zeros or all ones.
pub(crate) fn uuid_text(option97: &[u8]) -> Option<String> {
    let (&kind, id) = option97.split_first()?;
    if kind != 0 || id.len() != 16 || id.iter().all(|b| *b == 0) || id.iter().all(|b| *b == 0xff) {
        return None;
    }
    let hex: String = id.iter().map(|b| format!("{b:02x}")).collect();
    Some(format!("{}-{}-{}-{}-{}", &hex[..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..]))
}

/// Records what `node`'s firmware said, unless it said the same already
/// (the timestamp alone is not worth a write).
pub(crate) fn record(txn: &mut Txn<'_>, seen: BootClient) -> Result<(), StateError> {
    let same =
        txn.world().table::<BootClient>().get(&seen.node).is_some_and(|b| b.uuid == seen.uuid && b.arch == seen.arch);
    if !same {
        txn.put(seen)?;
    }
    Ok(())
}

fn node_deleted(txn: &mut Txn<'_>, node: &Node) -> Result<(), StateError> {
    txn.delete::<BootClient, _>(&node.name)?;
    Ok(())
}

fn node_renamed(txn: &mut Txn<'_>, old: &Node, new: &Node) -> Result<(), StateError> {
    if let Some(b) = txn.delete::<BootClient, _>(&old.name)? {
        txn.put(BootClient { node: new.name.clone(), ..(*b).clone() })?;
    }
    Ok(())
}

/// Registers the record and its cascades.
pub(crate) fn register(schema: &mut Schema) {
    schema.register::<BootClient>().on_delete::<Node>(node_deleted).on_rekey::<Node>(node_renamed);
}

#[cfg(test)]
mod tests {
    use super::uuid_text;

    #[test]
    fn option_97_as_a_uuid() {
        let mut v = vec![0];
        v.extend(0x10..0x20u8);
        assert_eq!(uuid_text(&v).as_deref(), Some("10111213-1415-1617-1819-1a1b1c1d1e1f"));
        assert_eq!(uuid_text(&[0; 17]), None, "QEMU without -uuid");
        assert_eq!(uuid_text(&[1; 17]), None, "not type 0");
        assert_eq!(uuid_text(&[0, 1, 2]), None);
        assert_eq!(uuid_text(&[]), None);
    }
}
