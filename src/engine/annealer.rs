//! The annealer: finds runnable noderoles and runs their jigs.
//!
//! A noderole is runnable when it is TODO, its deployment is committed, its
//! node is alive AND available AND in a lifecycle state its role runs in
//! (`provision_states`, default active) AND not protected if the role is
//! destructive, and no other noderole of that node is in TRANSITION or
//! ERROR. At most one run per node at any moment, and at most
//! `engine.max_concurrent_runs` in the whole system. Claiming (TODO ->
//! TRANSITION plus a persisted `Run`) is one transaction; completing
//! (the run's outcome, the noderole's new state, its hooks and what they
//! imply for children) is another.
//!
//! Crash rule: a run that did not end normally (Fulcrum was killed, or
//! stopped while the run was still going after the shutdown grace period)
//! is closed as `interrupted` and its noderole goes back to TODO (or
//! BLOCKED) to be run again, so no run is lost and none is counted twice.
//! A destructive role's interrupted noderole goes to ERROR instead: it may
//! have half-done its one-time work, so an operator decides (retry). Runs
//! left marked running by a killed process get this at the next start-up;
//! runs cut short by a shutdown get it before the process exits.
//!
//! Aliveness (seed 001): before a jig that acts on its node over SSH, the
//! node is probed (ping, then an SSH login). A node that fails gets no
//! jig: the run is recorded as `unreachable`, the node marked not alive
//! (its noderoles back to TODO or BLOCKED, every descendant BLOCKED, its
//! node hooks told), and the noderole waits for it. A node written after
//! its run was claimed (it reported in while the probe ran) is not marked
//! dead by that probe: the noderole goes back to be claimed and probed
//! again.
//!
//! Every worker belongs to the annealer's task tracker: at shutdown the
//! annealer stops claiming, lets running jigs finish for
//! `engine.shutdown_grace_seconds`, then stops the rest (their local
//! processes are killed; an ssh jig's remote script may go on) and records
//! them as interrupted, and returns only when every worker has.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::error::EngineError;
use super::graph;
use super::hooks::{self, merged_attribs, run_data, Effects, NodeEvent};
use super::jigs::{self, Job};
use super::model::{Deployment, DeploymentState, NodeRole, NrEvent, NrState, Outcome, Role, RoleFlag, Run};
use super::Engine;
use crate::inventory::node::{self, Node};
use crate::state::{Txn, World};
use crate::types::report::Report;
use crate::types::time::now_ms;

/// The input a run gets: node, role, merged attributes, its parents with
/// their wall data, and `data`, everything it may read merged (see
/// [`run_data`]).
fn input(w: &World, id: u64) -> Value {
    let noderoles = w.table::<NodeRole>();
    let Some(nr) = noderoles.get(&id) else { return Value::Null };
    let node = w.table::<Node>().get(&nr.node);
    let ipv6 = node.and_then(|n| n.ipv6(w));
    let parents: Vec<Value> = nr
        .parents
        .iter()
        .filter_map(|p| noderoles.get(p))
        .map(|p| json!({ "noderole": p.id, "role": p.role, "node": p.node, "wall": p.wall }))
        .collect();
    json!({
        "noderole": nr.id,
        "role": nr.role,
        "deployment": nr.deployment,
        "node": { "name": nr.node, "ipv4": node.and_then(|n| n.ipv4), "ipv6": ipv6 },
        "attribs": merged_attribs(w, nr),
        "parents": parents,
        "data": run_data(w, nr),
    })
}

/// Whether a node may get a run of `role` now: alive, available, in a
/// lifecycle state the role runs in, not protected if the role is
/// destructive, with nothing running or failed.
fn node_free(w: &World, node: &str, role: Option<&Role>) -> bool {
    let fits = |n: &Node, r: &Role| {
        r.provision_states.allows(n.provision_state) && !(n.protected && r.has(RoleFlag::Destructive))
    };
    w.table::<Node>().get(node).is_some_and(|n| n.alive && n.available && role.is_some_and(|r| fits(n, r)))
        && !w.table::<NodeRole>().of_node(node).any(|n| matches!(n.state, NrState::Transition | NrState::Error))
}

