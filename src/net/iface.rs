//! The host's own network interfaces and their IPv4 addresses, used to find
//! the admin node's address on a network when the network does not say.

use std::net::Ipv4Addr;

/// An interface name and its IPv4 addresses with prefix lengths.
#[derive(Debug, Clone)]
pub(crate) struct Interface {
    pub(crate) name: String,
    pub(crate) v4: Vec<(Ipv4Addr, u8)>,
}

/// Every interface the host has now.
pub(crate) fn list() -> Vec<Interface> {
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
