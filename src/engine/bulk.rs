//! Operations on many nodes (seed 002): importing an instackenv.json
//! (TripleO's format) in one transaction, and guarded bulk verbs. A bulk
//! verb is planned on a snapshot (the nodes it selects: ONLY those in the
//! verb's source state, never a protected node for a verb that would
//! reboot it into another bootenv), can be previewed as that plan, and
//! acts on the set the plan froze: each node, in its own transaction, only
//! if it is still in the state the plan saw.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::error::EngineError;
use super::hooks::{self, NodeEvent};
use super::steps;
use super::Engine;
use crate::inventory::bootenv::Bootenv;
use crate::inventory::facts;
use crate::inventory::lifecycle::{ProvisionState, Verb};
use crate::inventory::network::Network;
use crate::inventory::node::{self, Node, NodeSpec};
use crate::state::World;
use crate::types::field::{FieldError, Refusal, Refuse};
use crate::types::mac::Mac;
use crate::types::power::PowerSpec;
use crate::types::secret::Secret;
use crate::types::time::now;

/// What selects the nodes of a bulk verb.
#[derive(Debug, Clone, Default)]
pub(crate) struct Selector {
    /// Every node in this state...
    pub(crate) state: Option<ProvisionState>,
    /// ...or exactly these (the set a preview showed), each still in
    /// `state` when that is given too...
    pub(crate) nodes: Option<Vec<String>>,
    /// ...and, when given, in it since this time (the preview's
    /// `since`): a node that left and came back, or another node now under
    /// that name, is left alone.
    pub(crate) since: Option<u64>,
    /// For deploy and rebuild: what they install.
    pub(crate) bootenv: Option<String>,
}

/// One node of a plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub(crate) struct Planned {
    pub(crate) name: String,
    pub(crate) from: ProvisionState,
    /// Where the verb takes it first.
    pub(crate) to: ProvisionState,
    /// When it entered `from` (unix seconds): what freezes the plan.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) since: Option<u64>,
}

/// A node the selector named that the verb will not touch, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub(crate) struct Skipped {
    pub(crate) name: String,
    pub(crate) why: String,
}

/// What a bulk verb would do.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Plan {
    pub(crate) planned: Vec<Planned>,
    pub(crate) skipped: Vec<Skipped>,
}

/// How one planned node fared.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub(crate) struct Done {
    pub(crate) name: String,
    pub(crate) from: ProvisionState,
    /// Its state afterwards, when the verb was applied.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) now: Option<ProvisionState>,
    /// Why it was not, when it was refused.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) error: Option<String>,
}

/// Why `verb` leaves `n` alone, if it does. `agent`: the discovery
/// bootenv (which installs nothing).
fn refusal(n: &Node, verb: Verb, select: &Selector, agent: &str) -> Option<String> {
    if let Some(s) = select.state.filter(|s| *s != n.provision_state) {
        return Some(format!("is {}, not {s}", n.provision_state));
    }
    if select.since.is_some_and(|t| n.provision_since != Some(t)) {
        return Some(format!("left {} and came back since the preview", n.provision_state));
    }
    if n.protected && verb.reboots_into_another_bootenv() {
        return Some("is protected".into());
    }
    let installs_nothing = n.bootenv == steps::LOCAL_BOOTENV || n.bootenv == agent;
    if matches!(verb, Verb::Deploy | Verb::Rebuild) && select.bootenv.is_none() && installs_nothing {
        return Some(format!("needs a bootenv to install (its own, `{}`, installs nothing)", n.bootenv));
    }
    n.provision_state.apply(verb).err().map(|e| e.to_string())
}

