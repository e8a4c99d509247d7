//! The engine: every write that has consequences beyond one record goes
//! through here (API -> engine -> state), so the hooks and derived changes
//! it implies run inside the same transaction as the write. Consequences
//! for machines (power actions) are carried out only after the commit, as
//! tasks the engine owns and waits for at shutdown.
//!
//! - [`model`]: deployments, roles, noderoles and runs (records, indexes,
//!   the noderole state machine);
//! - [`ops`]: their transaction-level operations and rules;
//! - [`graph`]: noderole semantics: binding, commit, success, failure,
//!   retry, node death;
//! - [`hooks`]: role hooks and node hooks, run inside the transaction;
//! - [`nodes`]: node commands (the inventory's rules plus hooks);
//! - [`bulk`]: instackenv.json import and guarded bulk verbs (plan,
//!   preview, act on the frozen set);
//! - [`agent`]: what the discovery agent on a machine does next, and
//!   what its reports do;
//! - [`steps`]: what a lifecycle verb makes Fulcrum do (bootenv, reboot,
//!   the hand-over to a wait state);
//! - [`orchestrate`]: role, deployment and noderole commands;
//! - [`roles`]: shipped and operator role files, and role validation;
//! - [`annealer`]: claims runnable noderoles and runs their jigs;
//! - [`jigs`]: noop, test and script;
//! - [`watchdog`]: fails a node that stays too long in an in-progress
//!   lifecycle state;
//! - [`migrate`]: rewrites of the engine's stored rows between schema
//!   versions;
//! - [`error`]: the engine's error type.

pub(crate) mod agent;
pub(crate) mod annealer;
pub(crate) mod bulk;
pub(crate) mod error;
pub(crate) mod graph;
pub(crate) mod hooks;
pub(crate) mod jigs;
pub(crate) mod migrate;
pub(crate) mod model;
pub(crate) mod nodes;
pub(crate) mod ops;
pub(crate) mod orchestrate;
pub(crate) mod power_request;
pub(crate) mod roles;
pub(crate) mod steps;
pub(crate) mod watchdog;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Notify, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub(crate) use error::EngineError;

use crate::config::Config;
use crate::inventory::lifecycle::{ProvisionState, Verb};
use crate::inventory::node::{self, Node};
use crate::inventory::readiness::{self, BootFiles};
use crate::net::probe;
use crate::net::ssh::SshOptions;
use crate::power::{self, PowerError, Target};
use crate::state::{Schema, State, Txn};
use crate::types::power::{PowerAction, PowerSpec, PowerState};
use crate::types::report::Report;
use hooks::{Effect, Effects};

/// Registers the engine's record kinds.
pub(crate) fn register(schema: &mut Schema) {
    model::register(schema);
}

/// Cheap-to-clone handle to the engine.
#[derive(Clone)]
pub(crate) struct Engine {
    state: State,
    config: Arc<Config>,
    /// What jigs may do, and how they (and the ssh power driver) reach
    /// nodes.
    jigs: Arc<jigs::Settings>,
    /// Wakes the annealer after writes that may have made work runnable.
    wake: Arc<Notify>,
    /// Wakes the watchdog when a node is queued for an early-boot slot.
    pace: Arc<Notify>,
    /// Post-commit effects in flight.
    effects: TaskTracker,
    /// Cancelled when effects still running at shutdown must stop.
    abandon: CancellationToken,
    /// Power actions (ipmitool, ssh, commands) running at once, at most
    /// [`POWER_AT_ONCE`]: a bulk verb over a rack queues behind them.
    power_slots: Arc<Semaphore>,
    /// Told of every run that ends (the metrics), once set.
    run_observer: Arc<std::sync::OnceLock<RunObserver>>,
    /// What a bootenv must have before a node is given it; checked on
    /// every write.
    boot_files: Arc<BootFiles>,
}

/// What the engine tells of each run that ends: its outcome and how long
/// it took.
type RunObserver = Box<dyn Fn(model::Outcome, f64) + Send + Sync>;

/// How many power actions may run at once.
const POWER_AT_ONCE: usize = 16;

