//! Role hooks, run inside the transaction of the change that triggered
//! them: `on_todo`, `on_active`, `on_error` when a noderole enters that
//! state, `on_node_create`/`_change`/`_delete` for roles that watch nodes.
//! Actions that touch the world (bootenv, aliveness, bindings) happen in the
//! transaction; actions that touch a machine (reboot) are returned as
//! effects and carried out only after the commit.

use std::sync::Arc;

use serde_json::Value;

use super::error::EngineError;
use super::graph;
use super::model::{Action, Attribs, Deployment, DeploymentState, NodeRole, Role, RoleFlag, SYSTEM};
use crate::inventory::node::{self, Node, NodeChange};
use crate::state::{Txn, World};

/// Which noderole hook fires.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Trigger {
    Todo,
    Active,
    Error,
}

/// What happened to a node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum NodeEvent {
    Created,
    Changed,
    Deleted,
}

/// Something to do to a machine once the transaction has committed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Effect {
    Reboot {
        node: String,
    },
    /// The node gets a new OS, with a new SSH host key: forget the old one
    /// so that the aliveness probe and SSH jigs accept the new one.
    ForgetHostKey {
        node: String,
    },
    /// Check the node's power credentials against its BMC, then end its
    /// `verifying` step.
    Verify {
        node: String,
    },
    /// A node waits for an early-boot slot: wake the watchdog, which
    /// paces power-on.
    Pace,
    /// A run ended, after this long: tell the run observer (the metrics).
    RunEnded {
        outcome: super::model::Outcome,
        ms: u64,
    },
}

/// Effects collected during a transaction.
pub(crate) type Effects = Vec<Effect>;

/// Merges `from` into `into`, OpenCrowbar's way: objects present on both
/// sides are merged key by key, all the way down; anything else in `from`
/// replaces what `into` had.
pub(crate) fn deep_merge(into: &mut Attribs, from: &Attribs) {
    for (k, v) in from {
        match (into.get_mut(k), v) {
            (Some(Value::Object(old)), Value::Object(new)) => merge_objects(old, new),
            _ => {
                into.insert(k.clone(), v.clone());
            }
        }
    }
}

fn merge_objects(into: &mut serde_json::Map<String, Value>, from: &serde_json::Map<String, Value>) {
    for (k, v) in from {
        match (into.get_mut(k), v) {
            (Some(Value::Object(old)), Value::Object(new)) => merge_objects(old, new),
            _ => {
                into.insert(k.clone(), v.clone());
            }
        }
    }
}

/// Role defaults < deployment attributes (root first, nearest last) <
/// noderole attributes, deep-merged.
pub(crate) fn merged_attribs(w: &World, nr: &NodeRole) -> Attribs {
    let mut out = w.table::<Role>().get(&nr.role).map(|r| r.attribs.clone()).unwrap_or_default();
    for d in graph::lineage(w, &nr.deployment).iter().rev() {
        if let Some(dep) = w.table::<Deployment>().get(d) {
            deep_merge(&mut out, &dep.attribs);
        }
    }
    deep_merge(&mut out, &nr.attribs);
    out
}

/// The data a run works from, OpenCrowbar's deep merge with the nearest
/// source winning: the role's defaults, then the deployment chain's
/// attributes (root first), then the wall data of every ancestor noderole
/// (farthest first, so a parent overrides a grandparent), then the
/// noderole's own attributes.
pub(crate) fn run_data(w: &World, nr: &NodeRole) -> Attribs {
    let mut out = w.table::<Role>().get(&nr.role).map(|r| r.attribs.clone()).unwrap_or_default();
    for d in graph::lineage(w, &nr.deployment).iter().rev() {
        if let Some(dep) = w.table::<Deployment>().get(d) {
            deep_merge(&mut out, &dep.attribs);
        }
    }
    let noderoles = w.table::<NodeRole>();
    for a in graph::ancestors(w, nr.id).iter().rev() {
        if let Some(x) = noderoles.get(a) {
            deep_merge(&mut out, &x.wall);
        }
    }
    deep_merge(&mut out, &nr.attribs);
    out
}

fn render(template: &str, attribs: &Attribs, node: &Node) -> Result<String, EngineError> {
    let env = minijinja::Environment::new();
    let mut ctx = serde_json::Map::new();
    for (k, v) in attribs {
        ctx.insert(k.clone(), v.clone());
    }
    ctx.insert("node".into(), serde_json::json!({ "name": node.name, "ipv4": node.ipv4 }));
    env.render_str(template, serde_json::Value::Object(ctx))
        .map_err(|source| EngineError::HookTemplate { template: template.to_string(), source })
}

