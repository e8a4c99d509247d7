//! DHCPv6 leases: the record (one address of one identity association,
//! DUID and IAID, on one network), the index by identity association,
//! the operations the DHCPv6 server commits (a binding, a release, a
//! decline's quarantine), and the cascades that keep leases in step with
//! nodes and networks (deleted with them; a renamed node's leases go too,
//! its address being its name's).

use std::net::Ipv6Addr;
use std::sync::Arc;

use imbl::{HashMap, OrdMap};
use serde::{Deserialize, Serialize};

use super::duid::{Duid, NodeDuid};
use crate::inventory::network::Network;
use crate::inventory::node::Node;
use crate::state::{Index, Record, Schema, StateError, StoreKey, Table, Txn, World};
use crate::types::port::SwitchPort;
use crate::types::time::now_us;

/// A DHCPv6 lease (IA_NA address).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Lease6 {
    pub(crate) addr: Ipv6Addr,
    /// `None`: quarantined after a DECLINE, held by nobody.
    pub(crate) duid: Option<Duid>,
    pub(crate) iaid: u32,
    pub(crate) network: String,
    /// The node the client was recognised as, if any.
    pub(crate) node: Option<String>,
    /// The switch port the relay next to the client named, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) port: Option<SwitchPort>,
    /// Unix seconds.
    pub(crate) expires_at: u64,
    /// When the lease was last written, in Unix microseconds: the order of
    /// its row in the store ([`Record::row_key`]). 0 in leases written
    /// before it was kept.
    #[serde(default)]
    pub(crate) written_us: u64,
}

/// An identity association on a network: what a lease is held by.
/// Ordered by DUID first: a delivery of machines, or perfdhcp, has DUIDs
/// close together, whose entries share a few leaves of the index.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct Holder {
    duid: Duid,
    iaid: u32,
    network: Arc<str>,
}

/// Lease by identity association, and how many leases of clients that
/// are no node each network holds (the cap on strangers counts these).
/// Network names are shared, one allocation per network, not one per
/// lease or per lookup. The leases by holder are an ordered map (a
/// B-tree), not a hash trie: as for DHCPv4's index (`dhcp::lease`), a fold
/// of bindings whose DUIDs are close copies a few leaves, where a trie
/// copied a path for each (BENCHMARKS.md, "DHCPv6").
#[derive(Clone, Default)]
pub(crate) struct Lease6Index {
    by_holder: OrdMap<Holder, Ipv6Addr>,
    strangers: HashMap<Arc<str>, u32>,
    /// One per network: few, searched in order.
    names: Vec<Arc<str>>,
}

impl Lease6Index {
    /// The shared copy of a network's name (kept while the process runs:
    /// one per network ever leased on).
    fn name(&mut self, network: &str) -> Arc<str> {
        if let Some(n) = self.shared(network) {
            return n;
        }
        let n: Arc<str> = Arc::from(network);
        self.names.push(n.clone());
        n
    }

    /// The shared copy, if a lease was ever held on `network`.
    fn shared(&self, network: &str) -> Option<Arc<str>> {
        self.names.iter().find(|n| ***n == *network).cloned()
    }

    fn holder(&mut self, l: &Lease6) -> Option<Holder> {
        let duid = l.duid.clone()?;
        Some(Holder { duid, iaid: l.iaid, network: self.name(&l.network) })
    }
}

/// A lease of no node: a stranger's, or a quarantined address.
fn is_stranger(l: &Lease6) -> bool {
    l.node.is_none()
}

impl Index<Lease6> for Lease6Index {
    fn inserted(&mut self, old: Option<&Lease6>, new: &Lease6) {
        if let Some(old) = old {
            self.removed(old);
        }
        if let Some(h) = self.holder(new) {
            self.by_holder.insert(h, new.addr);
        }
        if is_stranger(new) {
            let net = self.name(&new.network);
            *self.strangers.entry(net).or_insert(0) += 1;
        }
    }

    fn removed(&mut self, old: &Lease6) {
        if let Some(h) = self.holder(old) {
            if self.by_holder.get(&h) == Some(&old.addr) {
                self.by_holder.remove(&h);
            }
        }
        if is_stranger(old) {
            let net = self.name(&old.network);
            match self.strangers.get(&net).copied() {
                Some(n) if n > 1 => {
                    self.strangers.insert(net, n - 1);
                }
                _ => {
                    self.strangers.remove(&net);
                }
            }
        }
    }
}

