//! The noderole engine against the real binary, through the API with curl:
//! seed 004's ordered deployment (db-primary -> db-secondary -> computes in
//! parallel up to the cap -> load balancer fed every compute's address by
//! wall data), ERROR blocking descendants and retry, aliveness and
//! availability, cycles and invalid transitions refused, and the crash rule
//! for runs in flight at kill -9.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::harness::{curl, loopback_config, loopback_network, wait_for, Server};
use serde_json::{json, Value};

fn start(cap: u32) -> (Server, String) {
    let (cfg, ports) = loopback_config();
    let cfg = format!("{cfg}[engine]\nmax_concurrent_runs = {cap}\nallow_local_scripts = true\n");
    let srv = Server::start(&cfg, ports.http, None);
    (srv, cfg)
}

fn ok(srv: &Server, method: &str, path: &str, body: Value) -> Value {
    let (code, v) = curl(None, method, &srv.url(path), if body.is_null() { None } else { Some(&body) });
    assert!((200..300).contains(&code), "{method} {path} {body}: {code} {v}");
    v
}

/// A node that is running and in use: alive, and adopted (active), the
/// lifecycle state roles run in by default.
fn node(srv: &Server, name: &str, i: u8) {
    ok(srv, "POST", "/api/v1/nodes", json!({"name": name, "macs": [format!("52:54:00:90:00:{i:02x}")]}));
    ok(srv, "PATCH", &format!("/api/v1/nodes/{name}"), json!({"alive": true}));
    for target in ["manage", "adopt"] {
        ok(srv, "PUT", &format!("/api/v1/nodes/{name}/states/provision"), json!({"target": target}));
    }
}

/// Waits until the deployment's annealing reports `want`.
fn anneal(srv: &Server, deployment: &str, want: &str) -> Value {
    wait_for(Duration::from_secs(60), &format!("deployment {deployment} {want}"), || {
        let (_, v) = curl(None, "GET", &srv.url(&format!("/api/v1/anneal?deployment={deployment}")), None);
        (v["status"] == want).then_some(v)
    })
}

fn script_role(name: &str, requires: &[&str], cluster: bool, script: &str) -> Value {
    json!({"name": name, "jig": "script", "local": true, "requires": requires, "cluster": cluster, "script": script, "timeout_seconds": 20})
}

#[derive(Debug)]
struct RunRec {
    role: String,
    node: String,
    start: u64,
    end: u64,
}

fn runs(srv: &Server, deployment: &str) -> Vec<RunRec> {
    let v = ok(srv, "GET", &format!("/api/v1/runs?deployment={deployment}"), Value::Null);
    v.as_array()
        .unwrap()
        .iter()
        .map(|r| RunRec {
            role: r["role"].as_str().unwrap().into(),
            node: r["node"].as_str().unwrap().into(),
            start: r["started_ms"].as_u64().unwrap(),
            end: r["ended_ms"].as_u64().unwrap_or(u64::MAX),
        })
        .collect()
}

/// Largest number of runs overlapping in time, among those `pick` selects.
fn max_overlap(runs: &[RunRec], pick: impl Fn(&RunRec) -> bool) -> usize {
    let mut edges: Vec<(u64, i32)> =
        runs.iter().filter(|r| pick(r)).flat_map(|r| [(r.start, 1), (r.end, -1)]).collect();
    edges.sort();
    let (mut cur, mut max) = (0i32, 0i32);
    for (_, d) in edges {
        cur += d;
        max = max.max(cur);
    }
    max as usize
}

