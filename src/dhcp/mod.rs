//! DHCP: what a network-booting client is and what it boots ([`pxe`]),
//! the DHCPv4 leases this room owns ([`lease`]), and the DHCPv4 server
//! ([`v4`]) that answers from live state.

pub(crate) mod lease;
pub(crate) mod pxe;
pub(crate) mod v4;

use crate::state::Schema;

/// Registers the DHCP room's record kinds and their cascades.
pub(crate) fn register(schema: &mut Schema) {
    lease::register(schema);
}
