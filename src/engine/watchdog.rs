//! The lifecycle watchdog (MAAS's timeouts, Ironic's failed states): a
//! node that stays in an in-progress state (a step or a wait state)
//! longer than `[lifecycle]` allows goes to that state's failed state,
//! with the reason as its `last_error`, on the event stream and in the
//! API. A hung installer is noticed this way. The time a node entered its
//! state is stored with it, so a restart of Fulcrum does not restart the
//! clock. At start-up, nodes left in a step (not a wait) fail at once. A
//! failed node boots from its disk (`local`). It also confirms power
//! actions: a node rebooted for a network boot whose DHCP request does not
//! come within `power.confirm_seconds` is rebooted once more, then its
//! step fails. And it paces power-on: nodes queued for an early-boot slot
//! (`power.early_boot_max`) are powered as others fetch their kernels.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::hooks::{self, Effect, NodeEvent};
use super::steps;
use super::Engine;
use crate::config::LifecycleConfig;
use crate::inventory::lifecycle::ProvisionState;
use crate::inventory::node::{self, AwaitBoot, BootPhase, Node};
use crate::state::World;
use crate::types::power::PowerSpec;
use crate::types::report::Report;
use crate::types::time::now;

/// The longest pause between two looks.
const MAX_TICK: Duration = Duration::from_secs(30);

/// How long a node may stay in `state`, if it is an in-progress one.
fn limit(config: &LifecycleConfig, state: ProvisionState) -> Option<u64> {
    use ProvisionState as S;
    match state {
        S::Verifying | S::Adopting => Some(config.verify_timeout_seconds),
        S::Inspecting | S::InspectWait => Some(config.inspect_timeout_seconds),
        S::Cleaning | S::CleanWait | S::Deleting => Some(config.clean_timeout_seconds),
        S::Deploying | S::WaitCallBack => Some(config.deploy_timeout_seconds),
        S::Rescuing | S::RescueWait | S::Unrescuing => Some(config.rescue_timeout_seconds),
        _ => None,
    }
}

/// Ironic's rule at start-up: a step Fulcrum was carrying out itself when
/// it stopped cannot resume, so its node goes to the failed state, saying
/// so; a BMC credential check (`verifying`) is simply asked again. Only
/// steps entered before this process started count: a node managed
/// through the API in the moments before this runs is this process's.
/// Wait states resume (their clocks run on).
async fn recover(engine: &Engine, started: u64) {
    let stuck: Vec<(String, ProvisionState, bool)> = engine
        .state
        .snapshot()
        .table::<Node>()
        .iter()
        .filter(|n| n.provision_state.is_step() && n.provision_since.unwrap_or(0) < started)
        .map(|n| (n.name.clone(), n.provision_state, n.power.as_ref().is_some_and(PowerSpec::is_bmc)))
        .collect();
    for (name, state, bmc) in stuck {
        if state == ProvisionState::Verifying && bmc {
            engine.verify(name);
            continue;
        }
        let who = name.clone();
        let r = engine
            .write(move |txn, fx| {
                if txn.world().table::<Node>().get(&name).is_none_or(|n| n.provision_state != state) {
                    return Ok(());
                }
                steps::fail(txn, &name, format!("Fulcrum stopped during {state}; that step cannot resume"))?;
                hooks::node_event(txn, NodeEvent::Changed, &name, fx)
            })
            .await;
        match r {
            Ok(()) => tracing::warn!(node = %who, %state, "a lifecycle step cut short by the last stop has failed"),
            Err(e) => {
                tracing::error!(node = %who, error = %Report(&e), "cannot fail a step cut short by the last stop")
            }
        }
    }
}

/// The nodes past their state's limit at `t`: name, state, and when they
/// entered it. A node stored before entry times were kept counts from its
/// last update.
fn overdue(w: &World, config: &LifecycleConfig, t: u64) -> Vec<(String, ProvisionState, u64)> {
    w.table::<Node>()
        .iter()
        .filter(|n| n.provision_state.in_progress())
        // Time waiting for an early-boot slot does not count against a step.
        .filter(|n| !n.awaiting_boot.is_some_and(|a| a.phase == BootPhase::Queued))
        .filter_map(|n| {
            let since = n.provision_since.unwrap_or(n.updated_at);
            let max = limit(config, n.provision_state)?;
            (t.saturating_sub(since) >= max).then(|| (n.name.clone(), n.provision_state, since))
        })
        .collect()
}

/// Power actions a network boot gets before its step fails.
const POWER_TRIES: u8 = 2;

/// Nodes whose awaited network boot is overdue at `t` (powered, or
/// booting without fetching its kernel): name, the wait.
fn unbooted(w: &World, confirm: u64, t: u64) -> Vec<(String, AwaitBoot)> {
    w.table::<Node>()
        .iter()
        .filter_map(|n| n.awaiting_boot.map(|a| (n.name.clone(), a)))
        .filter(|(_, a)| a.in_early_boot() && t.saturating_sub(a.since) >= confirm)
        .collect()
}

