//! Entry points for the fuzz targets in `fuzz/`, compiled only when
//! cargo-fuzz builds the crate (`--cfg fuzzing`): each takes bytes as they
//! come from the network and must never panic.

use crate::dhcp::{pxe, v4};
use crate::types::mac::Mac;

/// A DHCPv4 datagram: decoded (a decoding bug costs one packet, never the
/// server), then classified the way the server does before it decides.
pub fn dhcp4(data: &[u8]) {
    if let Some(msg) = v4::server::parse(data) {
        let _ = pxe::classify(msg.opts());
        let _ = Mac::from_chaddr(msg.chaddr());
    }
}