/// Claims up to `slots` runnable noderoles: TRANSITION plus a Run record.
pub(crate) fn claim(txn: &mut Txn<'_>, slots: usize, fx: &mut Effects) -> Result<Vec<Job>, EngineError> {
    let mut picked: Vec<u64> = Vec::new();
    let mut nodes: HashSet<String> = HashSet::new();
    {
        let w = txn.world();
        let deployments = w.table::<Deployment>();
        for nr in w.table::<NodeRole>().todo() {
            if picked.len() >= slots {
                break;
            }
            if nodes.contains(&nr.node) {
                continue;
            }
            let committed = deployments.get(&nr.deployment).is_some_and(|d| d.state == DeploymentState::Committed);
            if committed && node_free(w, &nr.node, w.table::<Role>().get(&nr.role).map(|r| &**r)) {
                nodes.insert(nr.node.clone());
                picked.push(nr.id);
            }
        }
    }
    let mut jobs = Vec::with_capacity(picked.len());
    for id in picked {
        let w = txn.world();
        let Some(role) = w.table::<NodeRole>().get(&id).and_then(|nr| w.table::<Role>().get(&nr.role)) else {
            continue;
        };
        let role = (**role).clone();
        let data = input(w, id);
        let nr = graph::transition(txn, id, NrEvent::Start, fx)?;
        // Its admin address: IPv4, else its IPv6 (on a v6-only network).
        let w = txn.world();
        let node_as_claimed = w.table::<Node>().get(&nr.node).cloned();
        let node_ip = w.table::<Node>().get(&nr.node).and_then(|n| {
            n.ipv4.map(std::net::IpAddr::V4).or_else(|| n.ipv6(w).map(std::net::IpAddr::V6)).map(|i| i.to_string())
        });
        let run_id = txn.world().table::<Run>().next_id();
        txn.put(Run {
            id: run_id,
            noderole: id,
            node: nr.node.clone(),
            role: nr.role.clone(),
            deployment: nr.deployment.clone(),
            outcome: Outcome::Running,
            started_ms: now_ms(),
            ended_ms: None,
            input: data.clone(),
            log: String::new(),
        })?;
        // Only a run that succeeded did the one-time work; a failed one
        // may have done none of it, so a retry runs the jig again.
        let skip = role.has(RoleFlag::Destructive) && nr.succeeded_runs > 0;
        jobs.push(Job {
            run_id,
            noderole: id,
            node: nr.node.clone(),
            node_ip,
            role,
            input: data,
            skip,
            node_as_claimed,
        });
    }
    Ok(jobs)
}

/// Records a finished run and moves its noderole on.
pub(crate) fn complete(txn: &mut Txn<'_>, job: &Job, out: jigs::Outcome, fx: &mut Effects) -> Result<(), EngineError> {
    let Some(mut run) = txn.world().table::<Run>().get(&job.run_id).map(|r| (**r).clone()) else { return Ok(()) };
    let unreachable = out.unreachable();
    run.outcome = match (out.ok, job.skip) {
        _ if unreachable => Outcome::Unreachable,
        (true, true) => Outcome::Skipped,
        (true, false) => Outcome::Succeeded,
        (false, _) => Outcome::Failed,
    };
    run.ended_ms = Some(now_ms());
    let ms = run.ended_ms.unwrap_or_default().saturating_sub(run.started_ms);
    fx.push(super::hooks::Effect::RunEnded { outcome: run.outcome, ms });
    run.log = match &out.error {
        Some(e) => {
            format!("{}{}error: {e}\n", out.log, if out.log.is_empty() || out.log.ends_with('\n') { "" } else { "\n" })
        }
        None => out.log.clone(),
    };
    txn.put(run)?;
    // A node written since the claim (it reported alive again while the
    // probe ran, say) is not judged by that probe. Record identity, not a
    // timestamp: `updated_at` counts seconds, and a write earlier in the
    // same second as the probe once kept a dead node from ever being
    // marked dead (requeued and probed again, dozens of times a second).
    let current = txn.world().table::<Node>().get(&job.node);
    let stale = match (current, &job.node_as_claimed) {
        (Some(now), Some(then)) => !Arc::ptr_eq(now, then),
        _ => true,
    };
    if let Some(check) = out.probe {
        if txn.world().table::<Node>().contains(&job.node) {
            node::record_probe(txn, &job.node, check)?;
        }
    }
    let still_running =
        txn.world().table::<NodeRole>().get(&job.noderole).is_some_and(|n| n.state == NrState::Transition);
    if !still_running {
        return Ok(());
    }
    if unreachable {
        // Seed 001: a node that fails the test is dead, and its noderoles
        // (this one too: its jig never ran) wait for it to come back.
        let was_alive = txn.world().table::<Node>().get(&job.node).is_some_and(|n| n.alive);
        if was_alive && !stale {
            hooks::set_alive(txn, &job.node, false, fx)?;
            hooks::node_event(txn, NodeEvent::Changed, &job.node, fx)?;
        }
        let nr = super::ops::noderole(txn.world(), job.noderole)?;
        let r = graph::ready(txn.world(), &nr);
        graph::transition(txn, job.noderole, NrEvent::Requeue { ready: r }, fx)?;
        return Ok(());
    }
    if out.ok {
        graph::succeeded(txn, job.noderole, out.wall, fx)
    } else {
        graph::failed(txn, job.noderole, out.error.unwrap_or_else(|| "failed".into()), fx)
    }
}

