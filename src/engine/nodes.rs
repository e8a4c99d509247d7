//! Node operations: registration (with its static IPv4 address allocated in
//! the same transaction), updates, bootenv changes, discovery and the
//! provisioning verbs.

use std::net::Ipv4Addr;
use std::sync::Arc;

use serde::Deserialize;

use super::hooks::{self, Effects, NodeEvent};
use super::Engine;
use crate::net::alloc;
use crate::net::mac::Mac;
use crate::power::PowerSpec;
use crate::state::lifecycle::{ProvisionState, Verb};
use crate::state::model::{now, Kind, Network, Node};
use crate::state::{StateError, Txn, World};

/// A request to register a node.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewNode {
    pub name: String,
    pub macs: Vec<Mac>,
    #[serde(default)]
    pub bootenv: Option<String>,
    /// Network to take the address from; by default the network whose
    /// domain the name is in, or the only network.
    #[serde(default)]
    pub network: Option<String>,
    /// A chosen static address instead of the next free one.
    #[serde(default)]
    pub address: Option<Ipv4Addr>,
    #[serde(default)]
    pub available: Option<bool>,
    #[serde(default)]
    pub power: Option<PowerSpec>,
}

/// Fields a PATCH may change.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodePatch {
    #[serde(default)]
    pub alive: Option<bool>,
    #[serde(default)]
    pub available: Option<bool>,
    #[serde(default)]
    pub bootenv: Option<String>,
    #[serde(default)]
    pub macs: Option<Vec<Mac>>,
    #[serde(default)]
    pub power: Option<PowerSpec>,
}

/// A fresh random node token (128 bits, hex).
fn new_token() -> String {
    (0..16).map(|_| format!("{:02x}", rand::random::<u8>())).collect()
}

/// Checks a fully qualified node name: lower-case letters, digits and
/// hyphens, at least two labels, as DNS allows.
pub fn validate_fqdn(name: &str) -> Result<(), StateError> {
    let bad = |why: &str| StateError::invalid("name", format!("`{name}` is not a valid FQDN: {why}"));
    if name.is_empty() || name.len() > 253 {
        return Err(bad("length must be 1..=253"));
    }
    if name != name.to_ascii_lowercase() {
        return Err(bad("must be lower-case"));
    }
    let labels: Vec<&str> = name.split('.').collect();
    if labels.len() < 2 {
        return Err(bad("needs a domain (at least two labels)"));
    }
    for label in labels {
        if label.is_empty() || label.len() > 63 {
            return Err(bad("each label must be 1..=63 characters"));
        }
        if !label.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-') {
            return Err(bad("only a-z, 0-9 and '-' are allowed"));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(bad("a label may not start or end with '-'"));
        }
    }
    Ok(())
}

/// The network a node named `name` belongs on.
fn pick_network<'w>(
    world: &'w World,
    name: &str,
    explicit: Option<&str>,
) -> Result<Option<&'w Arc<Network>>, StateError> {
    if let Some(net) = explicit {
        return world
            .network(net)
            .map(Some)
            .ok_or_else(|| StateError::invalid("network", format!("no network named `{net}`")));
    }
    let by_domain = world
        .networks()
        .filter(|n| name.strip_suffix(n.domain.as_str()).is_some_and(|host| host.ends_with('.')))
        .max_by_key(|n| n.domain.len());
    if by_domain.is_some() {
        return Ok(by_domain);
    }
    let mut all = world.networks();
    match (all.next(), all.next()) {
        (Some(only), None) => Ok(Some(only)),
        _ => Ok(None),
    }
}