#[test]
fn seed_004_ordered_deployment_with_data_flowing_down() {
    let cap = 3;
    let (srv, _) = start(cap);
    ok(&srv, "POST", "/api/v1/networks", loopback_network("admin", 90));
    let computes: Vec<String> = (1..=6).map(|i| format!("c{i}.test.example")).collect();
    node(&srv, "db1.test.example", 1);
    node(&srv, "db2.test.example", 2);
    for (i, c) in computes.iter().enumerate() {
        node(&srv, c, 10 + i as u8);
    }
    node(&srv, "lb1.test.example", 30);

    ok(
        &srv,
        "POST",
        "/api/v1/roles",
        script_role("db-primary", &[], false, "sleep 0.2; echo primary on $FULCRUM_NODE"),
    );
    ok(
        &srv,
        "POST",
        "/api/v1/roles",
        script_role("db-secondary", &["db-primary"], false, "sleep 0.2; echo replicating"),
    );
    ok(
        &srv,
        "POST",
        "/api/v1/roles",
        script_role(
            "compute",
            &["db-secondary"],
            true,
            "sleep 0.4; echo \"{\\\"address\\\": \\\"$FULCRUM_NODE_IP\\\", \\\"port\\\": $FULCRUM_ATTR_PORT}\"",
        ),
    );
    ok(
        &srv,
        "POST",
        "/api/v1/roles",
        script_role(
            "load-balancer",
            &["compute"],
            false,
            "python3 -c 'import json,sys; d=json.load(sys.stdin); b=sorted(\"%s:%s\" % (p[\"wall\"][\"address\"], p[\"wall\"][\"port\"]) for p in d[\"parents\"]); print(\"backends\", \" \".join(b)); print(json.dumps({\"backends\": b}))'",
        ),
    );
    // A cycle is refused with the cycle named.
    let (code, v) = curl(
        None,
        "POST",
        &srv.url("/api/v1/roles"),
        Some(&json!({"name": "loop", "jig": "noop", "requires": ["loop"]})),
    );
    assert_eq!(code, 422, "{v}");
    assert!(v["error"].as_str().unwrap().contains("loop -> loop"), "{v}");

    ok(&srv, "POST", "/api/v1/deployments", json!({"name": "stack", "attribs": {"port": 8080}}));
    ok(
        &srv,
        "POST",
        "/api/v1/noderoles",
        json!({"deployment": "stack", "role": "db-primary", "node": "db1.test.example"}),
    );
    ok(
        &srv,
        "POST",
        "/api/v1/noderoles",
        json!({"deployment": "stack", "role": "db-secondary", "node": "db2.test.example"}),
    );
    let mut compute_ids = Vec::new();
    for c in &computes {
        let nr = ok(&srv, "POST", "/api/v1/noderoles", json!({"deployment": "stack", "role": "compute", "node": c}));
        assert_eq!(nr["state"], "proposed");
        compute_ids.push(nr["id"].as_u64().unwrap());
    }
    let lb = ok(
        &srv,
        "POST",
        "/api/v1/noderoles",
        json!({"deployment": "stack", "role": "load-balancer", "node": "lb1.test.example"}),
    );
    let mut parents: Vec<u64> = lb["parents"].as_array().unwrap().iter().map(|p| p.as_u64().unwrap()).collect();
    parents.sort();
    assert_eq!(parents, compute_ids, "the load balancer depends on every compute");
    let c1 = ok(&srv, "GET", &format!("/api/v1/noderoles/{}", compute_ids[0]), Value::Null);
    assert!(c1["children"].as_array().unwrap().contains(&lb["id"]), "{c1}");
    // Nothing runs while proposed.
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(ok(&srv, "GET", "/api/v1/runs?deployment=stack", Value::Null), json!([]));

    let committed = ok(&srv, "POST", "/api/v1/deployments/stack/commit", Value::Null);
    assert_eq!(committed["committed_noderoles"], 9);
    let (code, _) = curl(None, "GET", &srv.url("/api/v1/anneal?deployment=stack"), None);
    assert_eq!(code, 202, "annealing must report working");
    let done = anneal(&srv, "stack", "finished");
    assert_eq!(done["noderoles"]["active"], 9, "{done}");
    let (code, _) = curl(None, "GET", &srv.url("/api/v1/anneal?deployment=stack"), None);
    assert_eq!(code, 200);

    let runs = runs(&srv, "stack");
    assert_eq!(runs.len(), 9);
    let by_role = |r: &str| runs.iter().filter(|x| x.role == r).collect::<Vec<_>>();
    let (p, s, c, l) = (by_role("db-primary"), by_role("db-secondary"), by_role("compute"), by_role("load-balancer"));
    assert!(p[0].end <= s[0].start, "secondary before primary finished");
    assert!(c.iter().all(|x| s[0].end <= x.start), "a compute started before the secondary finished");
    assert!(c.iter().all(|x| x.end <= l[0].start), "the load balancer started before every compute finished");
    let parallel = max_overlap(&runs, |r| r.role == "compute");
    assert!(parallel > 1 && parallel <= cap as usize, "computes ran {parallel} at a time; cap {cap}");
    assert!(max_overlap(&runs, |_| true) <= cap as usize);
    for n in runs.iter().map(|r| r.node.clone()) {
        assert!(max_overlap(&runs, |r| r.node == n) <= 1, "two runs at once on {n}");
    }
    // Data flowed down: the load balancer got every compute's address:port.
    let lbnr = ok(&srv, "GET", &format!("/api/v1/noderoles/{}", lb["id"]), Value::Null);
    let backends: Vec<String> =
        lbnr["wall"]["backends"].as_array().unwrap().iter().map(|b| b.as_str().unwrap().to_string()).collect();
    let mut want: Vec<String> = (0..6).map(|i| format!("127.90.0.{}:8080", 12 + i)).collect();
    want.sort();
    assert_eq!(backends, want, "{lbnr}");
    let lbrun = ok(&srv, "GET", &format!("/api/v1/runs?noderole={}", lb["id"]), Value::Null);
    assert!(lbrun[0]["log"].as_str().unwrap().contains("backends 127.90.0.12:8080"), "{lbrun}");
    // An invalid transition is refused clearly.
    let (code, v) = curl(None, "POST", &srv.url(&format!("/api/v1/noderoles/{}/retry", lb["id"])), None);
    assert_eq!(code, 409, "{v}");
    assert!(v["error"].as_str().unwrap().contains("active"), "{v}");

    // A compute's node dies: its noderole goes back to TODO and is not run
    // while dead; alive again, it runs again.
    ok(&srv, "PATCH", &format!("/api/v1/nodes/{}", computes[0]), json!({"alive": false}));
    let nr = ok(&srv, "GET", &format!("/api/v1/noderoles/{}", compute_ids[0]), Value::Null);
    assert_eq!(nr["state"], "todo");
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(
        ok(&srv, "GET", &format!("/api/v1/runs?noderole={}", compute_ids[0]), Value::Null).as_array().unwrap().len(),
        1
    );
    ok(&srv, "PATCH", &format!("/api/v1/nodes/{}", computes[0]), json!({"alive": true}));
    anneal(&srv, "stack", "finished");
    assert_eq!(
        ok(&srv, "GET", &format!("/api/v1/runs?noderole={}", compute_ids[0]), Value::Null).as_array().unwrap().len(),
        2
    );
}

