//! Deployments, roles and noderoles as the API drives them, each one
//! engine transaction: create a role (validated, cycles refused), create a
//! deployment under a parent, edit its attributes while proposed, commit or
//! propose it, bind a role to a node (binding its requirements too), edit a
//! proposed noderole's attributes, retry a noderole in ERROR.

use std::sync::Arc;

use serde::Deserialize;

use super::graph;
use super::roles;
use super::Engine;
use crate::state::model::{now, Kind};
use crate::state::orchestration::{Attribs, Deployment, DeploymentState, NodeRole, NrState, Role, SYSTEM};
use crate::state::{State, StateError};

/// POST /api/v1/deployments
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewDeployment {
    pub name: String,
    #[serde(default)]
    pub parent: Option<String>,
    #[serde(default)]
    pub attribs: Attribs,
}

/// POST /api/v1/noderoles
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewNodeRole {
    pub deployment: String,
    pub role: String,
    pub node: String,
    #[serde(default)]
    pub attribs: Attribs,
}

/// Adds the shipped roles and the operator's (`engine.roles_dir`) that are
/// missing, and the `system` deployment (committed) if it does not exist.
pub async fn seed(state: &State, roles_dir: Option<&std::path::Path>) -> Result<usize, StateError> {
    let mut shipped = roles::shipped().map_err(StateError::store)?;
    if let Some(dir) = roles_dir {
        shipped.extend(roles::from_dir(dir).map_err(|e| StateError::invalid("engine.roles_dir", e))?);
    }
    state
        .write(move |txn| {
            let mut added = 0;
            if txn.world().deployment(SYSTEM).is_none() {
                txn.put_deployment(Deployment {
                    name: SYSTEM.into(),
                    parent: None,
                    state: DeploymentState::Committed,
                    attribs: Attribs::new(),
                    created_at: now(),
                })?;
            }
            // Roles may require roles defined after them: insert in passes.
            let mut pending: Vec<Role> = shipped.into_iter().filter(|r| txn.world().role(&r.name).is_none()).collect();
            while !pending.is_empty() {
                let before = pending.len();
                let mut rest = Vec::new();
                for role in pending {
                    if roles::validate(txn.world(), &role).is_ok() {
                        txn.put_role(role)?;
                        added += 1;
                    } else {
                        rest.push(role);
                    }
                }
                if rest.len() == before {
                    let bad = &rest[0];
                    let why = roles::validate(txn.world(), bad).err().map(|e| e.to_string()).unwrap_or_default();
                    return Err(StateError::invalid("engine.roles_dir", format!("role `{}`: {why}", bad.name)));
                }
                pending = rest;
            }
            Ok(added)
        })
        .await
}

impl Engine {
    /// Creates a role.
    pub async fn create_role(&self, role: Role) -> Result<Arc<Role>, StateError> {
        self.write(move |txn, _| {
            if txn.world().role(&role.name).is_some() {
                return Err(StateError::conflict("name", format!("role `{}` already exists", role.name)));
            }
            roles::validate(txn.world(), &role)?;
            txn.put_role(role)
        })
        .await
    }

    /// Creates a proposed deployment under `parent` (default `system`).
    pub async fn create_deployment(&self, req: NewDeployment) -> Result<Arc<Deployment>, StateError> {
        self.write(move |txn, _| {
            if req.name.is_empty() || !req.name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) {
                return Err(StateError::invalid(
                    "name",
                    format!("`{}` must be non-empty a-z, 0-9, '-', '_' or '.'", req.name),
                ));
            }
            if txn.world().deployment(&req.name).is_some() {
                return Err(StateError::conflict("name", format!("deployment `{}` already exists", req.name)));
            }
            txn.put_deployment(Deployment {
                name: req.name,
                parent: Some(req.parent.unwrap_or_else(|| SYSTEM.into())),
                state: DeploymentState::Proposed,
                attribs: req.attribs,
                created_at: now(),
            })
        })
        .await
    }

    /// Replaces a proposed deployment's attributes.
    pub async fn set_deployment_attribs(&self, name: String, attribs: Attribs) -> Result<Arc<Deployment>, StateError> {
        self.write(move |txn, _| {
            let mut d = txn
                .world()
                .deployment(&name)
                .map(|d| (**d).clone())
                .ok_or_else(|| StateError::not_found(Kind::Deployment, &name))?;
            if d.state != DeploymentState::Proposed {
                return Err(StateError::conflict(
                    "state",
                    format!("deployment `{name}` is committed; propose it first"),
                ));
            }
            d.attribs = attribs;
            txn.put_deployment(d)
        })
        .await
    }

    /// Commits a deployment; returns how many noderoles left PROPOSED.
    pub async fn commit_deployment(&self, name: String) -> Result<usize, StateError> {
        self.write(move |txn, fx| graph::commit(txn, &name, fx)).await
    }

    /// Puts a deployment back to proposed.
    pub async fn propose_deployment(&self, name: String) -> Result<usize, StateError> {
        self.write(move |txn, fx| graph::propose(txn, &name, fx)).await
    }

    /// Binds a role to a node (and its requirements).
    pub async fn bind(&self, req: NewNodeRole) -> Result<Arc<NodeRole>, StateError> {
        self.write(move |txn, fx| {
            let nr = graph::bind(txn, &req.deployment, &req.role, &req.node, fx)?;
            if req.attribs.is_empty() {
                return Ok(nr);
            }
            if nr.state != NrState::Proposed {
                return Err(StateError::conflict("attribs", "attributes can only be set on a proposed noderole"));
            }
            let mut x = (*nr).clone();
            x.attribs.extend(req.attribs);
            txn.put_noderole(x)
        })
        .await
    }

    /// Replaces a proposed noderole's attributes.
    pub async fn set_noderole_attribs(&self, id: u64, attribs: Attribs) -> Result<Arc<NodeRole>, StateError> {
        self.write(move |txn, _| {
            let mut nr = txn
                .world()
                .noderole(id)
                .map(|n| (**n).clone())
                .ok_or_else(|| StateError::not_found(Kind::NodeRole, &id.to_string()))?;
            if nr.state != NrState::Proposed {
                return Err(StateError::conflict(
                    "attribs",
                    format!("noderole {id} is {}; only proposed noderoles can be edited", nr.state),
                ));
            }
            nr.attribs = attribs;
            txn.put_noderole(nr)
        })
        .await
    }

    /// Retries a noderole in ERROR.
    pub async fn retry(&self, id: u64) -> Result<Arc<NodeRole>, StateError> {
        self.write(move |txn, fx| graph::retry(txn, id, fx)).await
    }
}
