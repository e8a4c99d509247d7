//! The engine: every write that has consequences beyond one record goes
//! through here (API -> engine -> state), so the hooks and derived changes
//! it implies run inside the same transaction as the write. Machine-facing
//! consequences (power actions) are carried out only after the commit.
//!
//! - [`nodes`]: registration, updates, bootenv changes, discovery,
//!   aliveness, provisioning verbs;
//! - [`graph`]: noderole semantics: binding, commit, success, failure,
//!   retry, node death;
//! - [`hooks`]: role hooks and node hooks, run inside the transaction;
//! - [`roles`]: shipped roles and role validation;
//! - [`orchestrate`]: deployments, roles and noderoles as the API sees them;
//! - [`annealer`]: picks runnable noderoles and runs their jigs;
//! - [`jigs`]: noop, test and script.

pub mod annealer;
pub mod graph;
pub mod hooks;
pub mod jigs;
pub mod nodes;
pub mod orchestrate;
pub mod roles;

use std::sync::Arc;

use tokio::sync::Notify;

use crate::config::Config;
use crate::power::{self, PowerAction};
use crate::state::{State, StateError, Txn};
use hooks::{Effect, Effects};

/// Cheap-to-clone handle to the engine.
#[derive(Clone)]
pub struct Engine {
    pub(crate) state: State,
    pub(crate) config: Arc<Config>,
    /// Wakes the annealer after writes that may have made work runnable.
    pub(crate) wake: Arc<Notify>,
}

impl Engine {
    pub fn new(state: State, config: Arc<Config>) -> Engine {
        Engine { state, config, wake: Arc::new(Notify::new()) }
    }

    pub fn state(&self) -> &State {
        &self.state
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Runs `f` as one transaction that may produce effects; once it has
    /// committed, wakes the annealer and carries the effects out.
    pub async fn write<T, F>(&self, f: F) -> Result<T, StateError>
    where
        F: FnOnce(&mut Txn<'_>, &mut Effects) -> Result<T, StateError> + Send + 'static,
        T: Send + 'static,
    {
        let (value, effects) = self
            .state
            .write(move |txn| {
                let mut effects = Effects::new();
                let v = f(txn, &mut effects)?;
                Ok((v, effects))
            })
            .await?;
        self.wake.notify_one();
        self.carry_out(effects);
        Ok(value)
    }

    /// Performs post-commit effects in the background.
    fn carry_out(&self, effects: Effects) {
        for effect in effects {
            let engine = self.clone();
            tokio::spawn(async move {
                match effect {
                    Effect::Reboot { node } => {
                        let Some(n) = engine.state.snapshot().node(&node).cloned() else { return };
                        match power::act(&n, PowerAction::Reboot, &engine.config.engine).await {
                            Ok(_) => tracing::info!(%node, "rebooted after commit"),
                            Err(e) => tracing::warn!(%node, error = %e, "reboot after commit failed"),
                        }
                    }
                }
            });
        }
    }
}
