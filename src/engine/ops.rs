//! The engine's record operations inside a transaction, with the rules the
//! graph relies on: lookups that fail with `NotFound`, storing a noderole
//! (one binding per deployment, role and node; its node, role, deployment
//! and parents exist), storing a deployment (its parent exists), deleting
//! a noderole nothing depends on.

use std::sync::Arc;

use super::error::EngineError;
use super::model::{Deployment, NodeRole, Role};
use crate::inventory::node::Node;
use crate::state::{Record, Txn, World};
use crate::types::field::Refuse;

/// A role that must exist (a reference: `Invalid` when it does not).
pub(crate) fn role(w: &World, name: &str) -> Result<Arc<Role>, EngineError> {
    w.table::<Role>().get(name).cloned().ok_or_else(|| EngineError::invalid("role", format!("no role named `{name}`")))
}

/// A deployment that must exist (a reference).
pub(crate) fn deployment(w: &World, name: &str) -> Result<Arc<Deployment>, EngineError> {
    w.table::<Deployment>()
        .get(name)
        .cloned()
        .ok_or_else(|| EngineError::invalid("deployment", format!("no deployment named `{name}`")))
}

/// The deployment a command names (`NotFound` when it does not exist).
pub(crate) fn named_deployment(w: &World, name: &str) -> Result<Deployment, EngineError> {
    w.table::<Deployment>()
        .get(name)
        .map(|d| (**d).clone())
        .ok_or_else(|| EngineError::not_found(Deployment::KIND, name))
}

/// A noderole, to change.
pub(crate) fn noderole(w: &World, id: u64) -> Result<NodeRole, EngineError> {
    w.table::<NodeRole>().get(&id).map(|n| (**n).clone()).ok_or_else(|| EngineError::not_found(NodeRole::KIND, id))
}

/// Stores a noderole, refusing a second binding of the same role to the
/// same node in the same deployment, or a dangling reference.
pub(crate) fn put_noderole(txn: &mut Txn<'_>, nr: NodeRole) -> Result<Arc<NodeRole>, EngineError> {
    let w = txn.world();
    let noderoles = w.table::<NodeRole>();
    if let Some(other) = noderoles.binding(&nr.deployment, &nr.role, &nr.node).filter(|o| o.id != nr.id) {
        return Err(EngineError::conflict(
            "role",
            format!(
                "role `{}` is already bound to `{}` in `{}` (noderole {})",
                nr.role, nr.node, nr.deployment, other.id
            ),
        ));
    }
    if !w.table::<Node>().contains(&nr.node) {
        return Err(EngineError::invalid("node", format!("no node named `{}`", nr.node)));
    }
    role(w, &nr.role)?;
    deployment(w, &nr.deployment)?;
    if let Some(p) = nr.parents.iter().find(|p| !noderoles.contains(*p)) {
        return Err(EngineError::invalid("parents", format!("no noderole {p}")));
    }
    Ok(txn.put(nr)?)
}

/// Deletes a noderole that nothing depends on.
pub(crate) fn delete_noderole(txn: &mut Txn<'_>, id: u64) -> Result<Arc<NodeRole>, EngineError> {
    if let Some(child) = txn.world().table::<NodeRole>().children_of(id).next() {
        return Err(EngineError::conflict("id", format!("noderole {id} is a parent of noderole {child}")));
    }
    txn.delete::<NodeRole, _>(&id)?.ok_or_else(|| EngineError::not_found(NodeRole::KIND, id))
}

/// Stores a deployment whose parent exists.
pub(crate) fn put_deployment(txn: &mut Txn<'_>, d: Deployment) -> Result<Arc<Deployment>, EngineError> {
    if let Some(parent) = &d.parent {
        if !txn.world().table::<Deployment>().contains(parent) {
            return Err(EngineError::invalid("parent", format!("no deployment named `{parent}`")));
        }
    }
    Ok(txn.put(d)?)
}
