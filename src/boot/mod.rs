//! Network boot: rendering of iPXE scripts, GRUB and PXELINUX configs and
//! unattended-install templates from live state ([`render`]), the Secure
//! Boot chain's names and GRUB's words ([`grub`]), PXELINUX's names and
//! words ([`pxelinux`]), one file over HTTP with ranges and validators
//! ([`files`]), the HTTP boot routes
//! ([`http`]), and the TFTP server for first-stage loaders ([`tftp`]);
//! the two rules both file servers apply: symlinks that leave their root,
//! and whose answers carry a node's token.

pub(crate) mod files;
pub(crate) mod grub;
pub(crate) mod http;
pub(crate) mod pxelinux;
pub(crate) mod render;
pub(crate) mod tftp;

use std::net::{IpAddr, Ipv4Addr};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use crate::inventory::network::Network;
use crate::inventory::node::Node;
use crate::state::World;
use crate::types::mac::Mac;

/// A registered machine's answer asked for by someone else.
#[derive(Debug, thiserror::Error)]
#[error("{node}'s boot answers are for {node} itself ({own}), not for {from}")]
pub(crate) struct NotFromNode {
    /// The node the MAC belongs to.
    pub(crate) node: String,
    /// Its address.
    pub(crate) own: Ipv4Addr,
    /// Where the request came from.
    pub(crate) from: IpAddr,
}

/// A registered machine's script, GRUB config and templates can carry its
/// token, so they go only to the machine itself (its static address) or
/// to the admin node (loopback, or a network's server address). Unknown
/// MACs (discovery) and nodes without a static address are not
/// restricted.
pub(crate) fn for_the_machine_itself(world: &World, mac: Mac, peer: IpAddr) -> Result<(), NotFromNode> {
    let Some(node) = world.table::<Node>().by_mac(&mac) else { return Ok(()) };
    let Some(own) = node.ipv4 else { return Ok(()) };
    let from = match peer {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(peer, IpAddr::V4),
        v4 => v4,
    };
    let admin = |ip: Ipv4Addr| world.table::<Network>().iter().any(|n| n.server == Some(ip));
    match from {
        IpAddr::V4(ip) if ip == own || ip.is_loopback() || admin(ip) => Ok(()),
        _ => Err(NotFromNode { node: node.name.clone(), own, from }),
    }
}

/// Whether root owns every symlink on the way from `root` to `rel`: then
/// it may lead out of the root (a package's link, like Debian's
/// `/usr/lib/ipxe/ipxe.efi -> /boot/ipxe.efi`; whoever can make those can
/// replace the files themselves). A link anyone else made is not followed
/// out.
pub(crate) fn links_owned_by_root(root: &Path, rel: &Path) -> bool {
    let mut at = root.to_path_buf();
    rel.components().all(|c| {
        at.push(c);
        std::fs::symlink_metadata(&at).is_ok_and(|m| !m.file_type().is_symlink() || m.uid() == 0)
    })
}
