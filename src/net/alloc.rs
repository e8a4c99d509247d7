//! IPv4 allocation: a node's stable address from its network's static
//! range, and a free address from the dynamic range for an unknown client.
//! Pure functions over a world snapshot; the caller commits the choice in a
//! transaction that re-checks it.

use std::net::Ipv4Addr;

use crate::state::model::{Network, Range};
use crate::state::World;

/// Whether an address can be handed out at all on `net` (not the network
/// or broadcast address, not the router, not the admin node itself).
pub fn assignable(net: &Network, ip: Ipv4Addr) -> bool {
    net.subnet.contains(&ip)
        && ip != net.subnet.network()
        && ip != net.subnet.broadcast()
        && Some(ip) != net.router
        && Some(ip) != net.server
}

/// The next free address of the static range (not a node's, not leased),
/// searching from the network's allocation cursor and wrapping around, so a
/// burst of registrations costs O(1) each instead of a scan from the start.
pub fn next_static(world: &World, net: &Network, now: u64) -> Option<Ipv4Addr> {
    let from = world.static_cursor(&net.name).unwrap_or(net.static_range.start);
    first_free(world, net, &net.static_range, from, now, |_| false)
}

/// A free dynamic address for a new client, searching from `from` and
/// wrapping; `skip` marks addresses the caller has already promised
/// elsewhere (outstanding offers).
pub fn next_dynamic(
    world: &World,
    net: &Network,
    from: Option<Ipv4Addr>,
    now: u64,
    skip: impl Fn(Ipv4Addr) -> bool,
) -> Option<Ipv4Addr> {
    let range = net.dynamic.as_ref()?;
    first_free(world, net, range, from.unwrap_or(range.start), now, skip)
}

fn first_free(
    world: &World,
    net: &Network,
    range: &Range,
    from: Ipv4Addr,
    now: u64,
    skip: impl Fn(Ipv4Addr) -> bool,
) -> Option<Ipv4Addr> {
    let from = if range.contains(from) { from } else { range.start };
    let free = |ip: &Ipv4Addr| {
        assignable(net, *ip)
            && world.node_by_ip(*ip).is_none()
            && !matches!(world.lease(*ip), Some(l) if l.expires_at > now)
            && !skip(*ip)
    };
    let tail = Range { start: from, end: range.end };
    tail.iter().find(free).or_else(|| range.iter().take_while(|ip| *ip < from).find(free))
}