/// Which kind of hook runs actions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Source {
    /// A noderole hook: a node change it makes fires `on_node_change`.
    Noderole,
    /// A node hook: its own node changes fire no node hooks again, so
    /// two watching roles cannot set each other off forever.
    Node,
}

/// Applies hook actions to `node`.
fn apply(
    txn: &mut Txn<'_>,
    actions: &[Action],
    node_name: &str,
    attribs: &Attribs,
    source: Source,
    effects: &mut Effects,
) -> Result<(), EngineError> {
    let mut changed = false;
    for action in actions {
        let Some(node) = txn.world().table::<Node>().get(node_name).cloned() else {
            return Ok(());
        };
        match action {
            Action::SetBootenv { bootenv } => {
                let bootenv = render(bootenv, attribs, &node)?;
                changed |= node.bootenv != bootenv;
                node::set_bootenv(txn, &node.name, bootenv)?;
            }
            Action::SetAlive { alive } => {
                changed |= node.alive != *alive;
                set_alive(txn, &node.name, *alive, effects)?;
            }
            Action::SetAvailable { available } => {
                changed |= node.available != *available;
                node::update(txn, &node.name, vec![NodeChange::Available(*available)])?;
            }
            Action::Reboot => effects.push(Effect::Reboot { node: node.name.clone() }),
            Action::Bind { role, deployment } => {
                graph::bind(txn, deployment, role, &node.name, effects)?;
            }
        }
    }
    if changed && source == Source::Noderole {
        node_event(txn, NodeEvent::Changed, node_name, effects)?;
    }
    Ok(())
}

/// Sets a node's aliveness; a node that dies takes its noderoles back to
/// TODO/BLOCKED (rippling down) in the same transaction.
pub(crate) fn set_alive(
    txn: &mut Txn<'_>,
    name: &str,
    alive: bool,
    effects: &mut Effects,
) -> Result<Arc<Node>, EngineError> {
    let (n, was) = node::set_alive(txn, name, alive)?;
    if was && !alive {
        graph::node_died(txn, &n.name, effects)?;
    }
    Ok(n)
}

/// Runs the role hook for the state a noderole just entered, under
/// OpenCrowbar's conditions: committed deployment, available node, and a
/// destructive role's hooks only on its first activation.
pub(crate) fn noderole_entered(
    txn: &mut Txn<'_>,
    nr: &NodeRole,
    trigger: Trigger,
    effects: &mut Effects,
) -> Result<(), EngineError> {
    let w = txn.world();
    let Some(role) = w.table::<Role>().get(&nr.role).cloned() else { return Ok(()) };
    let actions = match trigger {
        Trigger::Todo => &role.hooks.on_todo,
        Trigger::Active => &role.hooks.on_active,
        Trigger::Error => &role.hooks.on_error,
    };
    if actions.is_empty() {
        return Ok(());
    }
    let committed = w.table::<Deployment>().get(&nr.deployment).is_some_and(|d| d.state == DeploymentState::Committed);
    let available = w.table::<Node>().get(&nr.node).is_some_and(|n| n.available);
    // `succeeded` has already counted the run that brought it here.
    let first_activation = nr.succeeded_runs <= 1;
    if !committed || !available || (role.has(RoleFlag::Destructive) && trigger == Trigger::Active && !first_activation)
    {
        return Ok(());
    }
    let attribs = merged_attribs(w, nr);
    let actions = actions.clone();
    apply(txn, &actions, &nr.node, &attribs, Source::Noderole, effects)
}

/// Runs every role's node hooks for `event` on `node`; a new node also gets
/// every `discovery` role bound in the system deployment. Every change to
/// a node fires `Changed`: the API's and the node's own (alive reports,
/// lifecycle verbs) and those of noderole hooks. Actions run here do not
/// trigger node hooks again.
pub(crate) fn node_event(
    txn: &mut Txn<'_>,
    event: NodeEvent,
    node: &str,
    effects: &mut Effects,
) -> Result<(), EngineError> {
    let roles: Vec<Arc<Role>> = txn
        .world()
        .table::<Role>()
        .iter()
        .filter(|r| r.hooks.watches_nodes() || r.has(RoleFlag::Discovery))
        .cloned()
        .collect();
    for role in roles {
        if event == NodeEvent::Created
            && role.has(RoleFlag::Discovery)
            && txn.world().table::<Deployment>().contains(SYSTEM)
        {
            graph::bind(txn, SYSTEM, &role.name, node, effects)?;
        }
        let actions = match event {
            NodeEvent::Created => &role.hooks.on_node_create,
            NodeEvent::Changed => &role.hooks.on_node_change,
            NodeEvent::Deleted => &role.hooks.on_node_delete,
        };
        if !actions.is_empty() {
            let attribs = role.attribs.clone();
            apply(txn, actions, node, &attribs, Source::Node, effects)?;
        }
    }
    Ok(())
}