impl Engine {
    pub(crate) fn new(state: State, config: Arc<Config>) -> Engine {
        let ssh = SshOptions {
            user: config.engine.ssh_user.clone(),
            key: config.engine.ssh_key.clone(),
            known_hosts: config.engine.ssh_known_hosts.clone(),
        };
        let probe = config.engine.alive_probe.then(|| Duration::from_secs(config.engine.alive_probe_timeout_seconds));
        let jigs = jigs::Settings { ssh, allow_local_scripts: config.engine.allow_local_scripts, probe };
        let boot_files = Arc::new(BootFiles::new(config.files_dir(), config.boot.discovery_bootenv.clone()));
        Engine {
            boot_files,
            state,
            config,
            jigs: Arc::new(jigs),
            wake: Arc::new(Notify::new()),
            pace: Arc::new(Notify::new()),
            effects: TaskTracker::new(),
            abandon: CancellationToken::new(),
            power_slots: Arc::new(Semaphore::new(POWER_AT_ONCE)),
            run_observer: Arc::default(),
        }
    }

    /// Runs `f` as one transaction that may produce effects; once it has
    /// committed, wakes the annealer and carries the effects out.
    pub(crate) async fn write<T, F>(&self, f: F) -> Result<T, EngineError>
    where
        F: FnOnce(&mut Txn<'_>, &mut Effects) -> Result<T, EngineError> + Send + 'static,
        T: Send + 'static,
    {
        let value = self.write_quietly(f).await?;
        self.wake.notify_one();
        Ok(value)
    }

    /// [`Engine::write`] without waking the annealer: for the annealer's
    /// own claims, which would otherwise wake it again at once and, with
    /// TODO noderoles it cannot claim (their node unavailable), keep the
    /// writer busy forever.
    pub(crate) async fn write_quietly<T, F>(&self, f: F) -> Result<T, EngineError>
    where
        F: FnOnce(&mut Txn<'_>, &mut Effects) -> Result<T, EngineError> + Send + 'static,
        T: Send + 'static,
    {
        let boot_files = self.boot_files.clone();
        let (value, effects) = self
            .state
            .write(move |txn| {
                let mut effects = Effects::new();
                let v = f(txn, &mut effects)?;
                // Whichever way a node was given a bootenv, it must be
                // able to boot it.
                readiness::check(txn, &boot_files)?;
                Ok::<_, EngineError>((v, effects))
            })
            .await?;
        self.carry_out(effects);
        Ok(value)
    }

    /// What lifecycle steps need from the config; `deploy`: what a deploy
    /// or rebuild installs, when the verb names it.
    pub(crate) fn bootenvs(&self, deploy: Option<String>) -> steps::Bootenvs {
        steps::Bootenvs {
            agent: self.config.boot.discovery_bootenv.clone(),
            deploy,
            early_boot_max: self.config.power.early_boot_max,
        }
    }

    /// Has `observe` told of every run that ends from now on (set once).
    pub(crate) fn observe_runs(&self, observe: impl Fn(model::Outcome, f64) + Send + Sync + 'static) {
        let _ = self.run_observer.set(Box::new(observe));
    }

    /// Starts the post-commit effects as tasks of the engine.
    fn carry_out(&self, effects: Effects) {
        for effect in effects {
            let node = match effect {
                Effect::Reboot { node } => node,
                Effect::ForgetHostKey { node } => {
                    self.forget_host_key(&node);
                    continue;
                }
                Effect::Verify { node } => {
                    self.verify(node);
                    continue;
                }
                Effect::Pace => {
                    self.pace.notify_one();
                    continue;
                }
                Effect::RunEnded { outcome, ms } => {
                    if let Some(observe) = self.run_observer.get() {
                        observe(outcome, ms as f64 / 1000.0);
                    }
                    continue;
                }
            };
            let Some(n) = self.state.snapshot().table::<Node>().get(&node).cloned() else { continue };
            if n.protected {
                tracing::warn!(node = %n.name, "reboot after commit refused: the node is protected");
                continue;
            }
            if let Err(e) = self.permits_power(n.power.as_ref()) {
                tracing::warn!(node = %n.name, error = %e, "reboot after commit refused");
                continue;
            }
            let target = self.target(&n);
            let (engine, abandon, slots) = (self.clone(), self.abandon.clone(), self.power_slots.clone());
            self.effects.spawn(async move {
                tokio::select! {
                    r = async {
                        let _slot = slots.acquire().await;
                        power::act(&target, PowerAction::Reboot, &engine.jigs.ssh).await
                    } => match r {
                        Ok(_) => {
                            tracing::info!(node = %target.node, "rebooted after commit");
                            if target.spec.as_ref().is_some_and(PowerSpec::is_bmc) {
                                engine.power_is(&target.node, PowerState::On).await;
                            }
                        }
                        Err(e) => tracing::warn!(node = %target.node, error = %Report(&e), "reboot after commit failed"),
                    },
                    () = abandon.cancelled() => tracing::warn!(node = %target.node, "reboot abandoned at shutdown"),
                }
            });
        }
    }

    /// Asks the node's BMC for its power status and ends its `verifying`
    /// step with the answer, as a task of the engine. The answer counts
    /// only for the step and credentials it checked: a node that left
    /// `verifying`, or entered it again, or was deleted and made again, or
    /// got other credentials meanwhile, is left to its own check.
    pub(crate) fn verify(&self, node: String) {
        let Some(n) = self.state.snapshot().table::<Node>().get(&node).cloned() else { return };
        let target = self.target(&n);
        let checked = (n.provision_step, n.created_at, n.power.clone());
        let (engine, abandon, slots) = (self.clone(), self.abandon.clone(), self.power_slots.clone());
        self.effects.spawn(async move {
            let answer = tokio::select! {
                r = async {
                    let _slot = slots.acquire().await;
                    power::act(&target, PowerAction::Status, &engine.jigs.ssh).await
                } => r,
                () = abandon.cancelled() => return,
            };
            if let Ok(out) = &answer {
                engine.power_is(&node, crate::types::power::state_in(out)).await;
            }
            let outcome = answer.map(|_| ()).map_err(|e| match e {
                PowerError::Failed { output, .. } => {
                    format!("the BMC refused the power credentials, or did not answer: {output}")
                }
                PowerError::Bmc { status: 401 | 403, .. } => {
                    format!("the BMC refused the power credentials: {}", Report(&e))
                }
                PowerError::TimedOut | PowerError::Http(_) => format!("the BMC did not answer: {}", Report(&e)),
                other => format!("cannot check the power credentials: {}", Report(&other)),
            });
            let name = node.clone();
            let r = engine
                .write(move |txn, fx| {
                    let same = txn.world().table::<Node>().get(&name).is_some_and(|n| {
                        n.provision_state == ProvisionState::Verifying
                            && (n.provision_step, n.created_at, n.power.clone()) == checked
                    });
                    if !same {
                        return Ok(());
                    }
                    match outcome {
                        Ok(()) => node::provision(txn, &name, Verb::Done)?,
                        Err(why) => node::fail_step(txn, &name, why)?,
                    };
                    hooks::node_event(txn, hooks::NodeEvent::Changed, &name, fx)
                })
                .await;
            if let Err(e) = r {
                tracing::error!(%node, error = %Report(&e), "cannot record the power credential check");
            }
        });
    }

    /// What a power driver needs to know of `n`: its driver, its address,
    /// and whether its agent last booted under UEFI.
    pub(crate) fn target(&self, n: &Node) -> Target {
        let uefi = self
            .state
            .snapshot()
            .table::<crate::inventory::facts::Facts>()
            .get(&n.name)
            .is_some_and(|f| f.booted_uefi());
        Target { node: n.name.clone(), ip: n.ipv4, spec: n.power.clone(), uefi }
    }

    /// Records what a power driver said about a node.
    async fn power_is(&self, node: &str, state: PowerState) {
        let name = node.to_string();
        if let Err(e) = self.state.write(move |txn| node::record_power(txn, &name, state)).await {
            tracing::warn!(%node, error = %Report(&e), "cannot record the node's power state");
        }
    }

    /// Forgets the node's SSH host key in Fulcrum's known-hosts file, as
    /// a task of the engine.
    fn forget_host_key(&self, node: &str) {
        let Some(ip) = self.state.snapshot().table::<Node>().get(node).and_then(|n| n.ipv4) else { return };
        let Some(known_hosts) = self.jigs.ssh.known_hosts.clone() else { return };
        let node = node.to_string();
        self.effects.spawn(async move {
            if let Err(e) = probe::forget_host_key(&known_hosts, ip.into()).await {
                tracing::warn!(%node, error = %Report(&e), "cannot forget the node's old SSH host key");
            }
        });
    }

    /// Waits for the post-commit effects in flight (up to the shutdown
    /// grace period; the rest are stopped).
    pub(crate) async fn close(&self) {
        self.effects.close();
        let grace = Duration::from_secs(self.config.engine.shutdown_grace_seconds);
        if tokio::time::timeout(grace, self.effects.wait()).await.is_err() {
            self.abandon.cancel();
            self.effects.wait().await;
        }
    }
}