impl Record for Lease6 {
    const KIND: &'static str = "lease6";
    const TABLE: &'static str = "leases6";
    type Key = Ipv6Addr;
    type Index = Lease6Index;
    fn key(&self) -> Ipv6Addr {
        self.addr
    }
    /// Write time, then address: a fold of new bindings (their addresses
    /// hashed from DUIDs, so in no order) is appended to the store's last
    /// pages. A rewritten lease moves to the end.
    fn row_key(&self) -> String {
        format!("{:020}/{}", self.written_us, self.addr.store_key())
    }
}

impl Table<Lease6> {
    /// The lease of identity association (`duid`, `iaid`) on `network`.
    pub(crate) fn of(&self, network: &str, duid: &Duid, iaid: u32) -> Option<&Arc<Lease6>> {
        let h = Holder { duid: duid.clone(), iaid, network: self.index().shared(network)? };
        self.index().by_holder.get(&h).and_then(|a| self.get(a))
    }
}

impl Table<Lease6> {
    /// How many leases clients that are no node hold on `network`,
    /// expired ones included until they are reaped.
    pub(crate) fn strangers_on(&self, network: &str) -> u32 {
        self.index().strangers.get(network).copied().unwrap_or(0)
    }
}

/// Deletes up to `limit` leases that expired before `before` (quarantined
/// ones too, their time being up); returns how many.
pub(crate) fn reap(txn: &mut Txn<'_>, before: u64, limit: usize) -> Result<usize, StateError> {
    let gone: Vec<Ipv6Addr> =
        txn.world().table::<Lease6>().iter().filter(|l| l.expires_at < before).map(|l| l.addr).take(limit).collect();
    for a in &gone {
        txn.delete::<Lease6, _>(a)?;
    }
    Ok(gone.len())
}

/// The most DUIDs recorded for one node.
pub(crate) const MAX_NODE_DUIDS: usize = 16;

/// Whether `addr` is held by an unexpired lease of another identity
/// association (or is quarantined).
pub(crate) fn taken_by_other(w: &World, addr: Ipv6Addr, duid: &Duid, iaid: u32, now: u64) -> bool {
    matches!(w.table::<Lease6>().get(&addr),
        Some(l) if l.expires_at > now && (l.duid.as_ref() != Some(duid) || l.iaid != iaid))
}

/// A lease the transaction refused.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Lease6Error {
    #[error("{0} is held by another client")]
    Taken(Ipv6Addr),
    #[error(transparent)]
    State(#[from] StateError),
}

/// Records the leases of one reply in one transaction; an identity
/// association's earlier lease at another address on the same network
/// is released with it, and a lease of a recognised node records the
/// client's DUID for that node. All or nothing: one taken address
/// refuses them all, and a refusal comes before anything is changed (so
/// that bindings folded into one operation are kept or refused each on
/// its own: `dhcp::fold`).
pub(crate) fn bind(txn: &mut Txn<'_>, leases: Vec<Lease6>, now: u64, cap: u32) -> Result<(), Lease6Error> {
    check_bind(txn.world(), &leases, now, cap)?;
    let written_us = now_us();
    for lease in leases {
        let Some(duid) = lease.duid.clone() else { continue };
        let prev = txn.world().table::<Lease6>().of(&lease.network, &duid, lease.iaid).map(|l| l.addr);
        if let Some(prev) = prev.filter(|p| *p != lease.addr) {
            txn.delete::<Lease6, _>(&prev)?;
        }
        if let Some(node) = lease.node.as_ref().filter(|_| duid.is_distinctive()) {
            let duids = txn.world().table::<NodeDuid>();
            let known = duids.get(&duid).is_some_and(|r| &r.node == node);
            if !known {
                // At most MAX_NODE_DUIDS per node: the one seen longest ago goes.
                let held = duids.of_node(node);
                if held.len() >= MAX_NODE_DUIDS {
                    let oldest =
                        held.iter().filter_map(|d| duids.get(d)).min_by_key(|r| r.seen_at).map(|r| r.duid.clone());
                    if let Some(old) = oldest {
                        txn.delete::<NodeDuid, _>(&old)?;
                    }
                }
                txn.put(NodeDuid { duid: duid.clone(), node: node.clone(), seen_at: now })?;
            }
        }
        txn.put(Lease6 { written_us, ..lease })?;
    }
    Ok(())
}

