//! Zone serials: one record per zone, bumped in the same commit as any
//! change to what the zone holds (a node's name, address or network; a
//! network's domain, subnet or prefix; an operator record), so a serial
//! never trails the data it describes and never goes backwards, across
//! restarts too. A new serial is the later of the old one plus one and the
//! commit's Unix time (RFC 1982 arithmetic; good until 2106).

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::records::DnsRecord;
use super::zones::{reverse_v4_name, reverse_v6_name, Catalog, ZoneKind};
use crate::inventory::network::Network;
use crate::inventory::node::Node;
use crate::state::{record, Change, NoIndex, Record, StateError, Txn, World};
use crate::types::time::now;

/// A zone's serial.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ZoneSerial {
    pub(crate) zone: String,
    pub(crate) serial: u32,
    /// Unix seconds of the commit that set it.
    pub(crate) changed_at: u64,
}

record!(ZoneSerial, kind = "dns_serial", table = "dns_serials", key = zone: String, index = NoIndex);

/// `a` is after `b` in serial-number arithmetic (RFC 1982).
pub(crate) fn serial_after(a: u32, b: u32) -> bool {
    a != b && a.wrapping_sub(b) < (1 << 31)
}

/// The serial that follows `old` at Unix time `now`.
pub(crate) fn next(old: Option<u32>, now: u64) -> u32 {
    // Truncating on purpose: serials are 32-bit and compared modulo 2^32.
    let clock = now as u32;
    match old {
        Some(o) if serial_after(clock, o) => clock,
        Some(o) => o.wrapping_add(1),
        None => clock.max(1),
    }
}

/// The serial of `zone` in `w` (1 for a zone that has never changed).
pub(crate) fn of(w: &World, zone: &str) -> u32 {
    w.table::<ZoneSerial>().get(zone).map_or(1, |z| z.serial)
}

/// The zones a node's records are in, in `w`.
fn node_zones(w: &World, cat: &Catalog, node: &Node, out: &mut BTreeSet<String>) {
    if let Some(z) = cat.find(&node.name).filter(|z| z.kind == ZoneKind::Forward) {
        out.insert(z.apex.clone());
    }
    if let Some(z) = node.ipv4.and_then(|ip| cat.find(&reverse_v4_name(ip))) {
        out.insert(z.apex.clone());
    }
    if let Some(z) = node.ipv6(w).and_then(|ip| cat.find(&reverse_v6_name(ip))) {
        out.insert(z.apex.clone());
    }
}

/// Whether two versions of a node say the same in DNS.
fn same_in_dns(a: &Node, b: &Node) -> bool {
    a.ipv4 == b.ipv4 && a.network == b.network
}

/// Whether two versions of a network make the same zones and records.
fn same_network_in_dns(a: &Network, b: &Network) -> bool {
    a.domain == b.domain && a.subnet == b.subnet && a.v6prefix == b.v6prefix && a.server == b.server && a.id == b.id
}

/// The batch's zone-changing changes bump their zones' serials (see the
/// module doc). Registered with [`Schema::on_commit`](crate::state::Schema::on_commit).
pub(crate) fn derive(before: &World, txn: &mut Txn<'_>, changes: &[Change]) -> Result<(), StateError> {
    let relevant = |c: &&Change| [Node::KIND, Network::KIND, DnsRecord::KIND].contains(&c.kind);
    if !changes.iter().any(|c| relevant(&c)) {
        return Ok(());
    }
    let after = txn.world().clone();
    let (old_cat, new_cat) = (Catalog::of(before), Catalog::of(&after));
    let mut touched = BTreeSet::new();
    for c in changes.iter().filter(relevant) {
        match c.kind {
            k if k == Node::KIND => {
                let (old, new) = (before.table::<Node>().get(&c.key), after.table::<Node>().get(&c.key));
                if let (Some(o), Some(n)) = (old, new) {
                    if same_in_dns(o, n) && old_cat.zones() == new_cat.zones() {
                        continue;
                    }
                }
                if let Some(o) = old {
                    node_zones(before, &old_cat, o, &mut touched);
                }
                if let Some(n) = new {
                    node_zones(&after, &new_cat, n, &mut touched);
                }
            }
            k if k == Network::KIND => {
                let (old, new) = (before.table::<Network>().get(&c.key), after.table::<Network>().get(&c.key));
                if let (Some(o), Some(n)) = (old, new) {
                    if same_network_in_dns(o, n) {
                        continue;
                    }
                }
                for cat in [&old_cat, &new_cat] {
                    for z in cat.zones().iter().filter(|z| z.networks.iter().any(|n| n.name == c.key)) {
                        touched.insert(z.apex.clone());
                    }
                }
            }
            _ => {
                for (w, cat) in [(before, &old_cat), (&after, &new_cat)] {
                    if let Some(z) = w.table::<DnsRecord>().get(&c.key).and_then(|r| cat.find(&r.name)) {
                        touched.insert(z.apex.clone());
                    }
                }
            }
        }
    }
    let t = now();
    for zone in touched {
        if new_cat.get(&zone).is_none() {
            // Gone: its last serial stays, so a zone made again goes on from it.
            continue;
        }
        let old = after.table::<ZoneSerial>().get(&zone).map(|z| z.serial);
        txn.put(ZoneSerial { serial: next(old, t), zone, changed_at: t })?;
    }
    Ok(())
}

pub(crate) fn register(schema: &mut crate::state::Schema) {
    schema.register::<ZoneSerial>().on_commit(derive);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serials_only_go_forward() {
        assert_eq!(next(None, 1_800_000_000), 1_800_000_000);
        assert_eq!(next(Some(1_800_000_000), 1_800_000_000), 1_800_000_001);
        assert_eq!(next(Some(1_800_000_005), 1_800_000_001), 1_800_000_006);
        assert_eq!(next(Some(5), 1_800_000_000), 1_800_000_000);
        assert_eq!(next(Some(u32::MAX), 3), 3);
        assert!(serial_after(1, u32::MAX));
        assert!(!serial_after(7, 7));
    }
}
