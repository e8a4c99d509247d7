//! Node tokens stay secret: while a machine is discovered, changed,
//! reports in and has a role run on it, neither the event stream, nor the
//! server's log (at debug level), nor any view of the API, nor the run's
//! input or log carries its token. Only the machine's own discover answer
//! does (and its templates, when a bootenv's template asks for
//! `node.token`).

use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};

use crate::harness::{curl, curl_as, loopback_config, loopback_network, wait_for, Server};

#[test]
fn no_token_in_events_logs_or_views() {
    let (cfg, ports) = loopback_config();
    let cfg = format!("{cfg}[engine]\nallow_local_scripts = true\n");
    let dir = tempfile::tempdir().unwrap();
    let srv = Server::start_logged(dir, &cfg, ports.http, None, "debug");
    let events = Command::new("curl")
        .arg("--cacert")
        .arg(srv.cert())
        .args(["-sN", "-m", "8", "-H", &format!("Authorization: Bearer {}", srv.token()), &srv.url("/api/v1/events")])
        .stdout(Stdio::piped())
        .spawn()
        .expect("curl events");
    std::thread::sleep(Duration::from_millis(300));
    let call = |method: &str, path: &str, body: Option<Value>| {
        let (code, v) = curl(None, method, &srv.url(path), body.as_ref());
        assert!((200..300).contains(&code), "{method} {path}: {code} {v}");
        v
    };
    call("POST", "/api/v1/networks", Some(loopback_network("admin", 74)));
    let mac = "52:54:00:74:00:01";
    let found = call("POST", "/api/v1/discover", Some(json!({"mac": mac})));
    let token = found["token"].as_str().expect("the discover answer carries the token").to_string();
    assert_eq!(token.len(), 32, "{found}");
    let name = found["name"].as_str().unwrap().to_string();

    call("PUT", &format!("/api/v1/nodes/{name}/bootenv"), Some(json!({"bootenv": "ubuntu-24.04"})));
    call("PATCH", &format!("/api/v1/nodes/{name}"), Some(json!({"available": true})));
    let (code, _) = curl_as(None, None, "POST", &srv.url(&format!("/api/v1/nodes/{name}/alive")), None);
    assert_eq!(code, 401);
    let out = Command::new("curl")
        .args(["-sS", "-X", "POST", "-H", &format!("Authorization: Bearer {token}")])
        .arg(srv.boot_url(&format!("/api/v1/nodes/{name}/alive")))
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("\"alive\":true"), "{out:?}");
    call(
        "POST",
        "/api/v1/roles",
        Some(json!({"name": "nosy", "jig": "script", "local": true, "timeout_seconds": 10, "provision_states": "any",
                    "script": "env; cat; cat \"$FULCRUM_INPUT_FILE\""})),
    );
    call("POST", "/api/v1/deployments", Some(json!({"name": "d"})));
    call("POST", "/api/v1/noderoles", Some(json!({"deployment": "d", "role": "nosy", "node": name})));
    call("POST", "/api/v1/deployments/d/commit", None);
    wait_for(Duration::from_secs(20), "the role's run", || {
        let (_, v) = curl(None, "GET", &srv.url("/api/v1/anneal?deployment=d"), None);
        (v["status"] == "finished").then_some(())
    });

    let mut seen = Vec::new();
    for path in
        ["/api/v1/nodes", &format!("/api/v1/nodes/{name}"), "/api/v1/runs", "/api/v1/noderoles", "/api/v1/leases"]
    {
        seen.push((path.to_string(), call("GET", path, None).to_string()));
    }
    let events = events.wait_with_output().expect("events");
    seen.push(("the event stream".into(), String::from_utf8_lossy(&events.stdout).into_owned()));
    seen.push(("the server log".into(), srv.log_text()));
    for (what, text) in &seen {
        assert!(!text.contains(&token), "{what} carries the node token:\n{text}");
    }
    let stream = &seen.iter().find(|(w, _)| w == "the event stream").unwrap().1;
    for ev in ["event: node.created", "event: node.updated", "event: run.updated"] {
        assert!(stream.contains(ev), "the stream should have seen {ev}:\n{stream}");
    }
    let runs = &seen.iter().find(|(w, _)| w == "/api/v1/runs").unwrap().1;
    assert!(runs.contains("FULCRUM_NODE="), "the run log should hold the script's environment: {runs}");
}
