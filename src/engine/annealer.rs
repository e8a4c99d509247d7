//! The annealer: finds runnable noderoles and runs their jigs.
//!
//! A noderole is runnable when it is TODO, its deployment is committed, its
//! node is alive AND available, and no other noderole of that node is in
//! TRANSITION or ERROR. At most one run per node at any moment, and at most
//! `engine.max_concurrent_runs` in the whole system. Claiming (TODO ->
//! TRANSITION plus a persisted `Run`) is one transaction; completing
//! (the run's outcome, the noderole's new state, its hooks and what they
//! imply for children) is another.
//!
//! Crash rule: at start-up, every run still marked running was interrupted.
//! It is closed as `interrupted` and its noderole goes back to TODO (or
//! BLOCKED) to be run again, so no run is lost and none is counted twice.
//! A destructive role's interrupted noderole goes to ERROR instead: it may
//! have half-done its one-time work, so an operator decides (retry).

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::sync::watch;

use super::graph;
use super::hooks::{merged_attribs, Effects};
use super::jigs::{self, Job};
use super::Engine;
use crate::state::orchestration::{now_ms, DeploymentState, NrEvent, NrState, Outcome, RoleFlag, Run};
use crate::state::{StateError, Txn, World};

/// The input a run gets: node, role, merged attributes, parents' wall.
fn input(w: &World, id: u64) -> Value {
    let Some(nr) = w.noderole(id) else { return Value::Null };
    let node = w.node(&nr.node);
    let ipv6 = node.and_then(|n| {
        n.network.as_deref().and_then(|x| w.network(x)).and_then(|net| net.v6_address(w.global_id(), &n.name))
    });
    let parents: Vec<Value> = nr
        .parents
        .iter()
        .filter_map(|p| w.noderole(*p))
        .map(|p| json!({ "noderole": p.id, "role": p.role, "node": p.node, "wall": p.wall }))
        .collect();
    json!({
        "noderole": nr.id,
        "role": nr.role,
        "deployment": nr.deployment,
        "node": { "name": nr.node, "ipv4": node.and_then(|n| n.ipv4), "ipv6": ipv6 },
        "attribs": merged_attribs(w, nr),
        "parents": parents,
    })
}

/// Whether a node may get a run now.
fn node_free(w: &World, node: &str) -> bool {
    w.node(node).is_some_and(|n| n.alive && n.available)
        && !w.noderoles_of_node(node).any(|n| matches!(n.state, NrState::Transition | NrState::Error))
}