/// The plan of `verb` over what `select` selects, on `w`. `agent`: the
/// discovery bootenv.
pub(crate) fn plan(w: &World, verb: Verb, select: &Selector, agent: &str) -> Result<Plan, EngineError> {
    if !verb.is_operator() {
        return Err(EngineError::invalid(
            "verb",
            format!("`{verb}` is a report about one node's step, not a bulk verb"),
        ));
    }
    if let Some(b) = select.bootenv.as_deref() {
        if !w.table::<Bootenv>().contains(b) {
            return Err(EngineError::invalid("bootenv", format!("no bootenv named `{b}`")));
        }
    }
    let nodes = w.table::<Node>();
    let mut plan = Plan::default();
    let add = |plan: &mut Plan, n: &Node| match refusal(n, verb, select, agent) {
        None => plan.planned.push(Planned {
            name: n.name.clone(),
            from: n.provision_state,
            to: n.provision_state.apply(verb).unwrap_or(n.provision_state),
            since: n.provision_since,
        }),
        Some(why) => plan.skipped.push(Skipped { name: n.name.clone(), why }),
    };
    match (&select.nodes, select.state) {
        (Some(names), _) => {
            for name in names {
                match nodes.get(name) {
                    Some(n) => add(&mut plan, n),
                    None => plan.skipped.push(Skipped { name: name.clone(), why: "no such node".into() }),
                }
            }
        }
        (None, Some(state)) => {
            for n in nodes.iter().filter(|n| n.provision_state == state) {
                add(&mut plan, n);
            }
        }
        (None, None) => {
            return Err(EngineError::invalid("state", "select the nodes: a state (e.g. manageable) or their names"))
        }
    }
    Ok(plan)
}

/// One node of an instackenv.json (TripleO's `openstack overcloud node
/// import` format); unknown keys are kept out.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub(crate) struct Imported {
    /// A name, qualified with the network's domain when it has no dot.
    pub(crate) name: String,
    /// Its MACs.
    pub(crate) mac: Vec<Mac>,
    /// `ipmi` (or Ironic's `pxe_ipmitool`, `ipmitool`), `redfish`,
    /// `manual` or none.
    #[serde(default)]
    pub(crate) pm_type: Option<String>,
    #[serde(default)]
    pub(crate) pm_addr: Option<String>,
    #[serde(default)]
    pub(crate) pm_port: Option<u16>,
    #[serde(default)]
    pub(crate) pm_user: Option<String>,
    #[serde(default)]
    pub(crate) pm_password: Option<Secret>,
    /// Redfish: the system's id (default: the BMC's first).
    #[serde(default)]
    pub(crate) pm_system_id: Option<String>,
    /// Redfish over https: the BMC certificate's fingerprint (Fulcrum's
    /// addition to the format).
    #[serde(default)]
    pub(crate) pm_tls_fingerprint: Option<crate::types::fingerprint::Fingerprint>,
    /// Declared hardware, kept as the node's inventory until its agent
    /// reports: `arch`, `cpu`, `memory` (MiB), `disk` (GiB).
    #[serde(default)]
    pub(crate) arch: Option<String>,
    #[serde(default)]
    pub(crate) cpu: Option<serde_json::Value>,
    #[serde(default)]
    pub(crate) memory: Option<serde_json::Value>,
    #[serde(default)]
    pub(crate) disk: Option<serde_json::Value>,
    /// Ironic's node capabilities, `key:value` pairs separated by commas;
    /// `boot_mode:uefi` says the machine network-boots under UEFI (kept as
    /// its firmware until its agent reports).
    #[serde(default)]
    pub(crate) capabilities: Option<String>,
}

impl Imported {
    /// Whether its capabilities say `boot_mode:uefi`.
    fn declares_uefi(&self) -> bool {
        self.capabilities.as_deref().is_some_and(|c| {
            c.split(',').filter_map(|kv| kv.split_once(':')).any(|(k, v)| k.trim() == "boot_mode" && v.trim() == "uefi")
        })
    }
}