/// Applies the crash rule to one run still marked running. `started`:
/// whether its jig may have begun (false while its node was being probed:
/// then even a destructive role did nothing, and is simply run again).
fn interrupt(txn: &mut Txn<'_>, run_id: u64, why: &str, started: bool, fx: &mut Effects) -> Result<(), EngineError> {
    let Some(mut run) = txn.world().table::<Run>().get(&run_id).map(|r| (**r).clone()) else { return Ok(()) };
    if run.outcome != Outcome::Running {
        return Ok(());
    }
    run.outcome = Outcome::Interrupted;
    run.ended_ms = Some(now_ms());
    let ms = run.ended_ms.unwrap_or_default().saturating_sub(run.started_ms);
    fx.push(super::hooks::Effect::RunEnded { outcome: run.outcome, ms });
    run.log.push_str(&format!("interrupted: {why}\n"));
    let noderole = run.noderole;
    txn.put(run)?;
    let Some(nr) = txn.world().table::<NodeRole>().get(&noderole).cloned() else { return Ok(()) };
    if nr.state != NrState::Transition {
        return Ok(());
    }
    let destructive = txn.world().table::<Role>().get(&nr.role).is_some_and(|r| r.has(RoleFlag::Destructive));
    if destructive && started {
        graph::failed(txn, noderole, "interrupted run of a destructive role; retry it to run again".into(), fx)
    } else {
        let r = graph::ready(txn.world(), &nr);
        graph::transition(txn, noderole, NrEvent::Requeue { ready: r }, fx).map(|_| ())
    }
}

/// Applies the crash rule to runs left running by a previous process.
pub(crate) fn recover(txn: &mut Txn<'_>, fx: &mut Effects) -> Result<usize, EngineError> {
    let stale: Vec<u64> = txn.world().table::<Run>().running().map(|r| r.id).collect();
    for id in &stale {
        interrupt(txn, *id, "Fulcrum stopped during this run", true, fx)?;
    }
    Ok(stale.len())
}

/// Slots in use and the tokens every worker watches.
#[derive(Clone)]
struct Crew {
    in_flight: Arc<AtomicUsize>,
    /// Stop claiming more work.
    stop: CancellationToken,
    /// Stop the jigs still running (after the grace period).
    interrupt: CancellationToken,
}

/// Runs a job, records it, and, in the same transaction, claims the next
/// runnable noderole for the slot it frees: one commit per finished run
/// instead of two. Gives the slot back when nothing is runnable, or when
/// the annealer is stopping. Interrupted, it records its run as the crash
/// rule says.
async fn worker(engine: Engine, first: Job, crew: Crew) {
    let mut next = Some(first);
    while let Some(job) = next.take() {
        let started = AtomicBool::new(false);
        let out = tokio::select! {
            out = jigs::execute(&job, &engine.jigs, &started) => out,
            () = crew.interrupt.cancelled() => {
                let run = job.run_id;
                let started = started.load(Ordering::SeqCst);
                let r = engine
                    .write(move |txn, fx| interrupt(txn, run, "Fulcrum was stopped during this run", started, fx))
                    .await;
                if let Err(e) = r {
                    tracing::error!(run, error = %Report(&e), "cannot record an interrupted run; the next start will");
                }
                break;
            }
        };
        let (node, role, ok) = (job.node.clone(), job.role.name.clone(), out.ok);
        let retry_job = job.clone();
        let log = out.log.clone();
        let stop = crew.stop.clone();
        let recorded = engine
            .write(move |txn, fx| {
                complete(txn, &job, out, fx)?;
                // Asked on the writer thread, as the claim commits: no run
                // is claimed once the stop has been given.
                if stop.is_cancelled() {
                    Ok(Vec::new())
                } else {
                    claim(txn, 1, fx)
                }
            })
            .await;
        tracing::debug!(%node, %role, ok, "run finished");
        match recorded {
            Ok(mut jobs) => next = jobs.pop(),
            Err(e) => {
                // Completing failed (e.g. a hook refused its change): the run
                // must still end, or its node would be held forever. Record it
                // as failed with the reason; the noderole goes to ERROR.
                tracing::warn!(%node, %role, error = %Report(&e), "completing the run failed; recording it as failed");
                let failed = jigs::Outcome {
                    ok: false,
                    wall: Default::default(),
                    log,
                    error: Some(format!("completing the run failed: {e}")),
                    probe: None,
                };
                let r = engine.write(move |txn, fx| complete(txn, &retry_job, failed, fx)).await;
                if let Err(e) = r {
                    tracing::error!(%node, %role, error = %Report(&e), "cannot record a finished run");
                }
            }
        }
    }
    crew.in_flight.fetch_sub(1, Ordering::SeqCst);
    engine.wake.notify_one();
}

