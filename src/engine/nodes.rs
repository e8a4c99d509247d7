//! The engine's node commands: every node write goes through here so that
//! the role hooks it triggers (`on_node_create`/`_change`/`_delete`, the
//! discovery roles a new node gets, the ripple when a node dies) run in
//! the same transaction as the write. The inventory keeps the node's own
//! rules (unique MACs and addresses, allocation, the provisioning state
//! machine).

use std::sync::Arc;

use super::error::EngineError;
use super::hooks::{self, NodeEvent};
use super::model::{NodeRole, NrState};
use super::ops;
use super::steps::{self, LOCAL_BOOTENV};
use super::Engine;
use crate::inventory::facts;
use crate::inventory::lifecycle::{ProvisionState, Verb};
use crate::inventory::node::{self, Node, NodeChange, NodeSpec};
use crate::state::Record;
use crate::types::field::Refuse;
use crate::types::mac::Mac;
use crate::types::power::PowerSpec;
use crate::types::secret::Secret;
use crate::types::time::now;

/// The node after the transaction, as the caller sees it.
fn current(txn: &crate::state::Txn<'_>, name: &str) -> Result<Arc<Node>, EngineError> {
    txn.world().table::<Node>().get(name).cloned().ok_or_else(|| EngineError::not_found(Node::KIND, name))
}

impl Engine {
    /// Refuses the `command` power driver unless the config allows it
    /// (`power.allow_commands`).
    pub(crate) fn permits_power(&self, power: Option<&PowerSpec>) -> Result<(), EngineError> {
        if matches!(power, Some(PowerSpec::Command { .. })) && !self.config.power.allow_commands {
            return Err(EngineError::Disabled {
                what: "the command power driver (a shell command on the admin node)",
                setting: "power.allow_commands",
            });
        }
        Ok(())
    }

    /// Registers a node; discovery roles are bound to it and node hooks run
    /// in the same transaction.
    pub(crate) async fn create_node(&self, spec: NodeSpec) -> Result<Arc<Node>, EngineError> {
        self.permits_power(spec.power.as_ref())?;
        let default = self.config.boot.default_bootenv.clone();
        self.write(move |txn, fx| {
            let node = node::create(txn, spec, &default)?;
            hooks::node_event(txn, NodeEvent::Created, &node.name, fx)?;
            current(txn, &node.name)
        })
        .await
    }

    /// Applies a rename, a change, and an operator's `alive` (a node that
    /// stops being alive takes its noderoles back to TODO/BLOCKED in the
    /// same transaction). A rename carries the node's noderoles, runs and
    /// facts to the new name; it is refused while one of its noderoles
    /// runs (the jig acts on the name it was given).
    pub(crate) async fn update_node(
        &self,
        name: String,
        rename: Option<String>,
        changes: Vec<NodeChange>,
        alive: Option<bool>,
    ) -> Result<Arc<Node>, EngineError> {
        for c in &changes {
            if let NodeChange::Power(p) = c {
                self.permits_power(Some(p))?;
            }
        }
        self.write(move |txn, fx| {
            let name = match rename {
                Some(new) if new != name => {
                    if let Some(nr) =
                        txn.world().table::<NodeRole>().of_node(&name).find(|n| n.state == NrState::Transition)
                    {
                        return Err(EngineError::conflict(
                            "name",
                            format!("noderole {} of this node is running", nr.id),
                        ));
                    }
                    node::rename(txn, &name, &new)?.name.clone()
                }
                _ => name,
            };
            node::update(txn, &name, changes)?;
            if let Some(alive) = alive {
                hooks::set_alive(txn, &name, alive, fx)?;
            }
            hooks::node_event(txn, NodeEvent::Changed, &name, fx)?;
            current(txn, &name)
        })
        .await
    }

    /// Sets the bootenv the node's next network boot runs. When this
    /// returns, every DHCP, TFTP and HTTP answer already reflects it.
    pub(crate) async fn set_bootenv(&self, name: String, bootenv: String) -> Result<Arc<Node>, EngineError> {
        self.write(move |txn, fx| {
            node::set_bootenv(txn, &name, bootenv)?;
            hooks::node_event(txn, NodeEvent::Changed, &name, fx)?;
            current(txn, &name)
        })
        .await
    }

