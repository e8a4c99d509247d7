//! The noderole graph's semantics, as operations over a write transaction:
//! binding a role (and, through its requirements, its parents), committing
//! and proposing deployments, the consequences of a run's success or
//! failure, retries, and the ripple when a node dies. Every function here
//! runs inside the caller's transaction, hooks included, so each change and
//! everything it implies commit together.

use std::collections::{BTreeSet, VecDeque};
use std::sync::Arc;

use super::error::EngineError;
use super::hooks::{self, Effects, Trigger};
use super::model::{Attribs, Deployment, DeploymentState, NodeRole, NrEvent, NrState, Role, RoleFlag, SYSTEM};
use super::ops::{self, deployment, noderole, put_noderole, role};
use crate::inventory::node::Node;
use crate::state::{Txn, World};
use crate::types::field::Refuse;
use crate::types::time::now;

/// `d` and its ancestors, nearest first.
pub(crate) fn lineage(w: &World, d: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = Some(d.to_string());
    while let Some(name) = cur {
        if out.contains(&name) {
            break;
        }
        cur = w.table::<Deployment>().get(&name).and_then(|x| x.parent.clone());
        out.push(name);
    }
    out
}

/// Whether every parent of `nr` is ACTIVE.
pub(crate) fn ready(w: &World, nr: &NodeRole) -> bool {
    let noderoles = w.table::<NodeRole>();
    nr.parents.iter().all(|p| noderoles.get(p).is_some_and(|x| x.state == NrState::Active))
}

/// Applies an event to a noderole and stores it; runs the hook of the state
/// it enters. Refused transitions name both ends.
pub(crate) fn transition(
    txn: &mut Txn<'_>,
    id: u64,
    event: NrEvent,
    effects: &mut Effects,
) -> Result<Arc<NodeRole>, EngineError> {
    let mut nr = noderole(txn.world(), id)?;
    let to = nr.state.next(event)?;
    let changed = to != nr.state;
    nr.state = to;
    if to != NrState::Error {
        nr.error = None;
    }
    nr.updated_at = now();
    let nr = put_noderole(txn, nr)?;
    if changed {
        let trigger = match to {
            NrState::Todo => Some(Trigger::Todo),
            NrState::Active => Some(Trigger::Active),
            NrState::Error => Some(Trigger::Error),
            _ => None,
        };
        if let Some(t) = trigger {
            hooks::noderole_entered(txn, &nr, t, effects)?;
        }
    }
    Ok(nr)
}

/// Binds `role` to `node` in `dep`, binding required roles first as
/// OpenCrowbar does. Returns the noderole (existing or new). In a committed
/// deployment the new noderole is committed at once.
pub(crate) fn bind(
    txn: &mut Txn<'_>,
    dep: &str,
    role_name: &str,
    node: &str,
    effects: &mut Effects,
) -> Result<Arc<NodeRole>, EngineError> {
    bind_inner(txn, dep, role_name, node, effects, &mut Vec::new())
}

