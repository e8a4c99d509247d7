//! Crash safety, proved by crashing: Fulcrum runs under DHCP load, API
//! writes and an annealing deployment, and is killed with SIGKILL at a
//! random moment, restarted on the same data dir, and checked, round after
//! round. After every restart:
//! - the store opens and the server answers (`Server::start_in` waits);
//! - every acknowledged lease is there, with its address, and no address
//!   is held twice (by two leases, or by a lease and a node);
//! - every acknowledged node is there; the last acknowledged bootenv of
//!   the canary node, or the one written after it, is what it has;
//! - every run seen before the kill is still there, a finished one with the
//!   outcome it had; no noderole ran twice (at most one succeeded run
//!   each), none is in an impossible state (ACTIVE with a parent that is
//!   not, TRANSITION with no run going, ERROR in a deployment with nothing
//!   that may fail).
//!
//! At the end every deployment converges, each noderole with exactly one
//! succeeded run (runs interrupted by a kill are run again: the crash rule). `FULCRUM_CRASH_ROUNDS` sets the number of kills (6 in the
//! suite; `bench/crash-kill9.sh` runs 60), `FULCRUM_CRASH_SEED` the random
//! moments.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

use crate::harness::{loopback_config, wait_for, Ports, Server};
use fulcrum::demo::relay::{Relay, Stage};
use fulcrum::types::mac::Mac;

const RELAY: Ipv4Addr = Ipv4Addr::new(127, 74, 0, 1);
/// DHCP clients per worker; each takes its lease again and again.
const CLIENTS: u8 = 20;
const WORKERS: u8 = 4;
/// Nodes (each with a chain of three roles) per round's deployment.
const NODES_PER_ROUND: usize = 3;
const BOOTENVS: [&str; 3] = ["local", "discovery", "ubuntu-24.04"];

/// One HTTP exchange with the API that may fail (the server may be dead):
/// `None` when curl got no answer.
fn api(base: &str, token: &str, cert: &Path, method: &str, path: &str, body: Option<&Value>) -> Option<(u16, Value)> {
    let mut cmd = Command::new("curl");
    cmd.args(["-sS", "-m", "5", "-X", method, "-w", "\n%{http_code}", "-H"])
        .arg(format!("Authorization: Bearer {token}"))
        .arg("--cacert")
        .arg(cert)
        .arg(format!("{base}{path}"));
    if let Some(b) = body {
        cmd.args(["-H", "content-type: application/json", "--data-binary", &b.to_string()]);
    }
    let out = cmd.output().ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let (body, code) = text.rsplit_once('\n')?;
    Some((code.trim().parse().ok()?, serde_json::from_str(body).unwrap_or(Value::String(body.to_string()))))
}

/// What the harness saw acknowledged, across rounds.
#[derive(Default)]
struct Acked {
    /// Client MAC -> the address its last ACK gave.
    leases: HashMap<[u8; 6], Ipv4Addr>,
    /// Nodes whose creation was answered 201.
    nodes: HashSet<String>,
    /// The canary's bootenv: the last acknowledged, and the one in flight.
    canary: Option<(String, String)>,
    /// Run id -> the outcome last seen (before a kill).
    runs: HashMap<u64, String>,
}

struct Rig {
    cfg: String,
    ports: Ports,
    cert: PathBuf,
    token: String,
    base: String,
}

impl Rig {
    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Option<(u16, Value)> {
        api(&self.base, &self.token, &self.cert, method, path, body.as_ref())
    }

    fn ok(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let (code, v) = self.call(method, path, body.clone()).unwrap_or_else(|| panic!("{method} {path}: no answer"));
        assert!((200..300).contains(&code), "{method} {path} {body:?}: {code} {v}");
        v
    }
}

fn mac_text(mac: &[u8; 6]) -> String {
    mac.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":")
}