/// Prefixes the field of a refusal with `at` (`nodes[3].`).
fn within(e: EngineError, at: &str) -> EngineError {
    let prefix = |f: FieldError| {
        let field = if f.field == "macs" || f.field.starts_with("macs[") {
            f.field.replacen("macs", "mac", 1)
        } else {
            f.field
        };
        FieldError { field: format!("{at}.{field}"), message: f.message }
    };
    let refusal = |r: Refusal| match r {
        Refusal::Conflict(f) => Refusal::Conflict(prefix(f)),
        Refusal::Invalid(f) => Refusal::Invalid(prefix(f)),
        other => other,
    };
    match e {
        EngineError::Refused(r) => EngineError::Refused(refusal(r)),
        EngineError::Inventory(crate::inventory::InventoryError::Refused(r)) => EngineError::Refused(refusal(r)),
        other => other,
    }
}

fn power_of(n: &Imported, at: &str) -> Result<Option<PowerSpec>, EngineError> {
    let missing = |f: &str| EngineError::invalid(&format!("{at}.{f}"), format!("this pm_type needs {f}"));
    match n.pm_type.as_deref() {
        None if n.pm_addr.is_some() => Err(EngineError::invalid(
            &format!("{at}.pm_type"),
            "pm_addr is given: name the power driver (`ipmi`), or leave both out",
        )),
        None | Some("manual" | "fake" | "fake_pxe" | "manual-management") => Ok(None),
        Some("ipmi" | "pxe_ipmitool" | "ipmitool") => Ok(Some(PowerSpec::Ipmi {
            address: n.pm_addr.clone().ok_or_else(|| missing("pm_addr"))?,
            port: n.pm_port.unwrap_or(623),
            user: n.pm_user.clone().ok_or_else(|| missing("pm_user"))?,
            password: n.pm_password.clone().ok_or_else(|| missing("pm_password"))?,
        })),
        Some("redfish") => {
            let addr = n.pm_addr.clone().ok_or_else(|| missing("pm_addr"))?;
            Ok(Some(PowerSpec::Redfish {
                address: if addr.contains("://") { addr } else { format!("https://{addr}") },
                system: n.pm_system_id.clone(),
                user: n.pm_user.clone().ok_or_else(|| missing("pm_user"))?,
                password: n.pm_password.clone().ok_or_else(|| missing("pm_password"))?,
                tls_fingerprint: n.pm_tls_fingerprint,
            }))
        }
        Some(other) => Err(EngineError::invalid(
            &format!("{at}.pm_type"),
            format!("`{other}` is not a power driver Fulcrum has (ipmi, redfish, manual)"),
        )),
    }
}

impl Engine {
    /// The plan of `verb` over `select` on the current snapshot.
    pub(crate) fn plan(&self, verb: Verb, select: &Selector) -> Result<Plan, EngineError> {
        plan(&self.state.snapshot(), verb, select, &self.config.boot.discovery_bootenv)
    }

