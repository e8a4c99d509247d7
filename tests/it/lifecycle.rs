//! The lifecycle watchdog against the real binary: a node whose installer
//! never reports back goes from `deploying` to `deploy failed` with the
//! reason (in the API and on the event stream), a node whose installer
//! reports in time goes `active` and is left alone, and a restart of
//! Fulcrum does not restart a node's clock.

use std::process::{Command, Stdio};
use std::time::Duration;

use crate::harness::{curl, loopback_config, loopback_network, wait_for, Server};
use serde_json::{json, Value};

fn ok(srv: &Server, method: &str, path: &str, body: Option<Value>) -> Value {
    let (code, v) = curl(None, method, &srv.url(path), body.as_ref());
    assert!((200..300).contains(&code), "{method} {path}: {code} {v}");
    v
}

/// Takes a new node from enroll to deploying.
fn deploy(srv: &Server, name: &str) {
    for target in ["manage", "provide", "done", "deploy"] {
        ok(srv, "PUT", &format!("/api/v1/nodes/{name}/states/provision"), Some(json!({"target": target})));
    }
    let n = ok(srv, "GET", &format!("/api/v1/nodes/{name}"), None);
    assert_eq!(n["provision_state"], "deploying", "{n}");
    assert!(n["provision_since"].as_u64().is_some(), "{n}");
}

#[test]
fn a_hung_install_is_failed_by_the_watchdog_and_a_restart_does_not_reset_its_clock() {
    let (cfg, ports) = loopback_config();
    let cfg = format!("{cfg}[lifecycle]\ndeploy_timeout_seconds = 3\n");
    let srv = Server::start(&cfg, ports.http, None);
    ok(&srv, "POST", "/api/v1/networks", Some(loopback_network("admin", 99)));
    for (i, n) in ["hung", "fine"].iter().enumerate() {
        ok(
            &srv,
            "POST",
            "/api/v1/nodes",
            Some(json!({"name": format!("{n}.test.example"), "macs": [format!("52:54:00:99:00:{i:02x}")]})),
        );
    }
    let events = Command::new("curl")
        .arg("--cacert")
        .arg(srv.dir.path().join("data/tls/cert.pem"))
        .args(["-sN", "-m", "8", "-H", &format!("Authorization: Bearer {}", srv.token()), &srv.url("/api/v1/events")])
        .stdout(Stdio::piped())
        .spawn()
        .expect("curl events");
    std::thread::sleep(Duration::from_millis(300));
    deploy(&srv, "hung.test.example");
    deploy(&srv, "fine.test.example");
    // The good installer reports in time.
    ok(&srv, "POST", "/api/v1/nodes/fine.test.example/installed", None);
    let hung = wait_for(Duration::from_secs(12), "the watchdog", || {
        let n = ok(&srv, "GET", "/api/v1/nodes/hung.test.example", None);
        (n["provision_state"] == "deploy failed").then_some(n)
    });
    let why = hung["last_error"].as_str().unwrap_or_default();
    assert!(why.contains("deploying took longer than 3 s"), "{hung}");
    let fine = ok(&srv, "GET", "/api/v1/nodes/fine.test.example", None);
    assert_eq!((&fine["provision_state"], &fine["last_error"]), (&json!("active"), &Value::Null), "{fine}");
    let out = events.wait_with_output().expect("events");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("deploying took longer than 3 s"), "the failure is not on the event stream:\n{text}");
    // A verb clears the reason.
    ok(&srv, "PUT", "/api/v1/nodes/hung.test.example/states/provision", Some(json!({"target": "rebuild"})));
    let n = ok(&srv, "GET", "/api/v1/nodes/hung.test.example", None);
    assert_eq!((&n["provision_state"], &n["last_error"]), (&json!("deploying"), &Value::Null), "{n}");
    let since = n["provision_since"].clone();

    // Deploying when Fulcrum stops: the clock is stored with the node, so
    // the restarted server goes on from it (and still fails the node).
    let (_, dir) = srv.stop();
    let srv = Server::start_in(dir, &cfg, ports.http, None);
    let n = ok(&srv, "GET", "/api/v1/nodes/hung.test.example", None);
    assert_eq!(n["provision_since"], since, "the restart reset the node's clock: {n}");
    let n = wait_for(Duration::from_secs(12), "failed after the restart", || {
        let n = ok(&srv, "GET", "/api/v1/nodes/hung.test.example", None);
        (n["provision_state"] == "deploy failed").then_some(n)
    });
    assert!(n["last_error"].as_str().unwrap_or_default().contains("longer than 3 s"), "{n}");
}