/// Runs the annealer until `stop` is cancelled, then winds its workers
/// down (see the module documentation).
pub(crate) async fn run(engine: Engine, stop: CancellationToken) {
    match engine.write(recover).await {
        Ok(0) => {}
        Ok(n) => tracing::warn!(runs = n, "runs interrupted by the last stop were closed (crash rule applied)"),
        Err(e) => tracing::error!(error = %Report(&e), "cannot apply the crash rule to interrupted runs"),
    }
    let cap = engine.config.engine.max_concurrent_runs as usize;
    let crew =
        Crew { in_flight: Arc::new(AtomicUsize::new(0)), stop: stop.clone(), interrupt: CancellationToken::new() };
    let workers = TaskTracker::new();
    while !stop.is_cancelled() {
        let free = cap.saturating_sub(crew.in_flight.load(Ordering::SeqCst));
        let mut claimed = 0;
        if free > 0 && engine.state.snapshot().table::<NodeRole>().todo_count() > 0 {
            match engine.write_quietly(move |txn, fx| claim(txn, free, fx)).await {
                Ok(jobs) => {
                    claimed = jobs.len();
                    for job in jobs {
                        crew.in_flight.fetch_add(1, Ordering::SeqCst);
                        workers.spawn(worker(engine.clone(), job, crew.clone()));
                    }
                }
                Err(e) => tracing::error!(error = %Report(&e), "annealer cannot claim runs"),
            }
        }
        // Claimed some with slots to spare: look again at once. Otherwise
        // wait for a wake-up (a write, a finished run) or the stop.
        if claimed > 0 && claimed < free {
            continue;
        }
        tokio::select! {
            () = engine.wake.notified() => {}
            () = stop.cancelled() => {}
            () = tokio::time::sleep(Duration::from_secs(2)) => {}
        }
    }
    workers.close();
    let grace = Duration::from_secs(engine.config.engine.shutdown_grace_seconds);
    if tokio::time::timeout(grace, workers.wait()).await.is_err() {
        tracing::warn!(
            runs = crew.in_flight.load(Ordering::SeqCst),
            "runs still going after the shutdown grace period are stopped and recorded as interrupted"
        );
        crew.interrupt.cancel();
        workers.wait().await;
    }
}

/// How many noderoles are in each state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub(crate) struct StateCounts {
    pub(crate) proposed: usize,
    pub(crate) todo: usize,
    pub(crate) transition: usize,
    pub(crate) active: usize,
    pub(crate) blocked: usize,
    pub(crate) error: usize,
}

impl StateCounts {
    /// Counts the states of `noderoles`.
    pub(crate) fn of<'a>(noderoles: impl Iterator<Item = &'a NodeRole>) -> StateCounts {
        let mut c = StateCounts::default();
        for nr in noderoles {
            *c.get_mut(nr.state) += 1;
        }
        c
    }

    /// The count of one state.
    pub(crate) fn get(&self, s: NrState) -> usize {
        match s {
            NrState::Proposed => self.proposed,
            NrState::Todo => self.todo,
            NrState::Transition => self.transition,
            NrState::Active => self.active,
            NrState::Blocked => self.blocked,
            NrState::Error => self.error,
        }
    }

    fn get_mut(&mut self, s: NrState) -> &mut usize {
        match s {
            NrState::Proposed => &mut self.proposed,
            NrState::Todo => &mut self.todo,
            NrState::Transition => &mut self.transition,
            NrState::Active => &mut self.active,
            NrState::Blocked => &mut self.blocked,
            NrState::Error => &mut self.error,
        }
    }
}

/// Where annealing stands (OpenCrowbar's status).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Progress {
    /// Some noderole is in TODO or TRANSITION.
    Working,
    /// Nothing left to do.
    Finished,
    /// Some noderole is in ERROR.
    Failed,
}

impl Progress {
    /// The status of noderoles with these counts.
    pub(crate) fn of(c: &StateCounts) -> Progress {
        if c.error > 0 {
            Progress::Failed
        } else if c.todo + c.transition > 0 {
            Progress::Working
        } else {
            Progress::Finished
        }
    }
}

/// Annealing status over all noderoles, or one deployment's.
pub(crate) fn status(w: &World, deployment: Option<&str>) -> (Progress, StateCounts) {
    let noderoles = w.table::<NodeRole>();
    let counts = match deployment {
        Some(d) => StateCounts::of(noderoles.of_deployment(d).map(|n| &**n)),
        None => StateCounts::of(noderoles.iter().map(|n| &**n)),
    };
    (Progress::of(&counts), counts)
}