fn bind_inner(
    txn: &mut Txn<'_>,
    dep: &str,
    role_name: &str,
    node: &str,
    effects: &mut Effects,
    stack: &mut Vec<String>,
) -> Result<Arc<NodeRole>, EngineError> {
    if let Some(existing) = txn.world().table::<NodeRole>().binding(dep, role_name, node) {
        return Ok(existing.clone());
    }
    if stack.iter().any(|r| r == role_name) {
        stack.push(role_name.to_string());
        return Err(EngineError::invalid("role", format!("role requirement cycle: {}", stack.join(" -> "))));
    }
    let d = deployment(txn.world(), dep)?;
    if !txn.world().table::<Node>().contains(node) {
        return Err(EngineError::invalid("node", format!("no node named `{node}`")));
    }
    let r = role(txn.world(), role_name)?;
    stack.push(role_name.to_string());
    let mut parents: BTreeSet<u64> = BTreeSet::new();
    let deps = lineage(txn.world(), dep);
    for req in &r.requires {
        let req_role = role(txn.world(), req)?;
        if req_role.has(RoleFlag::Cluster) {
            // Every noderole of a cluster role in the deployment is a parent.
            let all: Vec<u64> =
                txn.world().table::<NodeRole>().of_deployment(dep).filter(|n| &n.role == req).map(|n| n.id).collect();
            if !all.is_empty() {
                parents.extend(all);
                continue;
            }
        }
        let noderoles = txn.world().table::<NodeRole>();
        let same_node = deps.iter().find_map(|d| noderoles.binding(d, req, node).map(|n| n.id));
        if let Some(id) = same_node {
            parents.insert(id);
            continue;
        }
        if !req_role.has(RoleFlag::Implicit) {
            let anywhere = deps.iter().find_map(|d| noderoles.of_deployment(d).find(|n| &n.role == req).map(|n| n.id));
            if let Some(id) = anywhere {
                parents.insert(id);
                continue;
            }
        }
        let made = bind_inner(txn, dep, req, node, effects, stack)?;
        parents.insert(made.id);
    }
    stack.pop();
    let id = txn.world().table::<NodeRole>().next_id();
    let t = now();
    let nr = NodeRole {
        id,
        deployment: dep.to_string(),
        role: role_name.to_string(),
        node: node.to_string(),
        state: NrState::Proposed,
        parents: parents.into_iter().collect(),
        attribs: Attribs::new(),
        wall: Attribs::new(),
        run_count: 0,
        succeeded_runs: 0,
        error: None,
        created_at: t,
        updated_at: t,
    };
    let nr = put_noderole(txn, nr)?;
    // Existing dependents of this role as a cluster role gain it as a parent.
    if r.has(RoleFlag::Cluster) {
        let w = txn.world();
        let roles = w.table::<Role>();
        let dependents: Vec<u64> = w
            .table::<NodeRole>()
            .of_deployment(dep)
            .filter(|n| n.id != id && roles.get(&n.role).is_some_and(|x| x.requires.iter().any(|q| q == role_name)))
            .map(|n| n.id)
            .collect();
        for dep_id in dependents {
            let mut x = noderole(txn.world(), dep_id)?;
            if !x.parents.contains(&id) {
                x.parents.push(id);
                let was = x.state;
                let x = put_noderole(txn, x)?;
                if was == NrState::Todo || was == NrState::Active {
                    let r = ready(txn.world(), &x);
                    transition(txn, dep_id, NrEvent::Reconsider { ready: r }, effects)?;
                }
            }
        }
    }
    if d.state == DeploymentState::Committed {
        let r = ready(txn.world(), &nr);
        return transition(txn, id, NrEvent::Commit { ready: r }, effects);
    }
    Ok(nr)
}

/// Commits a deployment: PROPOSED noderoles go to TODO (all parents ACTIVE)
/// or BLOCKED, parents first.
pub(crate) fn commit(txn: &mut Txn<'_>, dep: &str, effects: &mut Effects) -> Result<usize, EngineError> {
    let mut d = ops::named_deployment(txn.world(), dep)?;
    d.state = DeploymentState::Committed;
    ops::put_deployment(txn, d)?;
    let proposed: Vec<u64> = txn
        .world()
        .table::<NodeRole>()
        .of_deployment(dep)
        .filter(|n| n.state == NrState::Proposed)
        .map(|n| n.id)
        .collect();
    for id in &proposed {
        let nr = noderole(txn.world(), *id)?;
        let r = ready(txn.world(), &nr);
        transition(txn, *id, NrEvent::Commit { ready: r }, effects)?;
    }
    Ok(proposed.len())
}

/// Puts a deployment back into proposed for editing. Refused while any of
/// its noderoles is running, and for `system`.
pub(crate) fn propose(txn: &mut Txn<'_>, dep: &str, effects: &mut Effects) -> Result<usize, EngineError> {
    if dep == SYSTEM {
        return Err(EngineError::conflict("name", "the system deployment is never proposed"));
    }
    let mut d = ops::named_deployment(txn.world(), dep)?;
    let noderoles = txn.world().table::<NodeRole>();
    if let Some(busy) = noderoles.of_deployment(dep).find(|n| n.state == NrState::Transition) {
        return Err(EngineError::conflict("state", format!("noderole {} is running; wait for it", busy.id)));
    }
    let ids: Vec<u64> = noderoles.of_deployment(dep).filter(|n| n.state != NrState::Proposed).map(|n| n.id).collect();
    d.state = DeploymentState::Proposed;
    ops::put_deployment(txn, d)?;
    for id in &ids {
        transition(txn, *id, NrEvent::Propose, effects)?;
    }
    Ok(ids.len())
}

/// Every descendant of `id`, breadth first.
fn descendants(w: &World, id: u64) -> Vec<u64> {
    let mut seen = BTreeSet::new();
    let noderoles = w.table::<NodeRole>();
    let mut queue: VecDeque<u64> = noderoles.children_of(id).collect();
    let mut out = Vec::new();
    while let Some(x) = queue.pop_front() {
        if seen.insert(x) {
            out.push(x);
            queue.extend(noderoles.children_of(x));
        }
    }
    out
}

/// Every ancestor of `id` (parents, their parents, ...), nearest first:
/// breadth first, each once, at its shortest distance.
pub(crate) fn ancestors(w: &World, id: u64) -> Vec<u64> {
    let noderoles = w.table::<NodeRole>();
    let mut seen = BTreeSet::from([id]);
    let mut queue: VecDeque<u64> = noderoles.get(&id).map(|n| n.parents.iter().copied().collect()).unwrap_or_default();
    let mut out = Vec::new();
    while let Some(x) = queue.pop_front() {
        if seen.insert(x) {
            out.push(x);
            if let Some(n) = noderoles.get(&x) {
                queue.extend(n.parents.iter().copied());
            }
        }
    }
    out
}

