//! A write transaction: typed operations over a private copy of the
//! [`World`] that keep its indexes and invariants (unique names, MACs and
//! addresses) and record what must be persisted and announced. Nothing a
//! `Txn` does is visible to anyone until the writer commits it.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::sync::Arc;

use serde::Serialize;

use super::feed::{Change, Op};
use super::model::{Bootenv, Kind, Lease, Network, Node};
use super::orchestration::{Deployment, NodeRole, Role, Run};
use super::store::Put;
use super::world::World;
use super::StateError;

/// The pending effects of one or more operations.
#[derive(Default)]
pub(super) struct Pending {
    pub(super) puts: BTreeMap<(Kind, String), Put>,
    pub(super) changes: Vec<Change>,
}

/// A write transaction handed to the closure given to
/// [`State::write`](super::State::write).
pub struct Txn<'a> {
    pub(super) world: &'a mut World,
    pub(super) pending: &'a mut Pending,
}

impl Txn<'_> {
    /// The world as this transaction has changed it so far.
    pub fn world(&self) -> &World {
        self.world
    }

    fn record<T: Serialize>(&mut self, kind: Kind, key: String, value: Option<&T>, op: Op) -> Result<(), StateError> {
        let json: Put = match value {
            Some(v) => Some(Arc::from(serde_json::to_string(v).map_err(StateError::store)?)),
            None => None,
        };
        self.pending.changes.push(Change::new(kind, key.clone(), op, json.clone()));
        self.pending.puts.insert((kind, key), json);
        Ok(())
    }

    /// Creates or replaces a network.
    pub fn put_network(&mut self, net: Network) -> Result<Arc<Network>, StateError> {
        let op = if self.world.network(&net.name).is_some() { Op::Updated } else { Op::Created };
        if let Some(other) = self.world.networks().find(|n| {
            n.name != net.name && (n.subnet.contains(&net.subnet.network()) || net.subnet.contains(&n.subnet.network()))
        }) {
            return Err(StateError::conflict(
                "subnet",
                format!("{} overlaps network `{}` ({})", net.subnet, other.name, other.subnet),
            ));
        }
        if let Some(other) = self.world.networks().find(|n| n.name != net.name && n.id == net.id) {
            return Err(StateError::conflict("id", format!("network id {} is used by `{}`", net.id, other.name)));
        }
        self.record(Kind::Network, net.name.clone(), Some(&net), op)?;
        let net = Arc::new(net);
        self.world.insert_network(net.clone());
        Ok(net)
    }

    /// Deletes a network that no node uses.
    pub fn delete_network(&mut self, name: &str) -> Result<Arc<Network>, StateError> {
        if self.world.network(name).is_none() {
            return Err(StateError::not_found(Kind::Network, name));
        }
        if let Some(node) = self.world.nodes().find(|n| n.network.as_deref() == Some(name)) {
            return Err(StateError::conflict("name", format!("network `{name}` is used by node `{}`", node.name)));
        }
        let leases: Vec<Ipv4Addr> = self.world.leases().filter(|l| l.network == name).map(|l| l.ip).collect();
        for ip in leases {
            self.delete_lease(ip)?;
        }
        self.record::<Network>(Kind::Network, name.to_string(), None, Op::Deleted)?;
        self.world.remove_network(name).ok_or_else(|| StateError::not_found(Kind::Network, name))
    }

    /// Creates or replaces a node, refusing a MAC or address another node has.
    pub fn put_node(&mut self, node: Node) -> Result<Arc<Node>, StateError> {
        let op = if self.world.node(&node.name).is_some() { Op::Updated } else { Op::Created };
        for mac in &node.macs {
            if let Some(other) = self.world.node_by_mac(mac) {
                if other.name != node.name {
                    return Err(StateError::conflict("macs", format!("MAC {mac} belongs to node `{}`", other.name)));
                }
            }
        }
        if let Some(ip) = node.ipv4 {
            if let Some(other) = self.world.node_by_ip(ip) {
                if other.name != node.name {
                    return Err(StateError::conflict("address", format!("{ip} belongs to node `{}`", other.name)));
                }
            }
        }
        if self.world.bootenv(&node.bootenv).is_none() {
            return Err(StateError::invalid("bootenv", format!("no bootenv named `{}`", node.bootenv)));
        }
        self.record(Kind::Node, node.name.clone(), Some(&node), op)?;
        let node = Arc::new(node);
        self.world.insert_node(node.clone());
        Ok(node)
    }

    /// Records that `ip` was just allocated on `network`: the next search
    /// starts after it. (In memory only; after a restart the search starts
    /// from the range's beginning once.)
    pub fn advance_static_cursor(&mut self, network: &str, ip: Ipv4Addr) {
        let next = Ipv4Addr::from(u32::from(ip).wrapping_add(1));
        self.world.static_cursor.insert(network.to_string(), next);
    }

    /// Deletes a node and any lease its MACs hold.
    pub fn delete_node(&mut self, name: &str) -> Result<Arc<Node>, StateError> {
        let node = self.world.node(name).cloned().ok_or_else(|| StateError::not_found(Kind::Node, name))?;
        let leases: Vec<Ipv4Addr> = self.world.leases().filter(|l| node.macs.contains(&l.mac)).map(|l| l.ip).collect();
        for ip in leases {
            self.delete_lease(ip)?;
        }
        self.record::<Node>(Kind::Node, name.to_string(), None, Op::Deleted)?;
        self.world.remove_node(name);
        Ok(node)
    }

    /// Creates or replaces a boot environment.
    pub fn put_bootenv(&mut self, env: Bootenv) -> Result<Arc<Bootenv>, StateError> {
        let op = if self.world.bootenv(&env.name).is_some() { Op::Updated } else { Op::Created };
        self.record(Kind::Bootenv, env.name.clone(), Some(&env), op)?;
        let env = Arc::new(env);
        self.world.insert_bootenv(env.clone());
        Ok(env)
    }

    /// Records a lease; the client's previous lease on the same network (if
    /// at another address) is released in the same transaction. Refuses an
    /// address someone else holds.
    pub fn put_lease(&mut self, lease: Lease, now: u64) -> Result<Arc<Lease>, StateError> {
        if self.world.ip_taken_by_other(lease.ip, &lease.mac, now) {
            return Err(StateError::conflict("ip", format!("{} is held by another client", lease.ip)));
        }
        if let Some(prev) = self.world.lease_of(&lease.network, &lease.mac) {
            if prev.ip != lease.ip {
                let ip = prev.ip;
                self.delete_lease(ip)?;
            }
        }
        let op = if self.world.lease(lease.ip).is_some() { Op::Updated } else { Op::Created };
        self.record(Kind::Lease, lease.ip.to_string(), Some(&lease), op)?;
        let lease = Arc::new(lease);
        self.world.insert_lease(lease.clone());
        Ok(lease)
    }

    /// Releases a lease.
    pub fn delete_lease(&mut self, ip: Ipv4Addr) -> Result<Arc<Lease>, StateError> {
        let old = self.world.remove_lease(ip).ok_or_else(|| StateError::not_found(Kind::Lease, &ip.to_string()))?;
        self.record::<Lease>(Kind::Lease, ip.to_string(), None, Op::Deleted)?;
        Ok(old)
    }

    /// Creates or replaces a role.
    pub fn put_role(&mut self, role: Role) -> Result<Arc<Role>, StateError> {
        let op = if self.world.role(&role.name).is_some() { Op::Updated } else { Op::Created };
        self.record(Kind::Role, role.name.clone(), Some(&role), op)?;
        let role = Arc::new(role);
        self.world.insert_role(role.clone());
        Ok(role)
    }

    /// Creates or replaces a deployment; its parent must exist.
    pub fn put_deployment(&mut self, d: Deployment) -> Result<Arc<Deployment>, StateError> {
        if let Some(parent) = &d.parent {
            if self.world.deployment(parent).is_none() {
                return Err(StateError::invalid("parent", format!("no deployment named `{parent}`")));
            }
        }
        let op = if self.world.deployment(&d.name).is_some() { Op::Updated } else { Op::Created };
        self.record(Kind::Deployment, d.name.clone(), Some(&d), op)?;
        let d = Arc::new(d);
        self.world.insert_deployment(d.clone());
        Ok(d)
    }

    /// The id the next new noderole gets.
    pub fn next_noderole_id(&mut self) -> u64 {
        self.world.nr_seq += 1;
        self.world.nr_seq
    }

    /// The id the next new run gets.
    pub fn next_run_id(&mut self) -> u64 {
        self.world.run_seq += 1;
        self.world.run_seq
    }

    /// Creates or replaces a noderole, refusing a second binding of the same
    /// role to the same node in the same deployment, or a dangling reference.
    pub fn put_noderole(&mut self, nr: NodeRole) -> Result<Arc<NodeRole>, StateError> {
        let existing = self.world.noderole(nr.id).cloned();
        if let Some(other) = self.world.binding(&nr.deployment, &nr.role, &nr.node) {
            if other.id != nr.id {
                return Err(StateError::conflict(
                    "role",
                    format!(
                        "role `{}` is already bound to `{}` in `{}` (noderole {})",
                        nr.role, nr.node, nr.deployment, other.id
                    ),
                ));
            }
        }
        if self.world.node(&nr.node).is_none() {
            return Err(StateError::invalid("node", format!("no node named `{}`", nr.node)));
        }
        if self.world.role(&nr.role).is_none() {
            return Err(StateError::invalid("role", format!("no role named `{}`", nr.role)));
        }
        if self.world.deployment(&nr.deployment).is_none() {
            return Err(StateError::invalid("deployment", format!("no deployment named `{}`", nr.deployment)));
        }
        if let Some(p) = nr.parents.iter().find(|p| self.world.noderole(**p).is_none()) {
            return Err(StateError::invalid("parents", format!("no noderole {p}")));
        }
        let op = if existing.is_some() { Op::Updated } else { Op::Created };
        self.record(Kind::NodeRole, noderole_key(nr.id), Some(&nr), op)?;
        let nr = Arc::new(nr);
        self.world.insert_noderole(nr.clone());
        Ok(nr)
    }

    /// Deletes a noderole that nothing depends on.
    pub fn delete_noderole(&mut self, id: u64) -> Result<Arc<NodeRole>, StateError> {
        if let Some(child) = self.world.children_of(id).next() {
            return Err(StateError::conflict("id", format!("noderole {id} is a parent of noderole {child}")));
        }
        self.record::<NodeRole>(Kind::NodeRole, noderole_key(id), None, Op::Deleted)?;
        self.world.remove_noderole(id).ok_or_else(|| StateError::not_found(Kind::NodeRole, &id.to_string()))
    }

    /// Creates or replaces a run record.
    pub fn put_run(&mut self, run: Run) -> Result<Arc<Run>, StateError> {
        let op = if self.world.run(run.id).is_some() { Op::Updated } else { Op::Created };
        self.record(Kind::Run, noderole_key(run.id), Some(&run), op)?;
        let run = Arc::new(run);
        self.world.insert_run(run.clone());
        Ok(run)
    }
}

/// Store key of a numbered record: zero-padded, so keys sort by number.
pub fn noderole_key(id: u64) -> String {
    format!("{id:020}")
}