/// Claims up to `slots` runnable noderoles: TRANSITION plus a Run record.
pub fn claim(txn: &mut Txn<'_>, slots: usize, fx: &mut Effects) -> Result<Vec<Job>, StateError> {
    let mut picked: Vec<u64> = Vec::new();
    let mut nodes: HashSet<String> = HashSet::new();
    {
        let w = txn.world();
        for nr in w.todo() {
            if picked.len() >= slots {
                break;
            }
            if nodes.contains(&nr.node) {
                continue;
            }
            let committed = w.deployment(&nr.deployment).is_some_and(|d| d.state == DeploymentState::Committed);
            if committed && node_free(w, &nr.node) {
                nodes.insert(nr.node.clone());
                picked.push(nr.id);
            }
        }
    }
    let mut jobs = Vec::with_capacity(picked.len());
    for id in picked {
        let data = input(txn.world(), id);
        let nr = graph::transition(txn, id, NrEvent::Start, fx)?;
        let Some(role) = txn.world().role(&nr.role).map(|r| (**r).clone()) else { continue };
        let node_ip = txn.world().node(&nr.node).and_then(|n| n.ipv4).map(|i| i.to_string());
        let run_id = txn.next_run_id();
        txn.put_run(Run {
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
        let skip = role.has(RoleFlag::Destructive) && nr.run_count > 0;
        jobs.push(Job { run_id, noderole: id, node: nr.node.clone(), node_ip, role, input: data, skip });
    }
    Ok(jobs)
}

/// Records a finished run and moves its noderole on.
pub fn complete(txn: &mut Txn<'_>, job: &Job, out: jigs::Outcome, fx: &mut Effects) -> Result<(), StateError> {
    let Some(mut run) = txn.world().run(job.run_id).map(|r| (**r).clone()) else { return Ok(()) };
    run.outcome = match (out.ok, job.skip) {
        (true, true) => Outcome::Skipped,
        (true, false) => Outcome::Succeeded,
        (false, _) => Outcome::Failed,
    };
    run.ended_ms = Some(now_ms());
    run.log = match &out.error {
        Some(e) => {
            format!("{}{}error: {e}\n", out.log, if out.log.is_empty() || out.log.ends_with('\n') { "" } else { "\n" })
        }
        None => out.log.clone(),
    };
    txn.put_run(run)?;
    let still_running = txn.world().noderole(job.noderole).is_some_and(|n| n.state == NrState::Transition);
    if !still_running {
        return Ok(());
    }
    if out.ok {
        graph::succeeded(txn, job.noderole, out.wall, fx)
    } else {
        graph::failed(txn, job.noderole, out.error.unwrap_or_else(|| "failed".into()), fx)
    }
}

/// Applies the crash rule to runs left running by a previous process.
pub fn recover(txn: &mut Txn<'_>, fx: &mut Effects) -> Result<usize, StateError> {
    let stale: Vec<Run> = txn.world().running_runs().map(|r| (**r).clone()).collect();
    for mut run in stale.iter().cloned() {
        run.outcome = Outcome::Interrupted;
        run.ended_ms = Some(now_ms());
        run.log.push_str("interrupted: Fulcrum stopped during this run\n");
        let noderole = run.noderole;
        txn.put_run(run)?;
        let Some(nr) = txn.world().noderole(noderole).cloned() else { continue };
        if nr.state != NrState::Transition {
            continue;
        }
        let destructive = txn.world().role(&nr.role).is_some_and(|r| r.has(RoleFlag::Destructive));
        if destructive {
            graph::failed(txn, noderole, "interrupted run of a destructive role; retry it to run again".into(), fx)?;
        } else {
            let r = graph::ready(txn.world(), &nr);
            graph::transition(txn, noderole, NrEvent::Requeue { ready: r }, fx)?;
        }
    }
    Ok(stale.len())
}

/// Runs a job, records it, and, in the same transaction, claims the next
/// runnable noderole for the slot it frees: one commit per finished run
/// instead of two. Gives the slot back when nothing is runnable.
async fn worker(engine: Engine, first: Job, in_flight: Arc<AtomicUsize>) {
    let mut next = Some(first);
    while let Some(job) = next.take() {
        let out = jigs::execute(&job, &engine.config.engine).await;
        let (node, role, ok) = (job.node.clone(), job.role.name.clone(), out.ok);
        let retry_job = job.clone();
        let log = out.log.clone();
        let recorded = engine
            .write(move |txn, fx| {
                complete(txn, &job, out, fx)?;
                claim(txn, 1, fx)
            })
            .await;
        tracing::debug!(%node, %role, ok, "run finished");
        match recorded {
            Ok(mut jobs) => next = jobs.pop(),
            Err(e) => {
                // Completing failed (e.g. a hook refused its change): the run
                // must still end, or its node would be held forever. Record it
                // as failed with the reason; the noderole goes to ERROR.
                tracing::warn!(%node, %role, error = %e, "completing the run failed; recording it as failed");
                let failed = jigs::Outcome {
                    ok: false,
                    wall: Default::default(),
                    log,
                    error: Some(format!("completing the run failed: {e}")),
                };
                let r = engine.write(move |txn, fx| complete(txn, &retry_job, failed, fx)).await;
                if let Err(e) = r {
                    tracing::error!(%node, %role, error = %e, "cannot record a finished run");
                }
            }
        }
    }
    in_flight.fetch_sub(1, Ordering::SeqCst);
    engine.wake.notify_one();
}

/// Runs the annealer until `stop` turns true.
pub async fn run(engine: Engine, mut stop: watch::Receiver<bool>) {
    match engine.write(recover).await {
        Ok(0) => {}
        Ok(n) => tracing::warn!(runs = n, "runs interrupted by the last stop were closed (crash rule applied)"),
        Err(e) => tracing::error!(error = %e, "cannot apply the crash rule to interrupted runs"),
    }
    let cap = engine.config.engine.max_concurrent_runs as usize;
    let in_flight = Arc::new(AtomicUsize::new(0));
    loop {
        if *stop.borrow() {
            return;
        }
        let free = cap.saturating_sub(in_flight.load(Ordering::SeqCst));
        let mut claimed = 0;
        if free > 0 && engine.state.snapshot().todo_count() > 0 {
            match engine.write(move |txn, fx| claim(txn, free, fx)).await {
                Ok(jobs) => {
                    claimed = jobs.len();
                    for job in jobs {
                        in_flight.fetch_add(1, Ordering::SeqCst);
                        let (engine, in_flight) = (engine.clone(), in_flight.clone());
                        tokio::spawn(worker(engine.clone(), job, in_flight.clone()));
                    }
                }
                Err(e) => tracing::error!(error = %e, "annealer cannot claim runs"),
            }
        }
        if claimed > 0 && claimed == free {
            // Possibly more work and no free slot: wait for a completion.
        } else if claimed > 0 {
            continue;
        }
        tokio::select! {
            _ = engine.wake.notified() => {}
            _ = stop.changed() => {}
            _ = tokio::time::sleep(Duration::from_secs(2)) => {}
        }
    }
}

/// Annealing status over all noderoles, or one deployment's: `failed` if
/// any is in ERROR, `working` while any is TODO or TRANSITION, else
/// `finished`.
pub fn status(w: &World, deployment: Option<&str>) -> (&'static str, [usize; 6]) {
    let mut counts = [0usize; 6];
    let iter: Box<dyn Iterator<Item = _>> = match deployment {
        Some(d) => Box::new(w.noderoles_of_deployment(d)),
        None => Box::new(w.noderoles()),
    };
    for nr in iter {
        let i = NrState::ALL.iter().position(|s| *s == nr.state).unwrap_or(0);
        counts[i] += 1;
    }
    let [_, todo, transition, _, _, error] = counts;
    let status = if error > 0 {
        "failed"
    } else if todo + transition > 0 {
        "working"
    } else {
        "finished"
    };
    (status, counts)
}