#[test]
fn error_blocks_descendants_and_retry_recovers() {
    let (srv, _) = start(10);
    ok(&srv, "POST", "/api/v1/networks", loopback_network("admin", 91));
    node(&srv, "a.test.example", 1);
    node(&srv, "b.test.example", 2);
    let marker = tempfile::tempdir().unwrap();
    let m = marker.path().join("ran-once");
    ok(
        &srv,
        "POST",
        "/api/v1/roles",
        script_role(
            "fragile",
            &[],
            false,
            &format!(
                "if [ -e {0} ]; then echo fine; else touch {0}; echo first try fails >&2; exit 1; fi",
                m.display()
            ),
        ),
    );
    ok(&srv, "POST", "/api/v1/roles", json!({"name": "dependent", "jig": "noop", "requires": ["fragile"]}));
    ok(&srv, "POST", "/api/v1/roles", json!({"name": "grandchild", "jig": "noop", "requires": ["dependent"]}));
    ok(
        &srv,
        "POST",
        "/api/v1/roles",
        json!({"name": "hangs", "jig": "test", "test": {"delay_ms": 10000}, "timeout_seconds": 1}),
    );
    ok(&srv, "POST", "/api/v1/deployments", json!({"name": "d"}));
    let f =
        ok(&srv, "POST", "/api/v1/noderoles", json!({"deployment": "d", "role": "fragile", "node": "a.test.example"}));
    // Binding grandchild on b binds dependent on b (same node) first.
    let g = ok(
        &srv,
        "POST",
        "/api/v1/noderoles",
        json!({"deployment": "d", "role": "grandchild", "node": "b.test.example"}),
    );
    let dep = ok(&srv, "GET", "/api/v1/noderoles?deployment=d&role=dependent", Value::Null);
    assert_eq!(dep[0]["node"], "b.test.example");
    assert_eq!(dep[0]["parents"], json!([f["id"]]));
    assert_eq!(g["parents"], json!([dep[0]["id"]]));
    let h =
        ok(&srv, "POST", "/api/v1/noderoles", json!({"deployment": "d", "role": "hangs", "node": "b.test.example"}));
    ok(&srv, "POST", "/api/v1/deployments/d/commit", Value::Null);
    let failed = anneal(&srv, "d", "failed");
    let get = |id: &Value| ok(&srv, "GET", &format!("/api/v1/noderoles/{id}"), Value::Null);
    wait_for(Duration::from_secs(20), "both failures", || (get(&h["id"])["state"] == "error").then_some(()));
    assert_eq!(get(&f["id"])["state"], "error", "{failed}");
    assert_eq!(get(&dep[0]["id"])["state"], "blocked");
    assert_eq!(get(&g["id"])["state"], "blocked");
    assert_eq!(get(&h["id"])["error"], "timed out after 1 s");
    let (code, _) = curl(None, "GET", &srv.url("/api/v1/anneal?deployment=d"), None);
    assert_eq!(code, 409);
    let log = ok(&srv, "GET", &format!("/api/v1/runs?noderole={}", f["id"]), Value::Null);
    assert!(log[0]["log"].as_str().unwrap().contains("first try fails"), "{log}");
    assert_eq!(log[0]["outcome"], "failed");
    // Node b has a noderole in ERROR (hangs): nothing else runs there until
    // it is dealt with. Retry fragile; dependent stays blocked while b is
    // held by the failed `hangs`.
    ok(&srv, "POST", &format!("/api/v1/noderoles/{}/retry", f["id"]), Value::Null);
    wait_for(Duration::from_secs(20), "fragile active", || (get(&f["id"])["state"] == "active").then_some(()));
    assert_eq!(get(&dep[0]["id"])["state"], "todo");
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(get(&dep[0]["id"])["state"], "todo", "ran on a node with a noderole in ERROR");
    // An unavailable node keeps its noderoles' states untouched.
    ok(&srv, "PATCH", "/api/v1/nodes/b.test.example", json!({"available": false}));
    let before = get(&dep[0]["id"])["state"].clone();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(get(&dep[0]["id"])["state"], before, "unavailable node's noderoles keep their state");
}

