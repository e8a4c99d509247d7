//! The engine's commands for roles, deployments and noderoles, each one
//! transaction: seed the shipped and operator roles and the `system`
//! deployment, create a role (validated, cycles refused), create a
//! deployment under a parent, edit its attributes while proposed, commit
//! or propose it, bind a role to a node (binding its requirements too),
//! edit a proposed noderole's attributes, retry a noderole in ERROR.

use std::path::Path;
use std::sync::Arc;

use super::error::EngineError;
use super::graph;
use super::model::{Attribs, Deployment, DeploymentState, JigKind, NodeRole, NrState, Role, SYSTEM};
use super::ops;
use super::roles::{self, RoleFileError};
use super::Engine;
use crate::state::StateError;
use crate::types::field::Refuse;
use crate::types::names;
use crate::types::time::now;

/// What creating a deployment takes.
#[derive(Debug, Clone)]
pub(crate) struct DeploymentSpec {
    pub(crate) name: String,
    /// Default: `system`.
    pub(crate) parent: Option<String>,
    pub(crate) attribs: Attribs,
}

/// A role to bind to a node in a deployment, with attribute overrides.
#[derive(Debug, Clone)]
pub(crate) struct Binding {
    pub(crate) deployment: String,
    pub(crate) role: String,
    pub(crate) node: String,
    pub(crate) attribs: Attribs,
}