/// Whether [`bind`] may record `leases` (the addresses of one reply, each
/// different: the handler never gives one twice): none held by another
/// identity association, and the network's cap on strangers kept.
fn check_bind(w: &World, leases: &[Lease6], now: u64, cap: u32) -> Result<(), Lease6Error> {
    let table = w.table::<Lease6>();
    // The new strangers' leases this reply adds, per network.
    let mut added: Vec<(&str, u32)> = Vec::new();
    for lease in leases {
        let Some(duid) = &lease.duid else { continue };
        // A node's own address moves between the node's DUIDs.
        let same_node = lease.node.is_some() && table.get(&lease.addr).is_some_and(|l| l.node == lease.node);
        if !same_node && taken_by_other(w, lease.addr, duid, lease.iaid, now) {
            return Err(Lease6Error::Taken(lease.addr));
        }
        // The cap on strangers holds at commit too (the decision saw a snapshot).
        let renewing = table.of(&lease.network, duid, lease.iaid).is_some();
        if lease.node.is_none() && !renewing {
            let i = match added.iter().position(|(net, _)| *net == lease.network) {
                Some(i) => i,
                None => {
                    added.push((&lease.network, 0));
                    added.len() - 1
                }
            };
            if table.strangers_on(&lease.network).saturating_add(added[i].1) >= cap {
                return Err(Lease6Error::Taken(lease.addr));
            }
            added[i].1 += 1;
        }
    }
    Ok(())
}

/// The client gave these addresses back (only its own are dropped).
pub(crate) fn release(txn: &mut Txn<'_>, addrs: &[Ipv6Addr], duid: &Duid, iaid: u32) -> Result<(), StateError> {
    for a in addrs {
        let own = txn.world().table::<Lease6>().get(a).is_some_and(|l| l.duid.as_ref() == Some(duid) && l.iaid == iaid);
        if own {
            txn.delete::<Lease6, _>(a)?;
        }
    }
    Ok(())
}

/// The client found these addresses in use: nobody gets them until
/// `until`. Only the decliner's own leases are quarantined.
pub(crate) fn quarantine(
    txn: &mut Txn<'_>,
    addrs: &[Ipv6Addr],
    duid: &Duid,
    iaid: u32,
    until: u64,
) -> Result<(), StateError> {
    for a in addrs {
        let Some(l) = txn.world().table::<Lease6>().get(a).cloned() else { continue };
        if l.duid.as_ref() == Some(duid) && l.iaid == iaid {
            txn.put(Lease6 {
                duid: None,
                node: None,
                port: None,
                expires_at: until,
                written_us: now_us(),
                ..(*l).clone()
            })?;
        }
    }
    Ok(())
}

fn node_deleted(txn: &mut Txn<'_>, node: &Node) -> Result<(), StateError> {
    let addrs: Vec<Ipv6Addr> = txn
        .world()
        .table::<Lease6>()
        .iter()
        .filter(|l| l.node.as_deref() == Some(node.name.as_str()))
        .map(|l| l.addr)
        .collect();
    for a in addrs {
        txn.delete::<Lease6, _>(&a)?;
    }
    Ok(())
}

/// A renamed node's address changes with its name (the md5 tail): its
/// leases go, and its next request binds the new address.
fn node_renamed(txn: &mut Txn<'_>, old: &Node, _new: &Node) -> Result<(), StateError> {
    node_deleted(txn, old)
}

fn network_deleted(txn: &mut Txn<'_>, net: &Network) -> Result<(), StateError> {
    let addrs: Vec<Ipv6Addr> =
        txn.world().table::<Lease6>().iter().filter(|l| l.network == net.name).map(|l| l.addr).collect();
    for a in addrs {
        txn.delete::<Lease6, _>(&a)?;
    }
    Ok(())
}

/// Registers DHCPv6 leases and their cascades.
pub(crate) fn register(schema: &mut Schema) {
    schema
        .register::<Lease6>()
        .on_delete::<Node>(node_deleted)
        .on_delete::<Network>(network_deleted)
        .on_rekey::<Node>(node_renamed);
}