#[test]
fn runs_in_flight_at_kill_9_are_retried_once_not_lost_or_duplicated() {
    let (srv, cfg) = start(10);
    ok(&srv, "POST", "/api/v1/networks", loopback_network("admin", 92));
    for i in 1..=4u8 {
        node(&srv, &format!("n{i}.test.example"), i);
    }
    ok(&srv, "POST", "/api/v1/roles", json!({"name": "slow", "jig": "test", "test": {"delay_ms": 1500}}));
    ok(&srv, "POST", "/api/v1/deployments", json!({"name": "d"}));
    for i in 1..=4u8 {
        ok(
            &srv,
            "POST",
            "/api/v1/noderoles",
            json!({"deployment": "d", "role": "slow", "node": format!("n{i}.test.example")}),
        );
    }
    ok(&srv, "POST", "/api/v1/deployments/d/commit", Value::Null);
    wait_for(Duration::from_secs(10), "4 runs in flight", || {
        let (_, v) = curl(None, "GET", &srv.url("/api/v1/anneal?deployment=d"), None);
        (v["noderoles"]["transition"] == 4).then_some(())
    });
    let http = srv.http;
    let dir = srv.kill9();
    let start = Instant::now();
    let srv = Server::start_in(dir, &cfg, http, None);
    anneal(&srv, "d", "finished");
    let runs = ok(&srv, "GET", "/api/v1/runs?deployment=d", Value::Null);
    let mut per: HashMap<u64, Vec<String>> = HashMap::new();
    for r in runs.as_array().unwrap() {
        per.entry(r["noderole"].as_u64().unwrap()).or_default().push(r["outcome"].as_str().unwrap().to_string());
    }
    assert_eq!(per.len(), 4);
    for (nr, outcomes) in per {
        assert_eq!(outcomes, vec!["interrupted".to_string(), "succeeded".to_string()], "noderole {nr}");
    }
    println!("recovered and finished {:.1?} after restart", start.elapsed());
}