/// Registers a node inside `txn`: address allocation and uniqueness checks
/// happen against the transaction's own view, so two concurrent
/// registrations can never get the same address.
pub fn create_in(
    txn: &mut Txn<'_>,
    req: NewNode,
    default_bootenv: &str,
    effects: &mut Effects,
) -> Result<Arc<Node>, StateError> {
    validate_fqdn(&req.name)?;
    if req.macs.is_empty() {
        return Err(StateError::invalid("macs", "at least one MAC address is required"));
    }
    if txn.world().node(&req.name).is_some() {
        return Err(StateError::conflict("name", format!("node `{}` already exists", req.name)));
    }
    let now = now();
    let net = pick_network(txn.world(), &req.name, req.network.as_deref())?.cloned();
    let ipv4 = match (&net, req.address) {
        (Some(net), Some(ip)) => {
            if !net.static_range.contains(ip) || !alloc::assignable(net, ip) {
                return Err(StateError::invalid(
                    "address",
                    format!(
                        "{ip} is not in network `{}`'s static range {}-{}",
                        net.name, net.static_range.start, net.static_range.end
                    ),
                ));
            }
            Some(ip)
        }
        (None, Some(_)) => return Err(StateError::invalid("address", "an address needs a network")),
        (Some(net), None) => {
            let ip = alloc::next_static(txn.world(), net, now).ok_or_else(|| {
                StateError::conflict("network", format!("network `{}` has no free static address", net.name))
            })?;
            txn.advance_static_cursor(&net.name, ip);
            Some(ip)
        }
        (None, None) => None,
    };
    let node = Node {
        name: req.name,
        macs: req.macs,
        network: net.map(|n| n.name.clone()),
        ipv4,
        bootenv: req.bootenv.unwrap_or_else(|| default_bootenv.to_string()),
        alive: false,
        available: req.available.unwrap_or(true),
        provision_state: ProvisionState::Enroll,
        power: req.power,
        token: new_token(),
        created_at: now,
        updated_at: now,
    };
    let node = txn.put_node(node)?;
    hooks::node_event(txn, NodeEvent::Created, &node.name, effects)?;
    Ok(txn.world().node(&node.name).cloned().unwrap_or(node))
}

fn existing(txn: &Txn<'_>, name: &str) -> Result<Node, StateError> {
    txn.world().node(name).map(|n| (**n).clone()).ok_or_else(|| StateError::not_found(Kind::Node, name))
}

impl Engine {
    /// Registers a node; discovery roles are bound to it and node hooks run
    /// in the same transaction.
    pub async fn create_node(&self, req: NewNode) -> Result<Arc<Node>, StateError> {
        let default = self.config.boot.default_bootenv.clone();
        self.write(move |txn, fx| create_in(txn, req, &default, fx)).await
    }

    /// Applies a PATCH. A node that stops being alive takes its noderoles
    /// back to TODO/BLOCKED in the same transaction.
    pub async fn update_node(&self, name: String, patch: NodePatch) -> Result<Arc<Node>, StateError> {
        self.write(move |txn, fx| {
            let mut node = existing(txn, &name)?;
            if let Some(available) = patch.available {
                node.available = available;
            }
            if let Some(env) = patch.bootenv {
                node.bootenv = env;
            }
            if let Some(macs) = patch.macs {
                if macs.is_empty() {
                    return Err(StateError::invalid("macs", "at least one MAC address is required"));
                }
                node.macs = macs;
            }
            if patch.power.is_some() {
                node.power = patch.power;
            }
            node.updated_at = now();
            let node = txn.put_node(node)?;
            if let Some(alive) = patch.alive {
                hooks::set_alive(txn, (*node).clone(), alive, fx)?;
            }
            hooks::node_event(txn, NodeEvent::Changed, &name, fx)?;
            txn.world().node(&name).cloned().ok_or_else(|| StateError::not_found(Kind::Node, &name))
        })
        .await
    }

    /// Sets the bootenv the node's next network boot runs. When this
    /// returns, every DHCP, TFTP and HTTP answer already reflects it.
    pub async fn set_bootenv(&self, name: String, bootenv: String) -> Result<Arc<Node>, StateError> {
        self.write(move |txn, fx| {
            let mut node = existing(txn, &name)?;
            node.bootenv = bootenv;
            node.updated_at = now();
            txn.put_node(node)?;
            hooks::node_event(txn, NodeEvent::Changed, &name, fx)?;
            txn.world().node(&name).cloned().ok_or_else(|| StateError::not_found(Kind::Node, &name))
        })
        .await
    }