    /// Deletes a node and its noderoles (its leases go by the DHCP room's
    /// cascade). Refused while another node's noderoles depend on one of
    /// its noderoles, or one of them is running.
    pub(crate) async fn delete_node(&self, name: String) -> Result<Arc<Node>, EngineError> {
        self.write(move |txn, fx| {
            hooks::node_event(txn, NodeEvent::Deleted, &name, fx)?;
            let noderoles = txn.world().table::<NodeRole>();
            let mut ids: Vec<u64> = noderoles.of_node(&name).map(|n| n.id).collect();
            for id in &ids {
                if let Some(child) = noderoles.children_of(*id).find(|c| !ids.contains(c)) {
                    return Err(EngineError::conflict(
                        "name",
                        format!("noderole {child} depends on noderole {id} of this node"),
                    ));
                }
                if noderoles.get(id).is_some_and(|n| n.state == NrState::Transition) {
                    return Err(EngineError::conflict("name", format!("noderole {id} of this node is running")));
                }
            }
            // Children before parents.
            ids.sort_unstable_by(|a, b| b.cmp(a));
            for id in ids {
                ops::delete_noderole(txn, id)?;
            }
            Ok(node::delete(txn, &name)?)
        })
        .await
    }

    /// Moves a node through the provisioning state machine and carries
    /// out the step the verb starts ([`steps`]); `bootenv` is what deploy
    /// or rebuild installs.
    pub(crate) async fn provision(
        &self,
        name: String,
        verb: Verb,
        bootenv: Option<String>,
        rescue_password: Option<Secret>,
    ) -> Result<Arc<Node>, EngineError> {
        // Rescue needs a way in; nothing else takes one.
        match (&rescue_password, verb) {
            (None, Verb::Rescue) => {
                return Err(EngineError::invalid(
                    "rescue_password",
                    "rescue needs root's password for the rescue system",
                ))
            }
            (Some(p), Verb::Rescue) if p.expose().chars().count() < 8 => {
                return Err(EngineError::invalid("rescue_password", "at least 8 characters"))
            }
            // The rescue system reads it as one line of text.
            (Some(p), Verb::Rescue) if p.expose().chars().any(char::is_control) => {
                return Err(EngineError::invalid("rescue_password", "no control characters (a newline, a tab)"))
            }
            (Some(_), v) if v != Verb::Rescue => {
                return Err(EngineError::invalid("rescue_password", format!("only rescue takes one, not {v}")))
            }
            _ => {}
        }
        let envs = self.bootenvs(bootenv);
        self.write(move |txn, fx| {
            steps::apply(txn, &name, verb, &envs, fx)?;
            if let Some(p) = rescue_password {
                node::set_rescue_password(txn, &name, Some(p))?;
            }
            hooks::node_event(txn, NodeEvent::Changed, &name, fx)?;
            current(txn, &name)
        })
        .await
    }

    /// A node reports its hardware (its caller was checked by the API); a
    /// node in `inspect wait` has finished its inspection. One transaction.
    pub(crate) async fn report_inventory(
        &self,
        name: String,
        report: facts::Report,
    ) -> Result<Arc<facts::Facts>, EngineError> {
        let envs = self.bootenvs(None);
        self.write(move |txn, fx| {
            let facts = facts::report(txn, &name, report, now())?;
            if current(txn, &name)?.provision_state == ProvisionState::InspectWait {
                steps::apply(txn, &name, Verb::Done, &envs, fx)?;
                hooks::node_event(txn, NodeEvent::Changed, &name, fx)?;
            }
            Ok(facts)
        })
        .await
    }

    /// A node reports in (its caller was checked by the API): alive, or
    /// (shutting down) not. A report that changes it is a node change.
    pub(crate) async fn report_alive(&self, name: String, alive: bool) -> Result<Arc<Node>, EngineError> {
        self.write(move |txn, fx| {
            let was = current(txn, &name)?.alive;
            hooks::set_alive(txn, &name, alive, fx)?;
            // The system reporting is not the agent (which registers).
            let node = node::set_in_agent(txn, &name, false)?;
            if was != alive {
                hooks::node_event(txn, NodeEvent::Changed, &name, fx)?;
                return current(txn, &name);
            }
            Ok(node)
        })
        .await
    }

    /// A node's installer reports that it is done: its next boot is from
    /// the local disk, and a node being deployed is deployed.
    pub(crate) async fn installed(&self, name: String) -> Result<Arc<Node>, EngineError> {
        let envs = self.bootenvs(None);
        self.write(move |txn, fx| {
            let node = current(txn, &name)?;
            if matches!(node.provision_state, ProvisionState::WaitCallBack | ProvisionState::Deploying) {
                steps::apply(txn, &name, Verb::Done, &envs, fx)?;
            } else {
                node::set_bootenv(txn, &name, LOCAL_BOOTENV.to_string())?;
            }
            hooks::node_event(txn, NodeEvent::Changed, &name, fx)?;
            current(txn, &name)
        })
        .await
    }

