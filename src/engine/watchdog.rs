//! The lifecycle watchdog (MAAS's timeouts, Ironic's failed states): a
//! node that stays in an in-progress state (a step or a wait state)
//! longer than `[lifecycle]` allows goes to that state's failed state,
//! with the reason as its `last_error`, on the event stream and in the
//! API. A hung installer is noticed this way. The time a node entered its
//! state is stored with it, so a restart of Fulcrum does not restart the
//! clock. At start-up, nodes left in a step (not a wait) fail at once. A
//! failed node boots from its disk (`local`).

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::hooks::{self, NodeEvent};
use super::steps;
use super::Engine;
use crate::config::LifecycleConfig;
use crate::inventory::lifecycle::ProvisionState;
use crate::inventory::node::Node;
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
        .map(|n| (n.name.clone(), n.provision_state, matches!(n.power, Some(PowerSpec::Ipmi { .. }))))
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
        .filter_map(|n| {
            let since = n.provision_since.unwrap_or(n.updated_at);
            let max = limit(config, n.provision_state)?;
            (t.saturating_sub(since) >= max).then(|| (n.name.clone(), n.provision_state, since))
        })
        .collect()
}

/// Looks at the nodes every tick until `stop`; fails those past their limit.
/// `started`: when this process started (unix seconds).
pub(crate) async fn run(engine: Engine, started: u64, stop: CancellationToken) {
    recover(&engine, started).await;
    let config = engine.config.lifecycle.clone();
    let shortest = [
        config.verify_timeout_seconds,
        config.inspect_timeout_seconds,
        config.clean_timeout_seconds,
        config.deploy_timeout_seconds,
        config.rescue_timeout_seconds,
    ]
    .into_iter()
    .min()
    .unwrap_or(1);
    // A quarter of the shortest limit: a node fails at most 25 % late.
    let tick = Duration::from_millis(shortest.saturating_mul(250)).clamp(Duration::from_millis(250), MAX_TICK);
    loop {
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
        tokio::select! {
            () = tokio::time::sleep(tick) => {}
            () = stop.cancelled() => return,
        }
    }
}