#[test]
fn operator_roles_dir_is_loaded_at_start_and_errors_name_it() {
    let roles = tempfile::tempdir().unwrap();
    // `a-web` requires `z-base`, which sorts after it: loading copes.
    std::fs::write(roles.path().join("a-web.toml"), "name = \"web\"\njig = \"noop\"\nrequires = [\"base\"]\n").unwrap();
    std::fs::write(roles.path().join("z-base.toml"), "name = \"base\"\njig = \"noop\"\n").unwrap();
    let (cfg, ports) = loopback_config();
    let cfg = format!("{cfg}[engine]\nroles_dir = \"{}\"\n", roles.path().display());
    let srv = Server::start(&cfg, ports.http, None);
    let v = ok(&srv, "GET", "/api/v1/roles/web", Value::Null);
    assert_eq!(v["requires"], json!(["base"]));
    ok(&srv, "GET", "/api/v1/roles/provisioner-os-install", Value::Null);
    drop(srv);
    // A broken role file stops start-up with the file named.
    std::fs::write(roles.path().join("m-bad.toml"), "name = \"bad\"\njig = \"warp\"\n").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f.toml");
    std::fs::write(&path, cfg.replace("{dir}", &dir.path().display().to_string())).unwrap();
    let out =
        std::process::Command::new(crate::harness::bin()).args(["serve", "--config"]).arg(&path).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("m-bad.toml") && err.contains("engine.roles_dir"), "{err}");
}

#[test]
fn a_hook_that_fails_ends_the_run_in_error_instead_of_holding_the_node() {
    let (srv, _) = start(10);
    ok(&srv, "POST", "/api/v1/networks", loopback_network("admin", 93));
    node(&srv, "h.test.example", 1);
    ok(&srv, "POST", "/api/v1/deployments", json!({"name": "d", "attribs": {"os": "no-such-bootenv"}}));
    let nr = ok(
        &srv,
        "POST",
        "/api/v1/noderoles",
        json!({"deployment": "d", "role": "provisioner-os-install", "node": "h.test.example"}),
    );
    ok(&srv, "POST", "/api/v1/deployments/d/commit", Value::Null);
    anneal(&srv, "d", "failed");
    let v = ok(&srv, "GET", &format!("/api/v1/noderoles/{}", nr["id"]), Value::Null);
    assert_eq!(v["state"], "error");
    assert!(v["error"].as_str().unwrap().contains("no-such-bootenv"), "{v}");
    let runs = ok(&srv, "GET", &format!("/api/v1/runs?noderole={}", nr["id"]), Value::Null);
    assert_eq!(runs[0]["outcome"], "failed", "{runs}");
    let node = ok(&srv, "GET", "/api/v1/nodes/h.test.example", Value::Null);
    assert_eq!(node["bootenv"], "local", "nothing of the refused hook remains");
    assert_eq!(node["alive"], true);
}

/// The outcomes of a noderole's runs, oldest first.
fn outcomes(srv: &Server, id: &Value) -> Vec<String> {
    let v = ok(srv, "GET", &format!("/api/v1/runs?noderole={id}"), Value::Null);
    let mut runs: Vec<(u64, String)> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["id"].as_u64().unwrap(), r["outcome"].as_str().unwrap().to_string()))
        .collect();
    runs.sort();
    runs.into_iter().map(|(_, o)| o).collect()
}

#[test]
fn a_failed_destructive_role_runs_again_on_retry_and_its_hook_fires_on_its_first_success() {
    let (srv, _) = start(10);
    ok(&srv, "POST", "/api/v1/networks", loopback_network("admin", 94));
    node(&srv, "i.test.example", 1);
    let marker = tempfile::tempdir().unwrap();
    let m = marker.path().join("tried");
    let done = marker.path().join("installed");
    let mut role = script_role(
        "install",
        &[],
        false,
        &format!(
            "if [ -e {0} ]; then touch {1}; echo installed; else touch {0}; echo disk busy >&2; exit 1; fi",
            m.display(),
            done.display()
        ),
    );
    role["flags"] = json!(["destructive"]);
    role["hooks"] = json!({"on_active": [{"action": "set_bootenv", "bootenv": "discovery"}]});
    ok(&srv, "POST", "/api/v1/roles", role);
    ok(&srv, "POST", "/api/v1/deployments", json!({"name": "d"}));
    let nr =
        ok(&srv, "POST", "/api/v1/noderoles", json!({"deployment": "d", "role": "install", "node": "i.test.example"}));
    ok(&srv, "POST", "/api/v1/deployments/d/commit", Value::Null);
    anneal(&srv, "d", "failed");
    assert_eq!(ok(&srv, "GET", "/api/v1/nodes/i.test.example", Value::Null)["bootenv"], "local");
    ok(&srv, "POST", &format!("/api/v1/noderoles/{}/retry", nr["id"]), Value::Null);
    anneal(&srv, "d", "finished");
    assert_eq!(outcomes(&srv, &nr["id"]), ["failed", "succeeded"], "a failed run is no reason to skip");
    assert!(done.exists(), "the retried install never ran its script");
    let n = ok(&srv, "GET", "/api/v1/nodes/i.test.example", Value::Null);
    assert_eq!(n["bootenv"], "discovery", "on_active did not fire on the first successful activation: {n}");
    // Once it has succeeded, a later activation skips the jig (and the hook).
    ok(&srv, "PUT", "/api/v1/nodes/i.test.example/bootenv", json!({"bootenv": "local"}));
    ok(&srv, "PATCH", "/api/v1/nodes/i.test.example", json!({"alive": false}));
    ok(&srv, "PATCH", "/api/v1/nodes/i.test.example", json!({"alive": true}));
    anneal(&srv, "d", "finished");
    wait_for(Duration::from_secs(20), "a third run", || (outcomes(&srv, &nr["id"]).len() == 3).then_some(()));
    assert_eq!(outcomes(&srv, &nr["id"]), ["failed", "succeeded", "skipped"]);
    assert_eq!(ok(&srv, "GET", "/api/v1/nodes/i.test.example", Value::Null)["bootenv"], "local");
}

