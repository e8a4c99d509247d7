//! The in-memory read model: every record, plus the indexes the hot paths
//! need (node by MAC, by address; lease by MAC). Built from persistent
//! (`imbl`) maps, so a writer clones it in O(1), edits the clone, and
//! readers keep a consistent snapshot for as long as they hold it.

use std::net::Ipv4Addr;
use std::sync::Arc;

use imbl::{HashMap, OrdMap, OrdSet};

use super::model::{Bootenv, Lease, Network, Node};
use super::orchestration::{Deployment, NodeRole, NrState, Outcome, Role, Run};
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
    pub(super) roles: OrdMap<String, Arc<Role>>,
    pub(super) deployments: OrdMap<String, Arc<Deployment>>,
    pub(super) noderoles: OrdMap<u64, Arc<NodeRole>>,
    pub(super) runs: OrdMap<u64, Arc<Run>>,
    /// Children of each noderole (the reverse of `parents`).
    pub(super) nr_children: HashMap<u64, OrdSet<u64>>,
    pub(super) nr_by_node: HashMap<String, OrdSet<u64>>,
    pub(super) nr_by_deployment: HashMap<String, OrdSet<u64>>,
    /// (deployment, role, node) -> noderole: one binding each.
    pub(super) nr_binding: HashMap<(String, String, String), u64>,
    /// Noderoles in TODO, in id order: the annealer's candidates.
    pub(super) nr_todo: OrdSet<u64>,
    /// Runs still marked running.
    pub(super) runs_running: OrdSet<u64>,
    /// Where the next static-address search starts, per network.
    pub(super) static_cursor: HashMap<String, Ipv4Addr>,
    pub(super) nr_seq: u64,
    pub(super) run_seq: u64,
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
            roles: OrdMap::new(),
            deployments: OrdMap::new(),
            noderoles: OrdMap::new(),
            runs: OrdMap::new(),
            nr_children: HashMap::new(),
            nr_by_node: HashMap::new(),
            nr_by_deployment: HashMap::new(),
            nr_binding: HashMap::new(),
            nr_todo: OrdSet::new(),
            runs_running: OrdSet::new(),
            static_cursor: HashMap::new(),
            nr_seq: 0,
            run_seq: 0,
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
        self.lease_by_mac.get(&(network.to_string(), *mac)).and_then(|ip| self.leases.get(ip))
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

    /// Where the next static-address search on `network` starts.
    pub fn static_cursor(&self, network: &str) -> Option<Ipv4Addr> {
        self.static_cursor.get(network).copied()
    }

    pub fn role(&self, name: &str) -> Option<&Arc<Role>> {
        self.roles.get(name)
    }

    pub fn roles(&self) -> impl Iterator<Item = &Arc<Role>> {
        self.roles.values()
    }

    pub fn deployment(&self, name: &str) -> Option<&Arc<Deployment>> {
        self.deployments.get(name)
    }

    pub fn deployments(&self) -> impl Iterator<Item = &Arc<Deployment>> {
        self.deployments.values()
    }

    pub fn noderole(&self, id: u64) -> Option<&Arc<NodeRole>> {
        self.noderoles.get(&id)
    }

    pub fn noderoles(&self) -> impl Iterator<Item = &Arc<NodeRole>> {
        self.noderoles.values()
    }

    pub fn noderole_count(&self) -> usize {
        self.noderoles.len()
    }

    /// The noderole binding `role` to `node` in `deployment`.
    pub fn binding(&self, deployment: &str, role: &str, node: &str) -> Option<&Arc<NodeRole>> {
        self.nr_binding
            .get(&(deployment.to_string(), role.to_string(), node.to_string()))
            .and_then(|id| self.noderoles.get(id))
    }

    /// Ids of the noderoles that list `id` as a parent.
    pub fn children_of(&self, id: u64) -> impl Iterator<Item = u64> + '_ {
        self.nr_children.get(&id).into_iter().flat_map(|s| s.iter().copied())
    }

    pub fn noderoles_of_node<'a>(&'a self, node: &str) -> impl Iterator<Item = &'a Arc<NodeRole>> + 'a {
        self.nr_by_node.get(node).into_iter().flat_map(|s| s.iter()).filter_map(|id| self.noderoles.get(id))
    }

    pub fn noderoles_of_deployment<'a>(&'a self, d: &str) -> impl Iterator<Item = &'a Arc<NodeRole>> + 'a {
        self.nr_by_deployment.get(d).into_iter().flat_map(|s| s.iter()).filter_map(|id| self.noderoles.get(id))
    }

    /// Noderoles in TODO, lowest id first.
    pub fn todo(&self) -> impl Iterator<Item = &Arc<NodeRole>> {
        self.nr_todo.iter().filter_map(|id| self.noderoles.get(id))
    }

    pub fn todo_count(&self) -> usize {
        self.nr_todo.len()
    }

    pub fn run(&self, id: u64) -> Option<&Arc<Run>> {
        self.runs.get(&id)
    }

    pub fn runs(&self) -> impl Iterator<Item = &Arc<Run>> {
        self.runs.values()
    }

    /// Runs marked running (in flight, or interrupted by a crash).
    pub fn running_runs(&self) -> impl Iterator<Item = &Arc<Run>> {
        self.runs_running.iter().filter_map(|id| self.runs.get(id))
    }

    pub fn running_count(&self) -> usize {
        self.runs_running.len()
    }

    // ---- index maintenance, used by `Txn` and by loading ----

    pub(super) fn insert_role(&mut self, r: Arc<Role>) {
        self.roles.insert(r.name.clone(), r);
    }

    pub(super) fn insert_deployment(&mut self, d: Arc<Deployment>) {
        self.deployments.insert(d.name.clone(), d);
    }

    pub(super) fn insert_noderole(&mut self, nr: Arc<NodeRole>) {
        let id = nr.id;
        if let Some(old) = self.noderoles.get(&id).cloned() {
            for p in &old.parents {
                if let Some(set) = self.nr_children.get_mut(p) {
                    set.remove(&id);
                }
            }
        }
        for p in &nr.parents {
            self.nr_children.entry(*p).or_default().insert(id);
        }
        self.nr_by_node.entry(nr.node.clone()).or_default().insert(id);
        self.nr_by_deployment.entry(nr.deployment.clone()).or_default().insert(id);
        self.nr_binding.insert((nr.deployment.clone(), nr.role.clone(), nr.node.clone()), id);
        if nr.state == NrState::Todo {
            self.nr_todo.insert(id);
        } else {
            self.nr_todo.remove(&id);
        }
        self.nr_seq = self.nr_seq.max(id);
        self.noderoles.insert(id, nr);
    }

    pub(super) fn remove_noderole(&mut self, id: u64) -> Option<Arc<NodeRole>> {
        let nr = self.noderoles.remove(&id)?;
        for p in &nr.parents {
            if let Some(set) = self.nr_children.get_mut(p) {
                set.remove(&id);
            }
        }
        self.nr_children.remove(&id);
        if let Some(set) = self.nr_by_node.get_mut(&nr.node) {
            set.remove(&id);
        }
        if let Some(set) = self.nr_by_deployment.get_mut(&nr.deployment) {
            set.remove(&id);
        }
        self.nr_binding.remove(&(nr.deployment.clone(), nr.role.clone(), nr.node.clone()));
        self.nr_todo.remove(&id);
        Some(nr)
    }

    pub(super) fn insert_run(&mut self, run: Arc<Run>) {
        if run.outcome == Outcome::Running {
            self.runs_running.insert(run.id);
        } else {
            self.runs_running.remove(&run.id);
        }
        self.run_seq = self.run_seq.max(run.id);
        self.runs.insert(run.id, run);
    }

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
        if let Some(old_ip) = self.lease_by_mac.insert((lease.network.clone(), lease.mac), lease.ip) {
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
