//! DHCP: what a network-booting client is and what it boots ([`pxe`]),
//! the leases this room owns ([`lease`] for DHCPv4, [`lease6`] and the
//! DUIDs of [`duid`] for DHCPv6; the writes answers wait for are
//! committed in [`fold`]s), what a node's firmware said about itself
//! ([`firmware`]), the DHCPv4 server ([`v4`]), the DHCPv6
//! server ([`v6`]) and the router advertisements that send hosts to it
//! ([`ra`]), all answering from live state, the servers on a [`thread`]
//! of their own, their answers [`send`] at once.

pub(crate) mod duid;
pub(crate) mod firmware;
#[cfg(test)]
pub(crate) mod fixture;
pub(crate) mod fold;
pub(crate) mod lease;
pub(crate) mod lease6;
pub(crate) mod pxe;
pub(crate) mod ra;
pub(crate) mod send;
pub(crate) mod thread;
pub(crate) mod v4;
pub(crate) mod v6;

use crate::state::Schema;

/// The receive buffer every DHCP socket asks for, in either family: a
/// boot storm arrives faster than one loop reads (the kernel caps it at
/// `net.core.rmem_max`).
pub(crate) const RECV_BUFFER: usize = 4 << 20;

/// Registers the DHCP room's record kinds and their cascades.
pub(crate) fn register(schema: &mut Schema) {
    lease::register(schema);
    lease6::register(schema);
    duid::register(schema);
    firmware::register(schema);
}
