//! The web UI end to end in headless Chromium (Debian's, driven by
//! playwright-core from `tests/ui/drive.mjs`) against a live server: the
//! login with a token, every page loading without a console or page error,
//! an action that changes state (a node's bootenv), a change made through
//! the API appearing without a reload, and seed 000's flow (bind a role to
//! a node, commit, watch the graph turn active; retry a noderole that
//! failed). Screenshots are kept in
//! `target/ui-screenshots/`. Fails under CI=true when anything is missing.

use std::path::PathBuf;
use std::process::Command;

use crate::harness::{curl, in_ci, loopback_config, loopback_network, prerequisites, Server};
use serde_json::{json, Value};

const NODE: &str = "web1.test.example";

#[test]
fn the_web_ui_logs_in_acts_and_updates_live_in_chromium() {
    if !prerequisites("web_ui", false, &["node", "chromium"]) {
        return;
    }
    let npm = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/target/npm"));
    if !npm.join("node_modules/playwright-core").is_dir() {
        assert!(!in_ci(), "web_ui: playwright-core is not in {} (scripts/test-all.sh installs it)", npm.display());
        eprintln!("web_ui: skipped: no playwright-core in {} (run scripts/test-all.sh)", npm.display());
        return;
    }
    // A local script role that fails its first run and succeeds when retried.
    let (cfg, ports) = loopback_config();
    let srv = Server::start(&format!("{cfg}[engine]\nallow_local_scripts = true\n"), ports.http, None);
    let marker = srv.dir.path().join("failed-once");
    let ok = |m: &str, p: &str, b: Option<Value>| {
        let (code, v) = curl(None, m, &srv.url(p), b.as_ref());
        assert!((200..300).contains(&code), "{m} {p}: {code} {v}");
        v
    };
    ok("POST", "/api/v1/networks", Some(loopback_network("ui", 91)));
    ok("POST", "/api/v1/nodes", Some(json!({"name": NODE, "macs": ["52:54:00:91:00:01"]})));
    ok("PATCH", &format!("/api/v1/nodes/{NODE}"), Some(json!({"alive": true})));
    for target in ["manage", "adopt"] {
        ok("PUT", &format!("/api/v1/nodes/{NODE}/states/provision"), Some(json!({"target": target})));
    }
    ok("POST", "/api/v1/roles", Some(json!({"name": "web", "jig": "test", "test": {"delay_ms": 1500}})));
    let script =
        format!("if [ -e {m} ]; then exit 0; fi; touch {m}; echo first run fails; exit 1", m = marker.display());
    ok(
        "POST",
        "/api/v1/roles",
        Some(json!({"name": "once", "jig": "script", "local": true, "script": script, "timeout_seconds": 10})),
    );
    ok("POST", "/api/v1/deployments", Some(json!({"name": "shop"})));

    let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).parent().map(|t| t.join("ui-screenshots")).unwrap();
    std::fs::create_dir_all(&out).unwrap();
    let run = Command::new("node")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/ui/drive.mjs"))
        .env("PLAYWRIGHT_FROM", npm.join("drive.cjs"))
        .env("FULCRUM_URL", srv.url("").trim_end_matches('/'))
        .env("FULCRUM_TOKEN", srv.token())
        .env("NODE", NODE)
        .env("DEPLOYMENT", "shop")
        .env("ROLE", "web")
        .env("OUT", &out)
        .output()
        .expect("node");
    let said = format!("{}{}", String::from_utf8_lossy(&run.stdout), String::from_utf8_lossy(&run.stderr));
    assert!(run.status.success(), "the UI run failed:\n{said}\n--- server log ---\n{}", srv.log_text());
    assert!(said.contains("ui: all good"), "{said}");

    // What the browser did is what the server holds.
    assert_eq!(ok("GET", &format!("/api/v1/nodes/{NODE}"), None)["bootenv"], "local");
    let nrs = ok("GET", "/api/v1/noderoles?deployment=shop", None);
    for role in ["web", "once"] {
        let bound: Vec<&Value> = nrs.as_array().unwrap().iter().filter(|n| n["role"] == role).collect();
        assert!(bound.len() == 1 && bound[0]["state"] == "active" && bound[0]["node"] == NODE, "{role}: {nrs}");
    }
    assert!(marker.exists(), "the failing role never ran");
    for shot in ["login", "nodes", "node", "deployment", "networks", "bootenvs", "deployments", "runs", "events", "run"]
    {
        let len = std::fs::metadata(out.join(format!("{shot}.png"))).map(|m| m.len()).unwrap_or(0);
        assert!(len > 5_000, "screenshot {shot}.png is {len} bytes");
    }
    // The UI's files carry a policy that lets only them run.
    let page = Command::new("curl").args(["-sk", "-D", "-", "-o", "/dev/null", &srv.url("/ui/")]).output().unwrap();
    let headers = String::from_utf8_lossy(&page.stdout).to_lowercase();
    assert!(headers.contains("content-security-policy: default-src 'none'; script-src 'self'"), "{headers}");
}
