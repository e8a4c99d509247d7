//! The host's own network interfaces: their index, MAC and addresses,
//! used to find the admin node's address on a network when the network
//! does not say, to join multicast groups and to sign router
//! advertisements with the interface's link-layer address.

use std::net::{Ipv4Addr, Ipv6Addr};

use crate::types::mac::Mac;

/// An interface and its addresses with prefix lengths.
#[derive(Debug, Clone)]
pub(crate) struct Interface {
    pub(crate) name: String,
    pub(crate) index: u32,
    pub(crate) mac: Option<Mac>,
    pub(crate) v4: Vec<(Ipv4Addr, u8)>,
    /// Every IPv6 address, link-local ones included.
    pub(crate) v6: Vec<(Ipv6Addr, u8)>,
}

impl Interface {
    /// IPv6 addresses that are not link-local (fe80::/10).
    pub(crate) fn routable_v6(&self) -> impl Iterator<Item = Ipv6Addr> + '_ {
        self.v6.iter().map(|(a, _)| *a).filter(|a| !is_link_local(*a))
    }
}

/// fe80::/10.
pub(crate) fn is_link_local(a: Ipv6Addr) -> bool {
    a.segments()[0] & 0xffc0 == 0xfe80
}

/// Every interface the host has now.
pub(crate) fn list() -> Vec<Interface> {
    pnet_datalink::interfaces()
        .into_iter()
        .map(|i| Interface {
            name: i.name.clone(),
            index: i.index,
            mac: i.mac.map(|m| Mac(m.octets())).filter(|m| m.0 != [0; 6]),
            v4: i
                .ips
                .iter()
                .filter_map(|n| match n {
                    ipnetwork::IpNetwork::V4(v4) => Some((v4.ip(), v4.prefix())),
                    _ => None,
                })
                .collect(),
            v6: i
                .ips
                .iter()
                .filter_map(|n| match n {
                    ipnetwork::IpNetwork::V6(v6) => Some((v6.ip(), v6.prefix())),
                    _ => None,
                })
                .collect(),
        })
        .collect()
}

/// The interface called `name`, now.
pub(crate) fn by_name(name: &str) -> Option<Interface> {
    list().into_iter().find(|i| i.name == name)
}