/// Why the roles could not be seeded at start-up.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SeedError {
    #[error(transparent)]
    File(#[from] RoleFileError),
    #[error("role `{role}` is not valid")]
    Invalid {
        role: String,
        #[source]
        source: EngineError,
    },
    #[error(transparent)]
    Engine(#[from] EngineError),
}

impl From<StateError> for SeedError {
    fn from(e: StateError) -> SeedError {
        SeedError::Engine(e.into())
    }
}

/// What a role whose script runs on the admin node is called in errors.
const LOCAL_SCRIPTS: &str = "a role that runs its script on the admin node";

impl Engine {
    /// Refuses a role that runs a script on the admin node unless the
    /// config allows it (`engine.allow_local_scripts`).
    pub(crate) fn permits_role(&self, role: &Role) -> Result<(), EngineError> {
        if role.jig == JigKind::Script && role.local && !self.config.engine.allow_local_scripts {
            return Err(EngineError::Disabled { what: LOCAL_SCRIPTS, setting: "engine.allow_local_scripts" });
        }
        Ok(())
    }

    /// Adds the shipped roles and the operator's (`roles_dir`) that are
    /// missing, and the `system` deployment (committed) if it does not
    /// exist. Returns how many roles were added.
    pub(crate) async fn seed(&self, roles_dir: Option<&Path>) -> Result<usize, SeedError> {
        let mut wanted = roles::shipped()?;
        if let Some(dir) = roles_dir {
            wanted.extend(roles::from_dir(dir)?);
        }
        for role in &wanted {
            self.permits_role(role).map_err(|source| SeedError::Invalid { role: role.name.clone(), source })?;
        }
        self.state
            .write(move |txn| {
                if !txn.world().table::<Deployment>().contains(SYSTEM) {
                    txn.put(Deployment {
                        name: SYSTEM.into(),
                        parent: None,
                        state: DeploymentState::Committed,
                        attribs: Attribs::new(),
                        created_at: now(),
                    })
                    .map_err(EngineError::from)?;
                }
                // Roles may require roles defined after them: insert in passes.
                let mut pending: Vec<Role> =
                    wanted.into_iter().filter(|r| !txn.world().table::<Role>().contains(&r.name)).collect();
                let mut added = 0;
                while !pending.is_empty() {
                    let before = pending.len();
                    let mut rest = Vec::new();
                    for role in pending {
                        if roles::validate(txn.world(), &role).is_ok() {
                            txn.put(role).map_err(EngineError::from)?;
                            added += 1;
                        } else {
                            rest.push(role);
                        }
                    }
                    if rest.len() == before {
                        let bad = rest.swap_remove(0);
                        return Err(match roles::validate(txn.world(), &bad) {
                            Err(source) => SeedError::Invalid { role: bad.name, source },
                            Ok(()) => SeedError::Engine(EngineError::invalid("requires", "unresolvable requirements")),
                        });
                    }
                    pending = rest;
                }
                Ok(added)
            })
            .await
    }

    /// Creates a role.
    pub(crate) async fn create_role(&self, role: Role) -> Result<Arc<Role>, EngineError> {
        self.permits_role(&role)?;
        self.write(move |txn, _| {
            if txn.world().table::<Role>().contains(&role.name) {
                return Err(EngineError::conflict("name", format!("role `{}` already exists", role.name)));
            }
            roles::validate(txn.world(), &role)?;
            Ok(txn.put(role)?)
        })
        .await
    }

    /// Creates a proposed deployment under its parent (default `system`).
    pub(crate) async fn create_deployment(&self, spec: DeploymentSpec) -> Result<Arc<Deployment>, EngineError> {
        self.write(move |txn, _| {
            names::check_name("name", &spec.name)?;
            if txn.world().table::<Deployment>().contains(&spec.name) {
                return Err(EngineError::conflict("name", format!("deployment `{}` already exists", spec.name)));
            }
            ops::put_deployment(
                txn,
                Deployment {
                    name: spec.name,
                    parent: Some(spec.parent.unwrap_or_else(|| SYSTEM.into())),
                    state: DeploymentState::Proposed,
                    attribs: spec.attribs,
                    created_at: now(),
                },
            )
        })
        .await
    }

    /// Replaces a proposed deployment's attributes.
    pub(crate) async fn set_deployment_attribs(
        &self,
        name: String,
        attribs: Attribs,
    ) -> Result<Arc<Deployment>, EngineError> {
        self.write(move |txn, _| {
            let mut d = ops::named_deployment(txn.world(), &name)?;
            if d.state != DeploymentState::Proposed {
                return Err(EngineError::conflict(
                    "state",
                    format!("deployment `{name}` is committed; propose it first"),
                ));
            }
            d.attribs = attribs;
            ops::put_deployment(txn, d)
        })
        .await
    }

    /// Commits a deployment; returns how many noderoles left PROPOSED.
    pub(crate) async fn commit_deployment(&self, name: String) -> Result<usize, EngineError> {
        self.write(move |txn, fx| graph::commit(txn, &name, fx)).await
    }

    /// Puts a deployment back to proposed; returns how many noderoles did.
    pub(crate) async fn propose_deployment(&self, name: String) -> Result<usize, EngineError> {
        self.write(move |txn, fx| graph::propose(txn, &name, fx)).await
    }

    /// Binds a role to a node (and its requirements).
    pub(crate) async fn bind(&self, b: Binding) -> Result<Arc<NodeRole>, EngineError> {
        self.write(move |txn, fx| {
            let nr = graph::bind(txn, &b.deployment, &b.role, &b.node, fx)?;
            if b.attribs.is_empty() {
                return Ok(nr);
            }
            if nr.state != NrState::Proposed {
                return Err(EngineError::conflict("attribs", "attributes can only be set on a proposed noderole"));
            }
            let mut x = (*nr).clone();
            x.attribs.extend(b.attribs);
            ops::put_noderole(txn, x)
        })
        .await
    }

    /// Replaces a proposed noderole's attributes.
    pub(crate) async fn set_noderole_attribs(&self, id: u64, attribs: Attribs) -> Result<Arc<NodeRole>, EngineError> {
        self.write(move |txn, _| {
            let mut nr = ops::noderole(txn.world(), id)?;
            if nr.state != NrState::Proposed {
                return Err(EngineError::conflict(
                    "attribs",
                    format!("noderole {id} is {}; only proposed noderoles can be edited", nr.state),
                ));
            }
            nr.attribs = attribs;
            ops::put_noderole(txn, nr)
        })
        .await
    }

    /// Retries a noderole in ERROR.
    pub(crate) async fn retry(&self, id: u64) -> Result<Arc<NodeRole>, EngineError> {
        self.write(move |txn, fx| graph::retry(txn, id, fx)).await
    }
}
