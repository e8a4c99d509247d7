//! DHCP: what a network-booting client is ([`pxe`]) and the DHCPv4 server
//! ([`v4`]) that answers it from live state.

pub mod pxe;
pub mod v4;