/// A run succeeded: the noderole goes ACTIVE (or, if its node died or a
/// parent left ACTIVE meanwhile, back to TODO/BLOCKED), its wall takes the
/// run's output, and children whose parents are now all ACTIVE go to TODO.
pub(crate) fn succeeded(txn: &mut Txn<'_>, id: u64, wall: Attribs, effects: &mut Effects) -> Result<(), EngineError> {
    let mut nr = noderole(txn.world(), id)?;
    nr.run_count += 1;
    nr.succeeded_runs += 1;
    nr.wall.extend(wall);
    put_noderole(txn, nr.clone())?;
    transition(txn, id, NrEvent::Succeed, effects)?;
    let alive = txn.world().table::<Node>().get(&nr.node).is_some_and(|n| n.alive);
    if !alive || !ready(txn.world(), &nr) {
        let nr = noderole(txn.world(), id)?;
        let r = ready(txn.world(), &nr);
        transition(txn, id, NrEvent::Reconsider { ready: r }, effects)?;
        return Ok(());
    }
    unblock_children(txn, id, effects)
}

/// Children of `id` waiting in BLOCKED whose parents are all ACTIVE go TODO.
fn unblock_children(txn: &mut Txn<'_>, id: u64, effects: &mut Effects) -> Result<(), EngineError> {
    let children: Vec<u64> = txn.world().table::<NodeRole>().children_of(id).collect();
    for c in children {
        let child = noderole(txn.world(), c)?;
        let committed = txn
            .world()
            .table::<Deployment>()
            .get(&child.deployment)
            .is_some_and(|d| d.state == DeploymentState::Committed);
        if child.state == NrState::Blocked && committed && ready(txn.world(), &child) {
            transition(txn, c, NrEvent::Reconsider { ready: true }, effects)?;
        }
    }
    Ok(())
}

/// A run failed: the noderole goes to ERROR with the reason, and every
/// descendant not PROPOSED or running is BLOCKED.
pub(crate) fn failed(txn: &mut Txn<'_>, id: u64, reason: String, effects: &mut Effects) -> Result<(), EngineError> {
    let mut nr = noderole(txn.world(), id)?;
    nr.run_count += 1;
    put_noderole(txn, nr)?;
    transition(txn, id, NrEvent::Fail, effects)?;
    let mut nr = noderole(txn.world(), id)?;
    nr.error = Some(reason);
    put_noderole(txn, nr)?;
    block_descendants(txn, id, effects)
}

fn block_descendants(txn: &mut Txn<'_>, id: u64, effects: &mut Effects) -> Result<(), EngineError> {
    for d in descendants(txn.world(), id) {
        let s = noderole(txn.world(), d)?.state;
        if matches!(s, NrState::Todo | NrState::Active | NrState::Error) {
            transition(txn, d, NrEvent::Block, effects)?;
        }
    }
    Ok(())
}

/// The operator retries a noderole in ERROR.
pub(crate) fn retry(txn: &mut Txn<'_>, id: u64, effects: &mut Effects) -> Result<Arc<NodeRole>, EngineError> {
    let nr = noderole(txn.world(), id)?;
    let r = ready(txn.world(), &nr);
    transition(txn, id, NrEvent::Retry { ready: r }, effects)
}

/// The node died: its noderoles (except PROPOSED and running ones) go to
/// TODO or BLOCKED by their parents, and every descendant, on any node,
/// that is TODO, ACTIVE or in ERROR is BLOCKED, rippling down the whole
/// graph (seed 001). A descendant still running is BLOCKED when its run
/// succeeds (see [`succeeded`]).
pub(crate) fn node_died(txn: &mut Txn<'_>, node: &str, effects: &mut Effects) -> Result<(), EngineError> {
    let ids: Vec<u64> = txn.world().table::<NodeRole>().of_node(node).map(|n| n.id).collect();
    for id in ids {
        let nr = noderole(txn.world(), id)?;
        if matches!(nr.state, NrState::Proposed | NrState::Transition) {
            continue;
        }
        let r = ready(txn.world(), &nr);
        if nr.state == NrState::Error {
            let event = if r { NrEvent::Retry { ready: true } } else { NrEvent::Block };
            transition(txn, id, event, effects)?;
        } else {
            transition(txn, id, NrEvent::Reconsider { ready: r }, effects)?;
        }
        for d in descendants(txn.world(), id) {
            let s = noderole(txn.world(), d)?.state;
            if matches!(s, NrState::Todo | NrState::Active | NrState::Error) {
                transition(txn, d, NrEvent::Block, effects)?;
            }
        }
    }
    Ok(())
}
