//! The host's own network interfaces and their IPv4 addresses, used to find
//! the admin node's address on a network when the network does not say.

use std::net::Ipv4Addr;

/// An interface name and its IPv4 addresses with prefix lengths.
#[derive(Debug, Clone)]
pub struct Interface {
    pub name: String,
    pub v4: Vec<(Ipv4Addr, u8)>,
}

/// Every interface the host has now.
pub fn list() -> Vec<Interface> {
    pnet_datalink::interfaces()
        .into_iter()
        .map(|i| Interface {
            name: i.name.clone(),
            v4: i
                .ips
                .iter()
                .filter_map(|n| match n {
                    ipnetwork::IpNetwork::V4(v4) => Some((v4.ip(), v4.prefix())),
                    _ => None,
                })
                .collect(),
        })
        .collect()
}

/// The host's address inside `subnet`, if it has one.
pub fn local_address_in(subnet: &ipnet::Ipv4Net) -> Option<Ipv4Addr> {
    list().into_iter().flat_map(|i| i.v4).map(|(ip, _)| ip).find(|ip| subnet.contains(ip))
}

/// The IPv4 addresses of the named interface.
pub fn addresses_of(name: &str) -> Vec<Ipv4Addr> {
    list().into_iter().filter(|i| i.name == name).flat_map(|i| i.v4).map(|(ip, _)| ip).collect()
}