    /// Deletes a node, its noderoles and its leases. Refused while another
    /// node's noderoles depend on one of its noderoles, or one is running.
    pub async fn delete_node(&self, name: String) -> Result<Arc<Node>, StateError> {
        self.write(move |txn, fx| {
            hooks::node_event(txn, NodeEvent::Deleted, &name, fx)?;
            let mut ids: Vec<u64> = txn.world().noderoles_of_node(&name).map(|n| n.id).collect();
            for id in &ids {
                if let Some(child) = txn.world().children_of(*id).find(|c| !ids.contains(c)) {
                    return Err(StateError::conflict(
                        "name",
                        format!("noderole {child} depends on noderole {id} of this node"),
                    ));
                }
                if txn
                    .world()
                    .noderole(*id)
                    .is_some_and(|n| n.state == crate::state::orchestration::NrState::Transition)
                {
                    return Err(StateError::conflict("name", format!("noderole {id} of this node is running")));
                }
            }
            // Children before parents.
            ids.sort_unstable_by(|a, b| b.cmp(a));
            for id in ids {
                txn.delete_noderole(id)?;
            }
            txn.delete_node(&name)
        })
        .await
    }

    /// Moves a node through the provisioning state machine.
    pub async fn provision(&self, name: String, verb: Verb) -> Result<Arc<Node>, StateError> {
        self.write(move |txn, _| {
            let mut node = existing(txn, &name)?;
            let to = node.provision_state.apply(verb).map_err(|e| StateError::conflict("target", e.to_string()))?;
            node.provision_state = to;
            // Credential validation: a node with a power driver has what
            // `manage` checks; one without is accepted as manually managed.
            if to == ProvisionState::Verifying {
                node.provision_state =
                    to.apply(Verb::Done).map_err(|e| StateError::conflict("target", e.to_string()))?;
            }
            node.updated_at = now();
            txn.put_node(node)
        })
        .await
    }

    /// A node reports in with its token: it is alive.
    pub async fn report_alive(&self, name: String, token: String) -> Result<Arc<Node>, StateError> {
        self.write(move |txn, fx| {
            let node = existing(txn, &name)?;
            if node.token.is_empty() || node.token != token {
                return Err(StateError::conflict("token", "the node token does not match"));
            }
            hooks::set_alive(txn, node, true, fx)
        })
        .await
    }

    /// A machine running the discovery image reports in: returns its node,
    /// registering `d<mac>.<domain>` on the network of `source` if the MAC
    /// is new, and marks it alive. Idempotent.
    pub async fn discover(&self, mac: Mac, source: Option<Ipv4Addr>) -> Result<(Arc<Node>, bool), StateError> {
        let bootenv = self.config.boot.discovery_bootenv.clone();
        self.write(move |txn, fx| {
            if let Some(node) = txn.world().node_by_mac(&mac) {
                let node = (**node).clone();
                return Ok((hooks::set_alive(txn, node, true, fx)?, false));
            }
            let world = txn.world();
            let net = source
                .and_then(|ip| world.network_containing(ip))
                .or_else(|| {
                    let mut all = world.networks();
                    match (all.next(), all.next()) {
                        (Some(only), None) => Some(only),
                        _ => None,
                    }
                })
                .ok_or_else(|| StateError::invalid("mac", "no network to register this machine on"))?;
            let req = NewNode {
                name: format!("d{}.{}", mac.dashed(), net.domain),
                macs: vec![mac],
                bootenv: Some(bootenv.clone()),
                network: Some(net.name.clone()),
                address: None,
                available: None,
                power: None,
            };
            let node = create_in(txn, req, &bootenv, fx)?;
            Ok((hooks::set_alive(txn, (*node).clone(), true, fx)?, true))
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fqdn_rules() {
        for ok in ["a.b", "node-1.rack2.example.com", "d52-54-00-12-34-56.cluster.local"] {
            validate_fqdn(ok).unwrap();
        }
        for bad in ["", "single", "UPPER.case", "a..b", "-a.b", "a-.b", "a_b.c", "a.b."] {
            assert!(validate_fqdn(bad).is_err(), "{bad}");
        }
    }
}