#[test]
fn a_dead_node_ripples_down_to_active_children_on_other_nodes() {
    let (srv, _) = start(10);
    ok(&srv, "POST", "/api/v1/networks", loopback_network("admin", 95));
    for (i, n) in ["a", "b", "c"].iter().enumerate() {
        node(&srv, &format!("{n}.test.example"), 1 + i as u8);
    }
    ok(&srv, "POST", "/api/v1/roles", json!({"name": "r1", "jig": "noop"}));
    ok(&srv, "POST", "/api/v1/roles", json!({"name": "r2", "jig": "noop", "requires": ["r1"]}));
    ok(&srv, "POST", "/api/v1/roles", json!({"name": "r3", "jig": "noop", "requires": ["r2"]}));
    ok(&srv, "POST", "/api/v1/deployments", json!({"name": "d"}));
    let ids: Vec<Value> = [("r1", "a"), ("r2", "b"), ("r3", "c")]
        .iter()
        .map(|(r, n)| {
            ok(
                &srv,
                "POST",
                "/api/v1/noderoles",
                json!({"deployment": "d", "role": r, "node": format!("{n}.test.example")}),
            )["id"]
                .clone()
        })
        .collect();
    ok(&srv, "POST", "/api/v1/deployments/d/commit", Value::Null);
    anneal(&srv, "d", "finished");
    let state = |id: &Value| ok(&srv, "GET", &format!("/api/v1/noderoles/{id}"), Value::Null)["state"].clone();
    ok(&srv, "PATCH", "/api/v1/nodes/a.test.example", json!({"alive": false}));
    let states: Vec<Value> = ids.iter().map(state).collect();
    assert_eq!(states, ["todo", "blocked", "blocked"], "the death of a did not ripple down");
    ok(&srv, "PATCH", "/api/v1/nodes/a.test.example", json!({"alive": true}));
    anneal(&srv, "d", "finished");
    for id in &ids {
        assert_eq!(outcomes(&srv, id), ["succeeded", "succeeded"], "noderole {id}");
    }
}