/// Everything that must hold after a restart.
fn check(rig: &Rig, acked: &Acked, round: usize) {
    let ctx = |what: &str| format!("after kill {round}: {what}");
    // Leases: all acknowledged ones, each address once.
    let leases = rig.ok("GET", "/api/v1/leases", None);
    let mut by_ip: HashMap<String, String> = HashMap::new();
    for l in leases.as_array().expect("leases") {
        let ip = l["ip"].as_str().unwrap_or_default().to_string();
        let mac = l["mac"].as_str().unwrap_or_default().to_string();
        assert!(by_ip.insert(ip.clone(), mac).is_none(), "{}", ctx(&format!("{ip} leased twice")));
    }
    for (mac, ip) in &acked.leases {
        let want = mac_text(mac);
        assert_eq!(
            by_ip.get(&ip.to_string()),
            Some(&want),
            "{}",
            ctx(&format!("acknowledged lease {ip} -> {want} lost"))
        );
    }
    // Nodes: all acknowledged ones, no address twice, none on a lease's.
    let nodes = rig.ok("GET", "/api/v1/nodes", None);
    let nodes = nodes.as_array().expect("nodes");
    let names: HashSet<String> = nodes.iter().filter_map(|n| n["name"].as_str().map(str::to_string)).collect();
    for n in &acked.nodes {
        assert!(names.contains(n), "{}", ctx(&format!("acknowledged node {n} lost")));
    }
    let mut addrs = HashSet::new();
    for n in nodes {
        if let Some(ip) = n["ipv4"].as_str() {
            assert!(addrs.insert(ip.to_string()), "{}", ctx(&format!("{ip} is two nodes' address")));
            assert!(!by_ip.contains_key(ip), "{}", ctx(&format!("{ip} is a node's and a lease's")));
        }
    }
    if let Some((last, next)) = &acked.canary {
        let c = rig.ok("GET", "/api/v1/nodes/canary.crash.test", None);
        let got = c["bootenv"].as_str().unwrap_or_default();
        assert!(got == last || got == next, "{}", ctx(&format!("canary bootenv {got}, acknowledged {last}")));
    }
    // Runs and noderoles. The annealer keeps working while they are read:
    // read the runs, then the noderoles, then the runs again, and hold each
    // noderole to the runs read after it.
    let first = runs_by_id(rig);
    let nrs = rig.ok("GET", "/api/v1/noderoles", None);
    let after = runs_by_id(rig);
    for (id, seen) in &acked.runs {
        let (_, now) = first.get(id).unwrap_or_else(|| panic!("{}", ctx(&format!("run {id} ({seen}) lost"))));
        if seen != "running" {
            assert_eq!(now, seen, "{}", ctx(&format!("run {id} was {seen}")));
        }
    }
    let mut per: HashMap<u64, Vec<&str>> = HashMap::new();
    for (nr, o) in after.values() {
        per.entry(*nr).or_default().push(o.as_str());
    }
    for (nr, outcomes) in &per {
        let n = outcomes.iter().filter(|o| **o == "succeeded").count();
        assert!(n <= 1, "{}", ctx(&format!("noderole {nr} succeeded {n} times: {outcomes:?}")));
    }
    let nrs = nrs.as_array().expect("noderoles");
    let state: HashMap<u64, String> = nrs
        .iter()
        .map(|n| (n["id"].as_u64().unwrap_or(0), n["state"].as_str().unwrap_or_default().to_string()))
        .collect();
    for n in nrs {
        let id = n["id"].as_u64().unwrap_or(0);
        let outcomes = per.get(&id).cloned().unwrap_or_default();
        let parents: Vec<u64> =
            n["parents"].as_array().map(|p| p.iter().filter_map(Value::as_u64).collect()).unwrap_or_default();
        match state[&id].as_str() {
            "active" => {
                assert!(outcomes.contains(&"succeeded"), "{}", ctx(&format!("noderole {id} active, no run succeeded")));
                for p in &parents {
                    let ps = state.get(p).map(String::as_str);
                    assert_eq!(ps, Some("active"), "{}", ctx(&format!("noderole {id} active, its parent {p} {ps:?}")));
                }
            }
            // Its run was going when the noderoles were read: it is still
            // going, or has finished since; not only closed by the crash.
            "transition" => assert!(
                outcomes.iter().any(|o| matches!(*o, "running" | "succeeded" | "failed")),
                "{}",
                ctx(&format!("noderole {id} in transition with no run going: {outcomes:?}"))
            ),
            "error" => panic!("{}", ctx(&format!("noderole {id} in error: {}", n["error"]))),
            "todo" | "blocked" | "proposed" => {}
            other => panic!("{}", ctx(&format!("noderole {id} in unknown state {other}"))),
        }
    }
}

/// Every run: id -> (noderole, outcome).
fn runs_by_id(rig: &Rig) -> HashMap<u64, (u64, String)> {
    let runs = rig.ok("GET", "/api/v1/runs?brief=true", None);
    runs.as_array()
        .expect("runs")
        .iter()
        .map(|r| {
            let o = r["outcome"].as_str().unwrap_or_default().to_string();
            (r["id"].as_u64().unwrap_or(0), (r["noderole"].as_u64().unwrap_or(0), o))
        })
        .collect()
}

