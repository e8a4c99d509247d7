//! SIGTERM is a clean stop: with DHCP clients taking leases and jig runs
//! in flight, `fulcrum serve` stops accepting, finishes the lease commits
//! it started, lets runs that end within the grace period end, records the
//! others as interrupted (the crash rule, applied before it exits),
//! closes its store and exits 0. A restart at once (no retry loop: the
//! store is free the moment the process is gone) finds every acknowledged
//! lease and every run, none of them still marked running.

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fulcrum::demo::relay::{Relay, Stage};
use fulcrum::types::mac::Mac;
use serde_json::{json, Value};

use crate::harness::{curl, loopback_config, loopback_network, wait_for, Server};

fn ok(srv: &Server, method: &str, path: &str, body: Value) -> Value {
    let (code, v) = curl(None, method, &srv.url(path), if body.is_null() { None } else { Some(&body) });
    assert!((200..300).contains(&code), "{method} {path} {body}: {code} {v}");
    v
}

#[test]
fn sigterm_finishes_what_is_in_flight_and_a_restart_finds_everything() {
    let (cfg, ports) = loopback_config();
    let cfg = format!("{cfg}[engine]\nmax_concurrent_runs = 4\nshutdown_grace_seconds = 5\n");
    let srv = Server::start(&cfg, ports.http, None);
    ok(&srv, "POST", "/api/v1/networks", loopback_network("admin", 73));
    // Two roles: one that ends within the grace period, one that does not.
    ok(
        &srv,
        "POST",
        "/api/v1/roles",
        json!({"name": "steady", "jig": "test", "test": {"delay_ms": 2500}, "provision_states": "any"}),
    );
    ok(
        &srv,
        "POST",
        "/api/v1/roles",
        json!({"name": "endless", "jig": "test", "test": {"delay_ms": 120000}, "provision_states": "any"}),
    );
    ok(&srv, "POST", "/api/v1/deployments", json!({"name": "work"}));
    for (i, role) in ["steady", "steady", "endless", "endless"].iter().enumerate() {
        let name = format!("w{i}.test.example");
        ok(&srv, "POST", "/api/v1/nodes", json!({"name": name, "macs": [format!("52:54:00:73:00:{i:02x}")]}));
        ok(&srv, "PATCH", &format!("/api/v1/nodes/{name}"), json!({"alive": true}));
        ok(&srv, "POST", "/api/v1/noderoles", json!({"deployment": "work", "role": role, "node": name}));
    }

    // DHCP load: relayed clients taking leases, recording every ACK.
    let acked: Arc<Mutex<HashMap<[u8; 6], Ipv4Addr>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let mut clients = Vec::new();
    for w in 0..3u8 {
        let (acked, stop, dhcp) = (acked.clone(), stop.clone(), ports.dhcp);
        clients.push(std::thread::spawn(move || {
            let relay = Relay::new(Ipv4Addr::new(127, 73, 0, 1), dhcp).expect("relay");
            for i in 0..25u8 {
                if stop.load(Ordering::SeqCst) {
                    return;
                }
                let mac = [0x52, 0x54, 0x03, w, 0x00, i];
                match relay.dora(Mac(mac), Stage::BiosRom) {
                    Ok(a) => {
                        acked.lock().unwrap().insert(mac, a.yiaddr);
                    }
                    Err(_) => return,
                }
            }
        }));
    }
    ok(&srv, "POST", "/api/v1/deployments/work/commit", Value::Null);
    // All four runs in flight, and leases being handed out.
    wait_for(Duration::from_secs(20), "four runs in flight", || {
        let (_, v) = curl(None, "GET", &srv.url("/api/v1/anneal"), None);
        (v["running"] == 4).then_some(())
    });
    wait_for(Duration::from_secs(20), "leases under load", || (acked.lock().unwrap().len() >= 20).then_some(()));
    let runs_before = ok(&srv, "GET", "/api/v1/runs?deployment=work&brief=true", Value::Null);
    let runs_before: Vec<(u64, String)> = runs_before
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["id"].as_u64().unwrap(), r["role"].as_str().unwrap().to_string()))
        .collect();
    assert_eq!(runs_before.len(), 4, "{runs_before:?}");

    let (status, dir) = srv.stop();
    stop.store(true, Ordering::SeqCst);
    let status = status.expect("fulcrum exited");
    assert!(status.success(), "SIGTERM must end in exit 0, got {status}");
    for c in clients {
        let _ = c.join();
    }
    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() >= 20);

    let log = std::fs::read_to_string(dir.path().join("server.log")).unwrap_or_default();
    assert!(log.contains("recorded as interrupted"), "the shutdown did not stop the endless runs:\n{log}");

    // At once: the same data dir, the same config.
    let srv = Server::start_in(dir, &cfg, ports.http, None);
    let leases = ok(&srv, "GET", "/api/v1/leases", Value::Null);
    let mut by_ip: HashMap<String, String> = HashMap::new();
    for l in leases.as_array().unwrap() {
        let ip = l["ip"].as_str().unwrap().to_string();
        assert!(by_ip.insert(ip.clone(), l["mac"].as_str().unwrap().to_string()).is_none(), "{ip} leased twice");
    }
    for (mac, ip) in &acked {
        let mac_s = Mac(*mac).to_string();
        assert_eq!(by_ip.get(&ip.to_string()), Some(&mac_s), "acknowledged lease {ip} -> {mac_s} lost at SIGTERM");
    }
    let runs = ok(&srv, "GET", "/api/v1/runs", Value::Null);
    let runs: HashMap<u64, Value> =
        runs.as_array().unwrap().iter().map(|r| (r["id"].as_u64().unwrap(), r.clone())).collect();
    for (id, role) in &runs_before {
        let r = runs.get(id).unwrap_or_else(|| panic!("run {id} ({role}) lost at SIGTERM"));
        let want = if role == "steady" { "succeeded" } else { "interrupted" };
        assert_eq!(r["outcome"], want, "run {id} ({role}): {r}");
        assert!(r["ended_ms"].is_u64(), "run {id} has no end: {r}");
        if want == "interrupted" {
            assert!(r["log"].as_str().unwrap().contains("Fulcrum was stopped"), "{r}");
        }
    }
    // The shutdown applied the crash rule itself: nothing was left for the
    // next start to close.
    assert!(!srv.log_text().contains("crash rule applied"), "runs were left running:\n{}", srv.log_text());
    // The interrupted noderoles are back to be run again.
    let endless = ok(&srv, "GET", "/api/v1/noderoles?role=endless", Value::Null);
    for nr in endless.as_array().unwrap() {
        assert!(["todo", "transition"].contains(&nr["state"].as_str().unwrap()), "{nr}");
    }
}