    /// Imports nodes in ONE transaction (all or none; a refusal names the
    /// entry's field, `nodes[2].mac[0]`) and manages each: enroll ->
    /// verifying -> manageable (an IPMI node's BMC is asked first).
    pub(crate) async fn import(
        &self,
        nodes: Vec<Imported>,
        network: Option<String>,
    ) -> Result<Vec<Arc<Node>>, EngineError> {
        if nodes.is_empty() {
            return Err(EngineError::invalid("nodes", "no nodes to import"));
        }
        let default = self.config.boot.default_bootenv.clone();
        let envs = self.bootenvs(None);
        self.write(move |txn, fx| {
            let nets = txn.world().table::<Network>();
            let domain = match network.as_deref() {
                Some(net) => Some(
                    nets.get(net)
                        .map(|x| x.domain.clone())
                        .ok_or_else(|| EngineError::invalid("network", format!("no network named `{net}`")))?,
                ),
                None if nets.len() == 1 => nets.iter().next().map(|x| x.domain.clone()),
                None => None,
            };
            let mut names = Vec::with_capacity(nodes.len());
            for (i, n) in nodes.into_iter().enumerate() {
                let at = format!("nodes[{i}]");
                let power = power_of(&n, &at)?;
                let name = match (n.name.contains('.'), &domain) {
                    (true, _) => n.name.clone(),
                    (false, Some(d)) => format!("{}.{d}", n.name),
                    (false, None) => {
                        return Err(EngineError::invalid(
                            &format!("{at}.name"),
                            "a short name needs `network` (its domain qualifies the name)",
                        ))
                    }
                };
                let spec = NodeSpec {
                    name,
                    macs: n.mac.clone(),
                    bootenv: None,
                    network: network.clone(),
                    address: None,
                    available: None,
                    power,
                    port: None,
                    uefi_loader: None,
                    bios_loader: None,
                    params: Default::default(),
                };
                let node = node::create(txn, spec, &default).map_err(|e| within(e.into(), &at))?;
                let uefi = n.declares_uefi();
                let mut declared = serde_json::Map::new();
                for (k, v) in [
                    ("arch", n.arch.map(serde_json::Value::from)),
                    ("cpu", n.cpu),
                    ("memory", n.memory),
                    ("disk", n.disk),
                    ("capabilities", n.capabilities.clone().map(serde_json::Value::from)),
                ] {
                    if let Some(v) = v {
                        declared.insert(k.into(), v);
                    }
                }
                if !declared.is_empty() {
                    let mut facts_map = serde_json::Map::new();
                    if uefi {
                        facts_map.insert("boot".into(), serde_json::json!({"firmware": "uefi"}));
                    }
                    facts_map.insert("declared".into(), serde_json::Value::Object(declared));
                    let report = facts::Report::new(facts_map).map_err(|e| within(e.into(), &at))?;
                    facts::report(txn, &node.name, report, now()).map_err(|e| within(e.into(), &at))?;
                }
                hooks::node_event(txn, NodeEvent::Created, &node.name, fx).map_err(|e| within(e, &at))?;
                steps::apply(txn, &node.name, Verb::Manage, &envs, fx).map_err(|e| within(e, &at))?;
                hooks::node_event(txn, NodeEvent::Changed, &node.name, fx).map_err(|e| within(e, &at))?;
                names.push(node.name.clone());
            }
            names
                .iter()
                .map(|n| txn.world().table::<Node>().get(n).cloned().ok_or_else(|| EngineError::not_found("node", n)))
                .collect()
        })
        .await
    }

    /// Applies `verb` to each node of `plan` in its own transaction, only
    /// if the node is still in the state the plan saw; reports each.
    pub(crate) async fn apply_plan(&self, verb: Verb, plan: &Plan, bootenv: Option<String>) -> Vec<Done> {
        let mut out = Vec::with_capacity(plan.planned.len());
        for p in &plan.planned {
            let (name, from) = (p.name.clone(), p.from);
            let envs = self.bootenvs(bootenv.clone());
            let frozen = Selector { state: Some(from), nodes: None, since: p.since, bootenv: bootenv.clone() };
            let r = self
                .write(move |txn, fx| {
                    let n = txn
                        .world()
                        .table::<Node>()
                        .get(&name)
                        .cloned()
                        .ok_or_else(|| EngineError::not_found("node", &name))?;
                    if let Some(why) = refusal(&n, verb, &frozen, &envs.agent) {
                        return Err(EngineError::conflict(
                            "state",
                            format!("node `{name}` {why} (it moved since the plan)"),
                        ));
                    }
                    let node = steps::apply(txn, &name, verb, &envs, fx)?;
                    hooks::node_event(txn, NodeEvent::Changed, &name, fx)?;
                    Ok(txn.world().table::<Node>().get(&name).map_or(node.provision_state, |n| n.provision_state))
                })
                .await;
            out.push(match r {
                Ok(now) => Done { name: p.name.clone(), from, now: Some(now), error: None },
                Err(e) => Done { name: p.name.clone(), from, now: None, error: Some(e.to_string()) },
            });
        }
        out
    }
}