#[test]
fn kill_9_at_random_moments_loses_nothing() {
    let rounds: usize = std::env::var("FULCRUM_CRASH_ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(6);
    let seed: u64 = std::env::var("FULCRUM_CRASH_SEED").ok().and_then(|v| v.parse().ok()).unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(1, |d| d.as_secs())
    });
    println!("crash harness: {rounds} kills, seed {seed} (FULCRUM_CRASH_SEED={seed} repeats them)");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);

    let (cfg, ports) = loopback_config();
    let cfg = format!("{cfg}[engine]\nmax_concurrent_runs = 10\n");
    let mut srv = Server::start(&cfg, ports.http, None);
    let rig = Rig { cfg, ports, cert: srv.cert(), token: srv.token(), base: srv.url("") };
    rig.ok(
        "POST",
        "/api/v1/networks",
        Some(json!({
            "name": "crash", "subnet": "127.74.0.0/22", "router": "127.74.0.1", "server": "127.0.0.1",
            "static": {"start": "127.74.1.1", "end": "127.74.3.250"},
            "dynamic": {"start": "127.74.0.100", "end": "127.74.0.200"},
            "domain": "crash.test"
        })),
    );
    for (name, delay, requires) in
        [("crash-a", 300, json!([])), ("crash-b", 400, json!(["crash-a"])), ("crash-c", 300, json!(["crash-b"]))]
    {
        // Implicit: each node gets a chain of its own.
        let role = json!({"name": name, "jig": "test", "requires": requires, "flags": ["implicit"], "test": {"delay_ms": delay}, "provision_states": "any"});
        rig.ok("POST", "/api/v1/roles", Some(role));
    }
    rig.ok("POST", "/api/v1/nodes", Some(json!({"name": "canary.crash.test", "macs": ["52:54:00:74:ff:ff"]})));

    let acked = Arc::new(Mutex::new(Acked::default()));
    let mut deployments = Vec::new();
    let mut interrupted_total = 0;
    let started = Instant::now();
    for round in 1..=rounds {
        // This round's deployment: a chain of three roles on fresh nodes.
        let d = format!("r{round}");
        rig.ok("POST", "/api/v1/deployments", Some(json!({"name": d})));
        for i in 0..NODES_PER_ROUND {
            let name = format!("n{round}-{i}.crash.test");
            let mac = format!("52:54:00:74:{round:02x}:{i:02x}");
            rig.ok("POST", "/api/v1/nodes", Some(json!({"name": name, "macs": [mac]})));
            rig.ok("PATCH", &format!("/api/v1/nodes/{name}"), Some(json!({"alive": true})));
            rig.ok("POST", "/api/v1/noderoles", Some(json!({"deployment": d, "role": "crash-c", "node": name})));
            acked.lock().unwrap_or_else(|p| p.into_inner()).nodes.insert(name);
        }
        rig.ok("POST", &format!("/api/v1/deployments/{d}/commit"), None);
        deployments.push(d);

        // Load until the kill: DHCP clients, API writes, a watcher of runs.
        let dead = Arc::new(AtomicBool::new(false));
        let mut load = Vec::new();
        for w in 0..WORKERS {
            let (acked, dead, dhcp) = (acked.clone(), dead.clone(), rig.ports.dhcp);
            load.push(std::thread::spawn(move || {
                // Short waits: the server is killed under it.
                let Ok(relay) = Relay::new(RELAY, dhcp).and_then(|r| r.with_timeout(Duration::from_millis(300))) else {
                    return;
                };
                for i in (0..CLIENTS).cycle() {
                    if dead.load(Ordering::SeqCst) {
                        return;
                    }
                    let mac = [0x52, 0x54, 0x01, 0x74, w, i];
                    match relay.dora(Mac(mac), Stage::BiosRom) {
                        Ok(a) if a.kind == Some(dhcproto::v4::MessageType::Ack) => {
                            let mut acked = acked.lock().unwrap_or_else(|p| p.into_inner());
                            if let Some(before) = acked.leases.insert(mac, a.yiaddr) {
                                assert_eq!(before, a.yiaddr, "{} moved from {before} to {}", mac_text(&mac), a.yiaddr);
                            }
                        }
                        _ => return,
                    }
                }
            }));
        }
        {
            let (acked, dead) = (acked.clone(), dead.clone());
            let (base, token, cert) = (rig.base.clone(), rig.token.clone(), rig.cert.clone());
            load.push(std::thread::spawn(move || {
                for k in 0usize.. {
                    if dead.load(Ordering::SeqCst) {
                        return;
                    }
                    let last = acked.lock().unwrap_or_else(|p| p.into_inner()).canary.as_ref().map(|c| c.0.clone());
                    let next = BOOTENVS[k % BOOTENVS.len()].to_string();
                    {
                        let mut a = acked.lock().unwrap_or_else(|p| p.into_inner());
                        a.canary = Some((last.clone().unwrap_or_else(|| next.clone()), next.clone()));
                    }
                    let body = json!({"bootenv": next});
                    match api(&base, &token, &cert, "PUT", "/api/v1/nodes/canary.crash.test/bootenv", Some(&body)) {
                        Some((200, _)) => {
                            acked.lock().unwrap_or_else(|p| p.into_inner()).canary = Some((next.clone(), next));
                        }
                        _ => return,
                    }
                }
            }));
        }
        {
            let (acked, dead) = (acked.clone(), dead.clone());
            let (base, token, cert) = (rig.base.clone(), rig.token.clone(), rig.cert.clone());
            load.push(std::thread::spawn(move || {
                while !dead.load(Ordering::SeqCst) {
                    let Some((200, runs)) = api(&base, &token, &cert, "GET", "/api/v1/runs?brief=true", None) else {
                        return;
                    };
                    let mut a = acked.lock().unwrap_or_else(|p| p.into_inner());
                    for r in runs.as_array().into_iter().flatten() {
                        if let (Some(id), Some(o)) = (r["id"].as_u64(), r["outcome"].as_str()) {
                            a.runs.insert(id, o.to_string());
                        }
                    }
                    drop(a);
                    std::thread::sleep(Duration::from_millis(30));
                }
            }));
        }
        // Anywhere from the commit to after the chains (1 s) are done.
        let moment = Duration::from_millis(rng.random_range(0..1300));
        std::thread::sleep(moment);
        let dir = srv.kill9();
        dead.store(true, Ordering::SeqCst);
        for t in load {
            if let Err(p) = t.join() {
                std::panic::resume_unwind(p);
            }
        }
        srv = Server::start_in(dir, &rig.cfg, rig.ports.http, None);
        let a = acked.lock().unwrap_or_else(|p| p.into_inner());
        check(&rig, &a, round);
        let (runs_seen, leases) = (a.runs.len(), a.leases.len());
        drop(a);
        let interrupted = srv.log_text().contains("runs interrupted by the last stop were closed");
        interrupted_total += usize::from(interrupted);
        println!(
            "kill {round:>3} at {:>4} ms: checked; {leases} leases, {runs_seen} runs seen so far{}",
            moment.as_millis(),
            if interrupted { ", runs in flight closed as interrupted" } else { "" }
        );
    }

    // Everything converges, each noderole having succeeded exactly once.
    for d in &deployments {
        wait_for(Duration::from_secs(120), &format!("deployment {d} to converge"), || {
            let (_, v) = rig.call("GET", &format!("/api/v1/anneal?deployment={d}"), None)?;
            (v["status"] == "finished").then_some(())
        });
    }
    let runs = rig.ok("GET", "/api/v1/runs?brief=true", None);
    let mut per: BTreeMap<u64, Vec<String>> = BTreeMap::new();
    for r in runs.as_array().expect("runs") {
        per.entry(r["noderole"].as_u64().unwrap_or(0)).or_default().push(r["outcome"].as_str().unwrap_or("").into());
    }
    let nrs = rig.ok("GET", "/api/v1/noderoles", None);
    let nrs = nrs.as_array().expect("noderoles");
    let mut bound: BTreeMap<(String, String), usize> = BTreeMap::new();
    for n in nrs.iter().filter(|n| n["deployment"].as_str().is_some_and(|d| d.starts_with('r'))) {
        let key = (n["deployment"].as_str().unwrap_or("").to_string(), n["role"].as_str().unwrap_or("").to_string());
        *bound.entry(key).or_default() += 1;
    }
    println!("noderoles per (deployment, role): {bound:?}");
    for d in &deployments {
        for role in ["crash-a", "crash-b", "crash-c"] {
            let c = bound.get(&(d.clone(), role.to_string())).copied().unwrap_or(0);
            assert_eq!(c, NODES_PER_ROUND, "deployment {d}: {c} {role} noderoles, {NODES_PER_ROUND} nodes bound");
        }
    }
    for n in nrs.iter().filter(|n| n["deployment"].as_str().is_some_and(|d| d.starts_with('r'))) {
        let id = n["id"].as_u64().unwrap_or(0);
        assert_eq!(n["state"], "active", "noderole {id} did not converge: {n}");
        let outcomes = per.get(&id).cloned().unwrap_or_default();
        assert_eq!(outcomes.iter().filter(|o| *o == "succeeded").count(), 1, "noderole {id}: {outcomes:?}");
        assert!(outcomes.iter().all(|o| o == "succeeded" || o == "interrupted"), "noderole {id}: {outcomes:?}");
    }
    let interrupted_runs: usize = per.values().map(|o| o.iter().filter(|x| *x == "interrupted").count()).sum();
    let acked = acked.lock().unwrap_or_else(|p| p.into_inner());
    check(&rig, &acked, rounds + 1);
    println!(
        "{rounds} kills in {:.0?}: nothing lost; {} leases, {} nodes, {} runs ({interrupted_runs} interrupted and run again, \
         in {interrupted_total} restarts), every noderole succeeded once",
        started.elapsed(),
        acked.leases.len(),
        acked.nodes.len() + 1,
        per.values().map(Vec::len).sum::<usize>(),
    );
}