    /// A machine running the discovery image reports in: returns its node
    /// and whether it is new. A new MAC is registered as
    /// `d<mac>.<domain>` on the network of `source`; either way the node is
    /// alive, and gains those of its `others` MACs that no node has yet; a
    /// node in `rescue wait` is in its rescue system. Idempotent.
    pub(crate) async fn discover(
        &self,
        mac: Mac,
        others: Vec<Mac>,
        source: Option<std::net::IpAddr>,
        lease_holder: Option<Mac>,
    ) -> Result<(Arc<Node>, bool), EngineError> {
        let bootenv = self.config.boot.discovery_bootenv.clone();
        let envs = self.bootenvs(None);
        self.write(move |txn, fx| {
            // A registered machine asks again only from its own address, or
            // one of its MACs' current lease (the agent still on the address
            // it booted with), or the admin node from loopback: the answer
            // carries its token.
            if let Some(known) = txn.world().table::<Node>().by_mac(&mac) {
                let w = txn.world();
                let by_lease = lease_holder.is_some_and(|m| known.macs.contains(&m));
                let from_itself = by_lease
                    || source.is_some_and(|s| match s {
                        std::net::IpAddr::V4(v4) => v4.is_loopback() || Some(v4) == known.ipv4,
                        // Its own address, or a SLAAC address made from one of its MACs.
                        std::net::IpAddr::V6(v6) => {
                            v6.is_loopback() || Some(v6) == known.ipv6(w) || own_slaac_address(w, known, v6)
                        }
                    });
                if !from_itself {
                    return Err(EngineError::NotFromNode { node: known.name.clone() });
                }
            }
            let (name, created) = match node::register_discovered(txn, mac, source, &bootenv)? {
                Some(new) => {
                    hooks::node_event(txn, NodeEvent::Created, &new.name, fx)?;
                    (new.name.clone(), true)
                }
                // Registering again: a new token, as Ironic's agent gets
                // one per lookup; the answer hands it over.
                None => match txn.world().table::<Node>().by_mac(&mac) {
                    Some(n) => (node::rotate_token(txn, &n.name.clone())?.name.clone(), false),
                    None => return Err(EngineError::not_found(Node::KIND, mac)),
                },
            };
            add_unclaimed_macs(txn, &name, &others)?;
            // The agent is the rescue system: it is up.
            if current(txn, &name)?.provision_state == ProvisionState::RescueWait {
                steps::apply(txn, &name, Verb::Done, &envs, fx)?;
            }
            hooks::set_alive(txn, &name, true, fx)?;
            // The agent registered: it runs there now, unless it is the
            // rescue system, whose login must not outlive the rescue: the
            // step after it reboots the machine.
            let rescue = current(txn, &name)?.provision_state == ProvisionState::Rescue;
            let node = node::set_in_agent(txn, &name, !rescue)?;
            if created {
                return Ok((node, true));
            }
            // Known: a new token, and alive again.
            hooks::node_event(txn, NodeEvent::Changed, &name, fx)?;
            Ok((current(txn, &name)?, false))
        })
        .await
    }
}

/// Adds to `name` the MACs in `others` that no node has (a MAC another
/// node has stays that node's).
fn add_unclaimed_macs(txn: &mut crate::state::Txn<'_>, name: &str, others: &[Mac]) -> Result<(), EngineError> {
    let nodes = txn.world().table::<Node>();
    let mut macs = current(txn, name)?.macs.clone();
    let before = macs.len();
    for m in others {
        if nodes.by_mac(m).is_none() && !macs.contains(m) {
            macs.push(*m);
        }
    }
    if macs.len() > before {
        node::update(txn, name, vec![NodeChange::Macs(macs)])?;
    }
    Ok(())
}

/// Whether `addr` is an address `node` made itself by SLAAC: in its own
/// network's /64, on a network that advertises SLAAC, with the EUI-64 of
/// one of its MACs.
fn own_slaac_address(w: &crate::state::World, node: &Node, addr: std::net::Ipv6Addr) -> bool {
    let Some(net) = node.network_in(w).filter(|n| n.slaac) else { return false };
    let in_prefix = net.v6_prefix(w.global_id()).is_some_and(|p| u128::from(p) >> 64 == u128::from(addr) >> 64);
    in_prefix && crate::net::ula::eui64_mac(u128::from(addr) as u64).is_some_and(|m| node.macs.contains(&m))
}