/// Powers queued nodes, oldest first, while early-boot slots are free.
/// Returns whether any node is still queued.
async fn release_queued(engine: &Engine, max: usize) -> bool {
    let w = engine.state.snapshot();
    let mut queued: Vec<(u64, String)> = w
        .table::<Node>()
        .iter()
        .filter_map(|n| n.awaiting_boot.filter(|a| a.phase == BootPhase::Queued).map(|a| (a.since, n.name.clone())))
        .collect();
    if queued.is_empty() {
        return false;
    }
    queued.sort();
    let free = max.saturating_sub(node::in_early_boot(&w));
    for (_, name) in queued.iter().take(free) {
        let name = name.clone();
        let r = engine
            .write(move |txn, fx| {
                let Some(n) = txn.world().table::<Node>().get(&name).cloned() else { return Ok(()) };
                if !n.awaiting_boot.is_some_and(|a| a.phase == BootPhase::Queued) {
                    return Ok(());
                }
                // Its step ended meanwhile (an abort): it needs no boot.
                if !n.provision_state.in_progress() {
                    node::stop_awaiting(txn, &name)?;
                } else if node::in_early_boot(txn.world()) < max {
                    node::powered_from_queue(txn, &name)?;
                    fx.push(Effect::Reboot { node: name.clone() });
                }
                Ok::<_, super::EngineError>(())
            })
            .await;
        if let Err(e) = r {
            tracing::error!(error = %Report(&e), "cannot power a queued node");
        }
    }
    queued.len() > free
}

/// A power action that should have made a node boot from the network got
/// no DHCP request from it in time: it is repeated once through the
/// driver; after that the node's step fails, saying so (users of MAAS,
/// metal3 and Tinkerbell report machines booting from disk, and BMCs that
/// say yes and do nothing).
async fn confirm_boots(engine: &Engine, confirm: u64) {
    for (name, wait) in unbooted(&engine.state.snapshot(), confirm, now()) {
        let who = name.clone();
        let attempts = wait.attempts;
        let r = engine
            .write(move |txn, fx| {
                let still = txn.world().table::<Node>().get(&name).and_then(|n| n.awaiting_boot) == Some(wait);
                if !still {
                    return Ok(());
                }
                // It booted but never fetched a kernel here (another boot
                // path, a disk): its early boot is over, not failed.
                if wait.phase == BootPhase::Booting {
                    node::stop_awaiting(txn, &name)?;
                    return Ok(());
                }
                // Its step ended meanwhile: no boot to confirm any more.
                let in_step = txn.world().table::<Node>().get(&name).is_some_and(|n| n.provision_state.in_progress());
                if !in_step {
                    node::stop_awaiting(txn, &name)?;
                    return Ok(());
                }
                if attempts < POWER_TRIES {
                    node::expect_boot(txn, &name, attempts + 1, BootPhase::Powered)?;
                    fx.push(Effect::Reboot { node: name.clone() });
                    return Ok(());
                }
                node::stop_awaiting(txn, &name)?;
                let why = format!(
                    "no network boot within {confirm} s of each of {attempts} power actions (its DHCP request never came)"
                );
                steps::fail(txn, &name, why)?;
                hooks::node_event(txn, NodeEvent::Changed, &name, fx)
            })
            .await;
        match r {
            Ok(()) if wait.phase == BootPhase::Booting => {
                tracing::debug!(node = %who, "booted without fetching a kernel from Fulcrum; early boot over")
            }
            Ok(()) if attempts < POWER_TRIES => {
                tracing::warn!(node = %who, "no network boot after the power action; trying once more")
            }
            Ok(()) => tracing::warn!(node = %who, attempts, "no network boot after the power actions; step failed"),
            Err(e) => tracing::error!(node = %who, error = %Report(&e), "cannot act on an unconfirmed power action"),
        }
    }
}

/// Looks at the nodes every tick until `stop`: confirms power actions,
/// paces power-on, and fails nodes past their limit. `started`: when this
/// process started (unix seconds).
pub(crate) async fn run(engine: Engine, started: u64, stop: CancellationToken) {
    recover(&engine, started).await;
    let confirm = engine.config.power.confirm_seconds;
    let config = engine.config.lifecycle.clone();
    let shortest = [
        config.verify_timeout_seconds,
        config.inspect_timeout_seconds,
        config.clean_timeout_seconds,
        config.deploy_timeout_seconds,
        config.rescue_timeout_seconds,
        confirm,
    ]
    .into_iter()
    .min()
    .unwrap_or(1);
    // A quarter of the shortest limit: a node fails at most 25 % late.
    let tick = Duration::from_millis(shortest.saturating_mul(250)).clamp(Duration::from_millis(250), MAX_TICK);
    let early_boot_max = engine.config.power.early_boot_max;
    loop {
        confirm_boots(&engine, confirm).await;
        let waiting = release_queued(&engine, early_boot_max).await;
        let t = now();
        for (name, state, since) in overdue(&engine.state.snapshot(), &config, t) {
            let max = limit(&config, state).unwrap_or_default();
            let reason = format!("{state} took longer than {max} s (watchdog; lifecycle settings)");
            let who = name.clone();
            let r = engine
                .write(move |txn, fx| {
                    // Still in that state since then: not moved on meanwhile.
                    let same = txn.world().table::<Node>().get(&name).is_some_and(|n| {
                        n.provision_state == state && n.provision_since.unwrap_or(n.updated_at) == since
                    });
                    if !same {
                        return Ok(false);
                    }
                    steps::fail(txn, &name, reason)?;
                    hooks::node_event(txn, NodeEvent::Changed, &name, fx)?;
                    Ok(true)
                })
                .await;
            match r {
                Ok(true) => tracing::warn!(node = %who, %state, max, "lifecycle step timed out; node failed"),
                Ok(false) => {}
                Err(e) => tracing::error!(error = %Report(&e), "the lifecycle watchdog cannot fail a node"),
            }
        }
        // While power-on is being paced, look every second: a slot frees
        // when a node fetches its kernel (the boot room records it).
        let pacing = waiting || node::in_early_boot(&engine.state.snapshot()) > 0;
        let pause = if pacing { tick.min(Duration::from_secs(1)) } else { tick };
        tokio::select! {
            () = tokio::time::sleep(pause) => {}
            () = engine.pace.notified() => {}
            () = stop.cancelled() => return,
        }
    }
}
