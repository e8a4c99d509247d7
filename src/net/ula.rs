//! RFC 4193 unique local IPv6 prefixes and the MD5-derived interface IDs
//! that map a node's FQDN to its IPv6 address (OpenCrowbar's scheme, with
//! `fd`). The API's views, the boot templates and the run inputs derive a
//! node's IPv6 address here, as do DNS and DHCPv6; and the MAC inside an
//! EUI-64 interface ID (how DHCPv6 and discovery recognise a SLAAC or
//! link-local address), and the other way (the link-local address explain
//! sends its DHCPv6 questions from).

use std::net::Ipv6Addr;

use md5::{Digest, Md5};

use crate::types::global_id::GlobalId;
use crate::types::mac::Mac;

/// `fd` + Global ID + 16-bit subnet ID: a network's `auto` /64, as an
/// address whose low 64 bits are zero.
pub(crate) fn auto_prefix(gid: GlobalId, subnet_id: u16) -> Ipv6Addr {
    let hi: u64 = (0xfd << 56) | (gid.value() << 16) | u64::from(subnet_id);
    Ipv6Addr::from(u128::from(hi) << 64)
}

/// The last 64 bits of md5(fqdn): the node's interface ID. The name is
/// taken as stored: lower-case, no trailing dot.
pub(crate) fn interface_id(fqdn: &str) -> u64 {
    let digest = Md5::digest(fqdn.trim_end_matches('.').to_ascii_lowercase().as_bytes());
    let mut tail = [0u8; 8];
    tail.copy_from_slice(&digest[8..16]);
    u64::from_be_bytes(tail)
}

/// The node's address on a /64: the prefix's upper 64 bits and the FQDN's
/// interface ID.
pub(crate) fn node_address(prefix: Ipv6Addr, fqdn: &str) -> Ipv6Addr {
    let upper = u128::from(prefix) & !u128::from(u64::MAX);
    Ipv6Addr::from(upper | u128::from(interface_id(fqdn)))
}

/// The MAC a modified EUI-64 interface ID (RFC 4291 appendix A: ff:fe in
/// the middle, the universal/local bit flipped) was made from; `None` for
/// any other interface ID (a random, a DHCPv6 or an md5 one).
pub(crate) fn eui64_mac(iid: u64) -> Option<Mac> {
    let o = iid.to_be_bytes();
    (o[3] == 0xff && o[4] == 0xfe).then(|| Mac([o[0] ^ 0x02, o[1], o[2], o[5], o[6], o[7]]))
}

/// The modified EUI-64 interface ID of `mac` (the inverse of [`eui64_mac`]).
pub(crate) fn eui64_iid(mac: Mac) -> u64 {
    let m = mac.0;
    u64::from_be_bytes([m[0] ^ 0x02, m[1], m[2], 0xff, 0xfe, m[3], m[4], m[5]])
}

/// The link-local address a NIC with `mac` takes (fe80::/64 and its EUI-64).
pub(crate) fn eui64_link_local(mac: Mac) -> Ipv6Addr {
    Ipv6Addr::from((0xfe80u128 << 112) | u128::from(eui64_iid(mac)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_prefix_is_fd_global_id_subnet() {
        let gid = GlobalId::from_u64(0x12_3456_789a);
        assert_eq!(auto_prefix(gid, 7), "fd12:3456:789a:7::".parse::<Ipv6Addr>().unwrap());
        assert!(GlobalId::random().value() < (1 << 40));
    }

    #[test]
    fn eui64_interface_ids_give_their_mac() {
        let a: Ipv6Addr = "fd00::5054:ff:fe12:3456".parse().unwrap();
        assert_eq!(eui64_mac(u128::from(a) as u64), Some(Mac([0x52, 0x54, 0, 0x12, 0x34, 0x56])));
        assert_eq!(eui64_mac(interface_id("node1.example.com")), None);
        let mac = Mac([0x52, 0x54, 0, 0x12, 0x34, 0x56]);
        assert_eq!(eui64_link_local(mac), "fe80::5054:ff:fe12:3456".parse::<Ipv6Addr>().unwrap());
        assert_eq!(eui64_mac(eui64_iid(mac)), Some(mac));
    }

    #[test]
    fn interface_id_is_md5_tail() {
        // `printf node1.example.com | md5sum` = ba42a7de06c9ecc9 726446a8b44801fa
        let want = 0x7264_46a8_b448_01fa;
        assert_eq!(interface_id("node1.example.com"), want);
        assert_eq!(interface_id("Node1.Example.com."), want);
        let addr = node_address("fd00:1:2:3::".parse().unwrap(), "node1.example.com");
        assert_eq!(u128::from(addr) >> 64, 0xfd00_0001_0002_0003);
        assert_eq!(u128::from(addr) as u64, want);
    }
}
