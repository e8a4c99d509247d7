//! DHCPv4 leases: the record (one address held by one client on one
//! network), the index by client, the operations the server commits (a
//! lease, a release, a decline's quarantine), and what happens to leases
//! when the node or network they belong to is deleted (registered as
//! cascades, so the inventory need not know leases exist).

use std::net::Ipv4Addr;
use std::sync::Arc;

use imbl::{HashMap, OrdMap};
use serde::{Deserialize, Serialize};

use crate::inventory::network::Network;
use crate::inventory::node::Node;
use crate::state::{record, Index, Schema, StateError, Table, Txn, World};
use crate::types::mac::Mac;

/// The MAC that holds quarantined (declined) addresses.
pub(crate) const DECLINED: Mac = Mac([0; 6]);

/// A DHCPv4 lease.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Lease {
    pub(crate) ip: Ipv4Addr,
    pub(crate) mac: Mac,
    pub(crate) network: String,
    pub(crate) hostname: Option<String>,
    /// Unix seconds.
    pub(crate) expires_at: u64,
}

/// Lease by client: MAC, then network.
#[derive(Clone, Default)]
pub(crate) struct LeaseIndex {
    by_client: HashMap<Mac, OrdMap<String, Ipv4Addr>>,
}

impl Index<Lease> for LeaseIndex {
    fn inserted(&mut self, old: Option<&Lease>, new: &Lease) {
        if let Some(old) = old {
            self.removed(old);
        }
        self.by_client.entry(new.mac).or_default().insert(new.network.clone(), new.ip);
    }

    fn removed(&mut self, old: &Lease) {
        if let Some(nets) = self.by_client.get_mut(&old.mac) {
            if nets.get(&old.network) == Some(&old.ip) {
                nets.remove(&old.network);
            }
            if nets.is_empty() {
                self.by_client.remove(&old.mac);
            }
        }
    }
}

record!(Lease, kind = "lease", table = "leases", key = ip: Ipv4Addr, index = LeaseIndex);

impl Table<Lease> {
    /// The lease `mac` holds on `network`, expired or not.
    pub(crate) fn of(&self, network: &str, mac: &Mac) -> Option<&Arc<Lease>> {
        self.index().by_client.get(mac).and_then(|nets| nets.get(network)).and_then(|ip| self.get(ip))
    }

    /// Every lease `mac` holds, on any network.
    fn all_of<'a>(&'a self, mac: &Mac) -> impl Iterator<Item = Ipv4Addr> + 'a {
        self.index().by_client.get(mac).into_iter().flat_map(|nets| nets.values().copied())
    }
}

/// A lease the transaction refused.
#[derive(Debug, thiserror::Error)]
pub(crate) enum LeaseError {
    /// Someone else holds the address (a node's static address, or an
    /// unexpired lease of another client).
    #[error("{0} is held by another client")]
    Taken(Ipv4Addr),
    #[error(transparent)]
    State(#[from] StateError),
}

/// Whether `ip` is spoken for by someone other than `mac`: a node's static
/// address, or another client's unexpired lease.
pub(crate) fn taken_by_other(w: &World, ip: Ipv4Addr, mac: &Mac, now: u64) -> bool {
    if w.table::<Node>().by_ip(ip).is_some_and(|n| !n.macs.contains(mac)) {
        return true;
    }
    matches!(w.table::<Lease>().get(&ip), Some(l) if l.mac != *mac && l.expires_at > now)
}

/// Whether `ip` is held by an unexpired lease.
pub(crate) fn leased(w: &World, ip: Ipv4Addr, now: u64) -> bool {
    matches!(w.table::<Lease>().get(&ip), Some(l) if l.expires_at > now)
}

/// Records a lease; the client's previous lease on the same network (at
/// another address) is released in the same transaction.
pub(crate) fn put(txn: &mut Txn<'_>, lease: Lease, now: u64) -> Result<Arc<Lease>, LeaseError> {
    if taken_by_other(txn.world(), lease.ip, &lease.mac, now) {
        return Err(LeaseError::Taken(lease.ip));
    }
    if let Some(prev) = txn.world().table::<Lease>().of(&lease.network, &lease.mac).map(|l| l.ip) {
        if prev != lease.ip {
            txn.delete::<Lease, _>(&prev)?;
        }
    }
    Ok(txn.put(lease)?)
}

/// The client gave its address back.
pub(crate) fn release(txn: &mut Txn<'_>, ip: Ipv4Addr, mac: Mac) -> Result<(), LeaseError> {
    if txn.world().table::<Lease>().get(&ip).is_some_and(|l| l.mac == mac) {
        txn.delete::<Lease, _>(&ip)?;
    }
    Ok(())
}

/// The client found `ip` in use: nobody gets it until `until`.
pub(crate) fn quarantine(txn: &mut Txn<'_>, ip: Ipv4Addr, network: String, until: u64) -> Result<(), LeaseError> {
    txn.delete::<Lease, _>(&ip)?;
    txn.put(Lease { ip, mac: DECLINED, network, hostname: None, expires_at: until })?;
    Ok(())
}

/// A deleted node's leases go with it: those of its MACs, and any at its
/// static address.
fn node_deleted(txn: &mut Txn<'_>, node: &Node) -> Result<(), StateError> {
    let leases = txn.world().table::<Lease>();
    let mut ips: Vec<Ipv4Addr> = node.macs.iter().flat_map(|m| leases.all_of(m)).collect();
    ips.extend(node.ipv4.filter(|ip| leases.contains(ip)));
    for ip in ips {
        txn.delete::<Lease, _>(&ip)?;
    }
    Ok(())
}

/// A deleted network's leases go with it.
fn network_deleted(txn: &mut Txn<'_>, net: &Network) -> Result<(), StateError> {
    let ips: Vec<Ipv4Addr> =
        txn.world().table::<Lease>().iter().filter(|l| l.network == net.name).map(|l| l.ip).collect();
    for ip in ips {
        txn.delete::<Lease, _>(&ip)?;
    }
    Ok(())
}

/// Registers leases and their cascades.
pub(crate) fn register(schema: &mut Schema) {
    schema.register::<Lease>().on_delete::<Node>(node_deleted).on_delete::<Network>(network_deleted);
}
