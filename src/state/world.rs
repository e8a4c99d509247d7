//! The in-memory read model: every record, plus the indexes the hot paths
//! need (node by MAC, by address; lease by MAC). Built from persistent
//! (`imbl`) maps, so a writer clones it in O(1), edits the clone, and
//! readers keep a consistent snapshot for as long as they hold it.

use std::net::Ipv4Addr;
use std::sync::Arc;

use imbl::{HashMap, OrdMap};

use super::model::{Bootenv, Lease, Network, Node};
use crate::net::mac::Mac;
use crate::net::ula::GlobalId;

/// One consistent view of all state. Cheap to clone.
#[derive(Clone, Debug)]
pub struct World {
    pub(super) global_id: GlobalId,
    pub(super) networks: OrdMap<String, Arc<Network>>,
    pub(super) nodes: OrdMap<String, Arc<Node>>,
    pub(super) bootenvs: OrdMap<String, Arc<Bootenv>>,
    pub(super) leases: OrdMap<Ipv4Addr, Arc<Lease>>,
    pub(super) node_by_mac: HashMap<Mac, String>,
    pub(super) node_by_ip: HashMap<Ipv4Addr, String>,
    pub(super) lease_by_mac: HashMap<(String, Mac), Ipv4Addr>,
    /// Bumped on every committed batch; lets readers tell snapshots apart.
    pub(super) version: u64,
}

impl World {
    pub(super) fn empty(global_id: GlobalId) -> World {
        World {
            global_id,
            networks: OrdMap::new(),
            nodes: OrdMap::new(),
            bootenvs: OrdMap::new(),
            leases: OrdMap::new(),
            node_by_mac: HashMap::new(),
            node_by_ip: HashMap::new(),
            lease_by_mac: HashMap::new(),
            version: 0,
        }
    }

    /// The cluster's RFC 4193 Global ID.
    pub fn global_id(&self) -> GlobalId {
        self.global_id
    }

    /// The commit counter of this snapshot.
    pub fn version(&self) -> u64 {
        self.version
    }

    pub fn network(&self, name: &str) -> Option<&Arc<Network>> {
        self.networks.get(name)
    }

    pub fn networks(&self) -> impl Iterator<Item = &Arc<Network>> {
        self.networks.values()
    }

    /// The network whose subnet holds `ip`.
    pub fn network_containing(&self, ip: Ipv4Addr) -> Option<&Arc<Network>> {
        self.networks.values().find(|n| n.subnet.contains(&ip))
    }

    pub fn node(&self, name: &str) -> Option<&Arc<Node>> {
        self.nodes.get(name)
    }

    pub fn nodes(&self) -> impl Iterator<Item = &Arc<Node>> {
        self.nodes.values()
    }

    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    pub fn node_by_mac(&self, mac: &Mac) -> Option<&Arc<Node>> {
        self.node_by_mac.get(mac).and_then(|n| self.nodes.get(n))
    }

    pub fn node_by_ip(&self, ip: Ipv4Addr) -> Option<&Arc<Node>> {
        self.node_by_ip.get(&ip).and_then(|n| self.nodes.get(n))
    }

    pub fn bootenv(&self, name: &str) -> Option<&Arc<Bootenv>> {
        self.bootenvs.get(name)
    }

    pub fn bootenvs(&self) -> impl Iterator<Item = &Arc<Bootenv>> {
        self.bootenvs.values()
    }

    pub fn lease(&self, ip: Ipv4Addr) -> Option<&Arc<Lease>> {
        self.leases.get(&ip)
    }

    pub fn leases(&self) -> impl Iterator<Item = &Arc<Lease>> {
        self.leases.values()
    }

    /// The lease `mac` holds on `network`, expired or not.
    pub fn lease_of(&self, network: &str, mac: &Mac) -> Option<&Arc<Lease>> {
        self.lease_by_mac
            .get(&(network.to_string(), *mac))
            .and_then(|ip| self.leases.get(ip))
    }

    /// Whether `ip` is spoken for: a node's static address or another
    /// client's unexpired lease.
    pub fn ip_taken_by_other(&self, ip: Ipv4Addr, mac: &Mac, now: u64) -> bool {
        if let Some(node) = self.node_by_ip(ip) {
            if !node.macs.contains(mac) {
                return true;
            }
        }
        matches!(self.leases.get(&ip), Some(l) if l.mac != *mac && l.expires_at > now)
    }

    // ---- index maintenance, used by `Txn` and by loading ----

    pub(super) fn insert_network(&mut self, n: Arc<Network>) {
        self.networks.insert(n.name.clone(), n);
    }

    pub(super) fn remove_network(&mut self, name: &str) -> Option<Arc<Network>> {
        self.networks.remove(name)
    }

    pub(super) fn insert_bootenv(&mut self, b: Arc<Bootenv>) {
        self.bootenvs.insert(b.name.clone(), b);
    }

    pub(super) fn insert_node(&mut self, node: Arc<Node>) {
        self.remove_node(&node.name);
        for mac in &node.macs {
            self.node_by_mac.insert(*mac, node.name.clone());
        }
        if let Some(ip) = node.ipv4 {
            self.node_by_ip.insert(ip, node.name.clone());
        }
        self.nodes.insert(node.name.clone(), node);
    }

    pub(super) fn remove_node(&mut self, name: &str) -> Option<Arc<Node>> {
        let old = self.nodes.remove(name)?;
        for mac in &old.macs {
            self.node_by_mac.remove(mac);
        }
        if let Some(ip) = old.ipv4 {
            self.node_by_ip.remove(&ip);
        }
        Some(old)
    }

    pub(super) fn insert_lease(&mut self, lease: Arc<Lease>) {
        self.remove_lease(lease.ip);
        if let Some(old_ip) = self
            .lease_by_mac
            .insert((lease.network.clone(), lease.mac), lease.ip)
        {
            if old_ip != lease.ip {
                self.leases.remove(&old_ip);
            }
        }
        self.leases.insert(lease.ip, lease);
    }

    pub(super) fn remove_lease(&mut self, ip: Ipv4Addr) -> Option<Arc<Lease>> {
        let old = self.leases.remove(&ip)?;
        let key = (old.network.clone(), old.mac);
        if self.lease_by_mac.get(&key) == Some(&ip) {
            self.lease_by_mac.remove(&key);
        }
        Some(old)
    }
}