#[test]
fn on_node_change_fires_for_hook_changes_and_alive_reports() {
    let (srv, _) = start(10);
    ok(&srv, "POST", "/api/v1/networks", loopback_network("admin", 96));
    // A machine registers itself (alive, with its token), then is marked dead.
    let reporter = ok(&srv, "POST", "/api/v1/discover", json!({"mac": "52:54:00:90:00:01"}));
    let r = reporter["name"].as_str().unwrap().to_string();
    ok(&srv, "PATCH", &format!("/api/v1/nodes/{r}"), json!({"alive": false}));
    node(&srv, "h.test.example", 2);
    ok(&srv, "POST", "/api/v1/deployments", json!({"name": "seen"}));
    ok(&srv, "POST", "/api/v1/roles", json!({"name": "noticed", "jig": "noop"}));
    ok(
        &srv,
        "POST",
        "/api/v1/roles",
        json!({"name": "watcher", "jig": "noop",
               "hooks": {"on_node_change": [{"action": "bind", "role": "noticed", "deployment": "seen"}]}}),
    );
    let noticed = |n: &str| {
        ok(&srv, "GET", &format!("/api/v1/noderoles?deployment=seen&node={n}"), Value::Null).as_array().unwrap().len()
    };
    // The node reports in with its own token.
    let token = reporter["token"].as_str().unwrap();
    let (code, v) =
        crate::harness::curl_as(None, Some(token), "POST", &srv.url(&format!("/api/v1/nodes/{r}/alive")), None);
    assert_eq!(code, 200, "{v}");
    assert_eq!(v["alive"], true);
    assert_eq!(noticed(&r), 1, "an alive report is a node change");
    // Shutting down, it reports itself dead; a bad report names the field.
    let report = |body: Value| {
        crate::harness::curl_as(None, Some(token), "POST", &srv.url(&format!("/api/v1/nodes/{r}/alive")), Some(&body))
    };
    let (code, v) = report(json!({"alive": false}));
    assert_eq!((code, &v["alive"]), (200, &json!(false)), "{v}");
    let (code, v) = report(json!({"alive": "no"}));
    assert_eq!(code, 400, "{v}");
    assert!(v["error"].as_str().unwrap().contains("alive"), "{v}");
    assert_eq!(ok(&srv, "GET", &format!("/api/v1/nodes/{r}"), Value::Null)["alive"], false);
    // A role's on_active hook changes h's bootenv.
    ok(
        &srv,
        "POST",
        "/api/v1/roles",
        json!({"name": "switcher", "jig": "noop",
               "hooks": {"on_active": [{"action": "set_bootenv", "bootenv": "discovery"}]}}),
    );
    ok(&srv, "POST", "/api/v1/deployments", json!({"name": "d"}));
    ok(&srv, "POST", "/api/v1/noderoles", json!({"deployment": "d", "role": "switcher", "node": "h.test.example"}));
    assert_eq!(noticed("h.test.example"), 0);
    ok(&srv, "POST", "/api/v1/deployments/d/commit", Value::Null);
    anneal(&srv, "d", "finished");
    assert_eq!(ok(&srv, "GET", "/api/v1/nodes/h.test.example", Value::Null)["bootenv"], "discovery");
    assert_eq!(noticed("h.test.example"), 1, "a hook's bootenv change is a node change");
}

#[test]
fn a_run_gets_the_merged_data_of_its_deployment_chain_and_all_its_ancestors() {
    let (srv, _) = start(10);
    ok(&srv, "POST", "/api/v1/networks", loopback_network("admin", 97));
    for (i, n) in ["a", "b", "c"].iter().enumerate() {
        node(&srv, &format!("{n}.test.example"), 1 + i as u8);
    }
    ok(
        &srv,
        "POST",
        "/api/v1/roles",
        script_role(
            "base",
            &[],
            false,
            "echo '{\"from_base\": \"base\", \"shared\": \"base\", \"x\": \"base\", \"db\": {\"host\": \"a\", \"port\": 5432}}'",
        ),
    );
    ok(
        &srv,
        "POST",
        "/api/v1/roles",
        script_role("middle", &["base"], false, "echo '{\"shared\": \"middle\", \"db\": {\"port\": 6432}}'"),
    );
    let mut top =
        json!({"name": "top", "jig": "noop", "requires": ["middle"], "attribs": {"x": "role", "role_only": 1}});
    top["attribs"]["y"] = json!("role");
    ok(&srv, "POST", "/api/v1/roles", top);
    ok(&srv, "POST", "/api/v1/deployments", json!({"name": "parent", "attribs": {"from_parent": "p", "y": "parent"}}));
    ok(&srv, "POST", "/api/v1/deployments", json!({"name": "child", "parent": "parent", "attribs": {"y": "child"}}));
    ok(&srv, "POST", "/api/v1/noderoles", json!({"deployment": "parent", "role": "base", "node": "a.test.example"}));
    ok(&srv, "POST", "/api/v1/noderoles", json!({"deployment": "parent", "role": "middle", "node": "b.test.example"}));
    let t = ok(
        &srv,
        "POST",
        "/api/v1/noderoles",
        json!({"deployment": "child", "role": "top", "node": "c.test.example", "attribs": {"mine": true}}),
    );
    ok(&srv, "POST", "/api/v1/deployments/parent/commit", Value::Null);
    ok(&srv, "POST", "/api/v1/deployments/child/commit", Value::Null);
    anneal(&srv, "child", "finished");
    let run = ok(&srv, "GET", &format!("/api/v1/runs?noderole={}", t["id"]), Value::Null);
    let data = &run[0]["input"]["data"];
    // From the grandparent (not a direct parent), overridden where nearer
    // ancestors said otherwise; the deployment chain nearest first.
    assert_eq!(data["from_base"], "base", "{data}");
    assert_eq!(data["shared"], "middle", "{data}");
    assert_eq!(data["from_parent"], "p", "{data}");
    assert_eq!(data["y"], "child", "{data}");
    assert_eq!(data["role_only"], 1, "{data}");
    assert_eq!(data["mine"], true, "{data}");
    // Objects merge key by key (OpenCrowbar's deep merge).
    assert_eq!(data["db"], json!({"host": "a", "port": 6432}), "{data}");
    // Wall data of an ancestor is nearer than the role's defaults.
    assert_eq!(data["x"], "base", "{data}");
}

#[test]
fn roles_run_only_in_the_lifecycle_states_they_allow() {
    let (srv, _) = start(10);
    ok(&srv, "POST", "/api/v1/networks", loopback_network("admin", 104));
    // Alive, but only enrolled: an ordinary role leaves it alone.
    ok(&srv, "POST", "/api/v1/nodes", json!({"name": "new.test.example", "macs": ["52:54:00:90:01:01"]}));
    ok(&srv, "PATCH", "/api/v1/nodes/new.test.example", json!({"alive": true}));
    ok(&srv, "POST", "/api/v1/roles", json!({"name": "ordinary", "jig": "noop"}));
    ok(
        &srv,
        "POST",
        "/api/v1/roles",
        json!({"name": "early", "jig": "noop", "provision_states": ["enroll", "manageable"]}),
    );
    let (code, v) = curl(
        None,
        "POST",
        &srv.url("/api/v1/roles"),
        Some(&json!({"name": "bad", "jig": "noop", "provision_states": ["sleeping"]})),
    );
    assert!(code == 400 || code == 422, "{code} {v}");
    assert!(v["error"].as_str().unwrap_or_default().contains("provision_states"), "{v}");
    ok(&srv, "POST", "/api/v1/deployments", json!({"name": "d"}));
    let ordinary = ok(
        &srv,
        "POST",
        "/api/v1/noderoles",
        json!({"deployment": "d", "role": "ordinary", "node": "new.test.example"}),
    );
    let early =
        ok(&srv, "POST", "/api/v1/noderoles", json!({"deployment": "d", "role": "early", "node": "new.test.example"}));
    ok(&srv, "POST", "/api/v1/deployments/d/commit", Value::Null);
    let state = |v: &Value| ok(&srv, "GET", &format!("/api/v1/noderoles/{}", v["id"]), Value::Null)["state"].clone();
    wait_for(Duration::from_secs(20), "the early role", || (state(&early) == "active").then_some(()));
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(state(&ordinary), "todo", "a role ran on an enrolled node");
    assert_eq!(outcomes(&srv, &ordinary["id"]), Vec::<String>::new());
    // Adopted (active): now it runs.
    for target in ["manage", "adopt"] {
        ok(&srv, "PUT", "/api/v1/nodes/new.test.example/states/provision", json!({"target": target}));
    }
    anneal(&srv, "d", "finished");
    assert_eq!(outcomes(&srv, &ordinary["id"]), ["succeeded"]);
}

#[test]
fn node_hooks_that_undo_each_other_fire_once_each_and_end() {
    // Two roles watch every node: one marks a changed node unavailable, the
    // other available again. Changes made by node hooks fire no node hooks,
    // so one change ends after each hook ran once (instead of recursing
    // until the server falls over).
    let (srv, _) = start(10);
    ok(&srv, "POST", "/api/v1/networks", loopback_network("admin", 106));
    node(&srv, "w.test.example", 1);
    for (name, available) in [("a-off", false), ("b-on", true)] {
        ok(
            &srv,
            "POST",
            "/api/v1/roles",
            json!({"name": name, "jig": "noop",
                   "hooks": {"on_node_change": [{"action": "set_available", "available": available}]}}),
        );
    }
    let (code, v) =
        curl(None, "PATCH", &srv.url("/api/v1/nodes/w.test.example"), Some(&json!({"bootenv": "discovery"})));
    assert_eq!(code, 200, "{v}");
    assert_eq!(v["available"], true, "the hooks ran in role order, once each: {v}");
    assert_eq!(ok(&srv, "GET", "/healthz", Value::Null)["status"], "ok");
}
