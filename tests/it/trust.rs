//! Nobody in who does not belong, tried the way an attacker would: no
//! token, a forged, revoked or expired one, a reader writing, an operator
//! asking for admin features, a machine's token anywhere but its own
//! node's reports, and the original attack (a role with a local script,
//! bound and committed, with no token) refused at every step with nothing
//! run. Tokens are stored as digests, the first admin token's file is 0600
//! and written once, and every write, refused ones included, is audited.

use std::os::unix::fs::PermissionsExt;
use std::process::Command;
use std::time::Duration;

use serde_json::{json, Value};

use crate::harness::{curl, curl_as, loopback_config, loopback_network, wait_for, Server};

/// Creates a token with the admin's; returns its text.
fn token(srv: &Server, role: &str, expires: Option<&str>) -> String {
    let mut body = json!({"name": format!("t-{role}"), "role": role});
    if let Some(e) = expires {
        body["expires"] = json!(e);
    }
    let (code, v) = curl(None, "POST", &srv.url("/api/v1/tokens"), Some(&body));
    assert_eq!(code, 201, "{v}");
    v["token"].as_str().unwrap().to_string()
}

/// Registers a machine as its discovery image does; returns its node's
/// name and token.
fn discover(srv: &Server, mac: &str) -> (String, String) {
    let (code, v) = curl_as(None, None, "POST", &srv.url("/api/v1/discover"), Some(&json!({"mac": mac})));
    assert_eq!(code, 201, "{v}");
    (v["name"].as_str().unwrap().to_string(), v["token"].as_str().unwrap().to_string())
}

/// Asserts `code` and that the error names what went wrong.
fn refused(got: (u16, Value), code: u16, says: &str) {
    assert_eq!(got.0, code, "{}", got.1);
    let e = got.1["error"].as_str().unwrap_or_default();
    assert!(e.contains(says), "the error should say `{says}`: {}", got.1);
}

#[test]
fn every_caller_gets_exactly_its_access() {
    let (cfg, ports) = loopback_config();
    let srv = Server::start(&cfg, ports.http, None);
    let u = |p: &str| srv.url(p);
    // The first admin token: in the data dir, 0600.
    let file = srv.dir.path().join("data/admin.token");
    assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
    assert!(srv.log_text().contains("first start: an admin token was written"));

    // No token, a forged one, garbage.
    for path in ["/api/v1/nodes", "/api/v1/events", "/metrics", "/api/v1/audit"] {
        refused(curl_as(None, None, "GET", &u(path), None), 401, "Authorization: Bearer");
    }
    refused(
        curl_as(None, Some("fk_1_00000000000000000000000000000000"), "GET", &u("/api/v1/nodes"), None),
        401,
        "not valid",
    );
    refused(curl_as(None, Some("fk_99_x"), "GET", &u("/api/v1/nodes"), None), 401, "not valid");
    refused(curl_as(None, Some("garbage"), "GET", &u("/api/v1/nodes"), None), 401, "not valid");
    let out = Command::new("curl")
        .arg("--cacert")
        .arg(srv.cert())
        .args(["-sS", "-D", "-", "-o", "/dev/null", &u("/api/v1/nodes")])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).to_ascii_lowercase().contains("www-authenticate: bearer"));
    // Health needs nothing.
    assert_eq!(curl_as(None, None, "GET", &u("/healthz"), None).0, 200);

    // A reader reads, the event stream included, and writes nothing.
    let reader = token(&srv, "reader", None);
    assert_eq!(curl_as(None, Some(&reader), "GET", &u("/api/v1/nodes"), None).0, 200);
    assert_eq!(curl_as(None, Some(&reader), "GET", &u("/metrics"), None).0, 200);
    let out = Command::new("curl")
        .arg("--cacert")
        .arg(srv.cert())
        .args([
            "-sN",
            "-m",
            "1",
            "-H",
            &format!("Authorization: Bearer {reader}"),
            "-w",
            "%{http_code}",
            &u("/api/v1/events"),
        ])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).ends_with("200"), "{out:?}");
    refused(
        curl_as(None, Some(&reader), "POST", &u("/api/v1/networks"), Some(&loopback_network("n", 62))),
        403,
        "operator access",
    );
    refused(curl_as(None, Some(&reader), "GET", &u("/api/v1/audit"), None), 403, "operator access");

    // An operator runs the cluster, but neither tokens nor admin features.
    let operator = token(&srv, "operator", None);
    assert_eq!(curl_as(None, Some(&operator), "POST", &u("/api/v1/networks"), Some(&loopback_network("n", 62))).0, 201);
    let node = json!({"name": "a.test.example", "macs": ["52:54:00:62:00:01"]});
    assert_eq!(curl_as(None, Some(&operator), "POST", &u("/api/v1/nodes"), Some(&node)).0, 201);
    assert_eq!(
        curl_as(None, Some(&operator), "PATCH", &u("/api/v1/nodes/a.test.example"), Some(&json!({"alive": true}))).0,
        200
    );
    refused(
        curl_as(None, Some(&operator), "POST", &u("/api/v1/tokens"), Some(&json!({"name": "x", "role": "admin"}))),
        403,
        "admin access",
    );
    refused(curl_as(None, Some(&operator), "GET", &u("/api/v1/tokens"), None), 403, "admin access");
    refused(
        curl_as(None, Some(&reader), "POST", &u("/api/v1/nodes/a.test.example/alive"), None),
        403,
        "operator access",
    );
    assert_eq!(curl_as(None, Some(&operator), "GET", &u("/api/v1/audit"), None).0, 200);

    // Revoked and expired tokens.
    let (_, list) = curl(None, "GET", &u("/api/v1/tokens"), None);
    let reader_id = list.as_array().unwrap().iter().find(|t| t["name"] == "t-reader").unwrap()["id"].clone();
    assert!(list.to_string().find("digest").is_none() && !list.to_string().contains(&reader[10..]), "{list}");
    assert_eq!(curl(None, "DELETE", &u(&format!("/api/v1/tokens/{reader_id}")), None).0, 200);
    refused(curl_as(None, Some(&reader), "GET", &u("/api/v1/nodes"), None), 401, "revoked");
    let brief = token(&srv, "reader", Some("1s"));
    wait_for(Duration::from_secs(10), "the token to expire", || {
        (curl_as(None, Some(&brief), "GET", &u("/api/v1/nodes"), None).0 == 401).then_some(())
    });
    refused(curl_as(None, Some(&brief), "GET", &u("/api/v1/nodes"), None), 401, "expired");
    let (code, v) =
        curl(None, "POST", &u("/api/v1/tokens"), Some(&json!({"name": "x", "role": "reader", "expires": "soon"})));
    assert!(code == 422 && v["detail"]["field"] == "expires", "{v}");

    // Stored as digests: no token text in the store.
    let store = std::fs::read(srv.dir.path().join("data/fulcrum.redb")).unwrap();
    for t in [&operator, &reader] {
        let secret = t.rsplit('_').next().unwrap().as_bytes();
        assert!(!store.windows(secret.len()).any(|w| w == secret), "a token's secret is in the store");
    }

    // The first admin token is written once: a restart makes no other.
    let before = std::fs::read_to_string(&file).unwrap();
    let (_, dir) = srv.stop();
    let srv = Server::start_in(dir, &cfg, ports.http, None);
    assert_eq!(std::fs::read_to_string(srv.dir.path().join("data/admin.token")).unwrap(), before);
    assert!(!srv.log_text().contains("first start"));
    assert_eq!(
        curl_as(None, Some(&operator), "GET", &srv.url("/api/v1/nodes"), None).0,
        200,
        "tokens survive a restart"
    );
}

#[test]
fn machine_tokens_only_report_for_their_own_node() {
    let (cfg, ports) = loopback_config();
    let srv = Server::start(&cfg, ports.http, None);
    let u = |p: &str| srv.url(p);
    assert_eq!(curl(None, "POST", &u("/api/v1/networks"), Some(&loopback_network("m", 63))).0, 201);
    let discover = |mac: &str| discover(&srv, mac);
    let (a, ta) = discover("52:54:00:63:00:01");
    let (b, _) = discover("52:54:00:63:00:02");
    let mine = |verb: &str, path: String| curl_as(None, Some(&ta), verb, &u(&path), None);
    // Its own reports.
    assert_eq!(mine("POST", format!("/api/v1/nodes/{a}/alive")).0, 200);
    // Another node's reports.
    refused(mine("POST", format!("/api/v1/nodes/{b}/alive")), 403, "does not match");
    refused(mine("POST", format!("/api/v1/nodes/{b}/installed")), 403, "does not match");
    // Any operator route, its own node's included.
    for (verb, path) in [
        ("GET", "/api/v1/nodes".to_string()),
        ("GET", format!("/api/v1/nodes/{a}")),
        ("GET", format!("/api/v1/nodes/{b}")),
        ("PATCH", format!("/api/v1/nodes/{a}")),
        ("PUT", format!("/api/v1/nodes/{a}/bootenv")),
        ("DELETE", format!("/api/v1/nodes/{b}")),
        ("GET", "/api/v1/events".to_string()),
        ("POST", "/api/v1/tokens".to_string()),
        ("GET", "/api/v1/leases".to_string()),
    ] {
        refused(mine(verb, path.clone()), 403, "machine token");
    }
    // Install completion: its node boots from disk next.
    let (code, v) = mine("POST", format!("/api/v1/nodes/{a}/installed"));
    assert!(code == 200 && v["bootenv"] == "local", "{v}");
    // Nothing changed on B, and no token at all gets 401.
    refused(curl_as(None, None, "POST", &u(&format!("/api/v1/nodes/{b}/alive")), None), 401, "Bearer");
    let (_, nb) = curl(None, "GET", &u(&format!("/api/v1/nodes/{b}")), None);
    assert_eq!(nb["bootenv"], "discovery", "{nb}");

    // Registering again hands out a new token; the old one is dead.
    let (code, again) = curl_as(None, None, "POST", &u("/api/v1/discover"), Some(&json!({"mac": "52:54:00:63:00:01"})));
    assert_eq!(code, 200, "{again}");
    let fresh = again["token"].as_str().unwrap().to_string();
    assert_ne!(fresh, ta, "a machine registering again keeps its old token");
    refused(mine("POST", format!("/api/v1/nodes/{a}/alive")), 403, "does not match");
    let (code, _) = curl_as(None, Some(&fresh), "POST", &u(&format!("/api/v1/nodes/{a}/alive")), None);
    assert_eq!(code, 200);
}

#[test]
fn the_local_script_attack_is_refused_at_every_step() {
    let marker = tempfile::tempdir().unwrap();
    let pwned = marker.path().join("pwned");
    let role = json!({"name": "evil", "jig": "script", "local": true, "script": format!("touch {}", pwned.display())});
    let power = json!({"power": {"driver": "command", "command": format!("touch {}", pwned.display())}});

    // Off in the config (the default): refused even for the admin, naming the setting.
    let (cfg, ports) = loopback_config();
    let srv = Server::start(&cfg, ports.http, None);
    let u = |p: &str| srv.url(p);
    refused(curl_as(None, None, "POST", &u("/api/v1/roles"), Some(&role)), 401, "Bearer");
    refused(curl(None, "POST", &u("/api/v1/roles"), Some(&role)), 403, "engine.allow_local_scripts");
    assert_eq!(curl(None, "POST", &u("/api/v1/networks"), Some(&loopback_network("a", 64))).0, 201);
    let node = json!({"name": "v.test.example", "macs": ["52:54:00:64:00:01"]});
    assert_eq!(curl(None, "POST", &u("/api/v1/nodes"), Some(&node)).0, 201);
    refused(curl(None, "PATCH", &u("/api/v1/nodes/v.test.example"), Some(&power)), 403, "power.allow_commands");
    refused(curl_as(None, None, "POST", &u("/api/v1/deployments"), Some(&json!({"name": "d"}))), 401, "Bearer");
    let (_, roles) = curl(None, "GET", &u("/api/v1/roles"), None);
    assert!(!roles.to_string().contains("evil"), "a refused role was stored");
    drop(srv);

    // On in the config: an operator still may not; an admin may.
    let (cfg, ports) = loopback_config();
    let cfg = format!("{cfg}[engine]\nallow_local_scripts = true\n[power]\nallow_commands = true\n");
    let srv = Server::start(&cfg, ports.http, None);
    let u = |p: &str| srv.url(p);
    let operator = token(&srv, "operator", None);
    refused(curl_as(None, Some(&operator), "POST", &u("/api/v1/roles"), Some(&role)), 403, "needs an admin token");
    assert_eq!(curl(None, "POST", &u("/api/v1/networks"), Some(&loopback_network("a", 65))).0, 201);
    let node = json!({"name": "v.test.example", "macs": ["52:54:00:65:00:01"]});
    assert_eq!(curl_as(None, Some(&operator), "POST", &u("/api/v1/nodes"), Some(&node)).0, 201);
    refused(
        curl_as(None, Some(&operator), "PATCH", &u("/api/v1/nodes/v.test.example"), Some(&power)),
        403,
        "needs an admin token",
    );
    assert!(!pwned.exists(), "something ran");
    assert_eq!(curl(None, "POST", &u("/api/v1/roles"), Some(&role)).0, 201, "the admin, where the config allows it");
    assert_eq!(curl(None, "PATCH", &u("/api/v1/nodes/v.test.example"), Some(&power)).0, 200);

    // Every write above is in the audit log, refused ones included.
    let (code, audit) = curl_as(None, Some(&operator), "GET", &u("/api/v1/audit"), None);
    assert_eq!(code, 200);
    let entries = audit.as_array().unwrap();
    let refused_role =
        entries.iter().find(|e| e["path"] == "/api/v1/roles" && e["status"] == 403).expect("the refused role");
    assert_eq!(refused_role["who"]["kind"], "token", "{refused_role}");
    assert_eq!(refused_role["who"]["access"], "operator", "{refused_role}");
    assert!(entries
        .iter()
        .any(|e| e["path"] == "/api/v1/roles" && e["status"] == 201 && e["who"]["access"] == "admin"));
    assert!(entries.iter().all(|e| e["method"] != "GET"), "reads are not audited: {audit}");
    // And the CLI shows it.
    let out = Command::new(crate::harness::bin())
        .args(["--endpoint", &u(""), "--token", &operator, "audit", "--limit", "5"])
        .arg("--server-cert")
        .arg(srv.cert())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && text.contains("WHO") && text.contains("token"), "{text}");
}

#[test]
fn tokens_from_the_cli() {
    let (cfg, ports) = loopback_config();
    let srv = Server::start(&cfg, ports.http, None);
    let cli = |args: &[&str]| {
        let out = Command::new(crate::harness::bin())
            .env("FULCRUM_ENDPOINT", srv.url(""))
            .env("FULCRUM_TOKEN_FILE", srv.dir.path().join("data/admin.token"))
            .env("FULCRUM_SERVER_CERT", srv.cert())
            .args(args)
            .output()
            .unwrap();
        (out.status.success(), String::from_utf8_lossy(&out.stdout).to_string())
    };
    let (ok, out) = cli(&["token", "create", "--role", "reader", "--expires", "30d", "--name", "grafana"]);
    assert!(ok, "{out}");
    let text =
        out.lines().find_map(|l| l.trim().strip_prefix("fk_")).map(|t| format!("fk_{t}")).expect("the token, once");
    assert_eq!(curl_as(None, Some(&text), "GET", &srv.url("/api/v1/nodes"), None).0, 200);
    let (ok, list) = cli(&["token", "list"]);
    assert!(ok && list.contains("grafana") && list.contains("reader") && !list.contains(&text[5..]), "{list}");
    let id = list.lines().find(|l| l.contains("grafana")).unwrap().split_whitespace().next().unwrap().to_string();
    assert!(cli(&["token", "revoke", &id]).0);
    assert_eq!(curl_as(None, Some(&text), "GET", &srv.url("/api/v1/nodes"), None).0, 401);
}

#[test]
fn a_machine_posts_only_its_own_inventory() {
    let (cfg, ports) = loopback_config();
    let srv = Server::start(&cfg, ports.http, None);
    let u = |p: &str| srv.url(p);
    assert_eq!(curl(None, "POST", &u("/api/v1/networks"), Some(&loopback_network("inv", 64))).0, 201);
    let discover = |mac: &str| discover(&srv, mac);
    let (a, ta) = discover("52:54:00:64:00:01");
    let (b, _) = discover("52:54:00:64:00:02");
    let facts = json!({"cpus": 4, "memory_mib": 2048, "disks": [{"name": "vda", "bytes": 8589934592u64}],
                       "nics": [{"mac": "52:54:00:64:00:01", "driver": "virtio_net"}]});
    // From the discovery image, on the plain-HTTP boot listener, with its own token.
    let at_boot = srv.boot_url(&format!("/api/v1/nodes/{a}/inventory"));
    let (code, v) = curl_as(None, Some(&ta), "POST", &at_boot, Some(&facts));
    assert_eq!(code, 200, "{v}");
    assert_eq!(v["facts"]["cpus"], 4, "{v}");
    // Not for another node, not without a token, not read back with it.
    refused(
        curl_as(None, Some(&ta), "POST", &u(&format!("/api/v1/nodes/{b}/inventory")), Some(&facts)),
        403,
        "does not match",
    );
    refused(curl_as(None, None, "POST", &u(&format!("/api/v1/nodes/{a}/inventory")), Some(&facts)), 401, "Bearer");
    refused(curl_as(None, Some(&ta), "GET", &u(&format!("/api/v1/nodes/{a}/inventory")), None), 403, "machine token");
    // Bad reports are refused naming the limit, and keep the last good one.
    let big = json!({"blob": "x".repeat(70_000)});
    refused(curl_as(None, Some(&ta), "POST", &at_boot, Some(&big)), 422, "at most 65536");
    refused(curl_as(None, Some(&ta), "POST", &at_boot, Some(&json!([1, 2]))), 400, "expected a map");
    // A reader sees it; B has none.
    let reader = token(&srv, "reader", None);
    let (code, v) = curl_as(None, Some(&reader), "GET", &u(&format!("/api/v1/nodes/{a}/inventory")), None);
    assert_eq!(code, 200, "{v}");
    assert_eq!(v["facts"], facts, "{v}");
    refused(
        curl_as(None, Some(&reader), "GET", &u(&format!("/api/v1/nodes/{b}/inventory")), None),
        404,
        "no inventory",
    );
    refused(
        curl_as(None, Some(&reader), "POST", &u(&format!("/api/v1/nodes/{b}/inventory")), Some(&facts)),
        403,
        "reader",
    );
    // It is audited as the node's, survives a restart, and goes with the node.
    let (_, audit) = curl(None, "GET", &u("/api/v1/audit"), None);
    let hit = audit
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["route"].as_str().is_some_and(|p| p.ends_with("/inventory")) && r.to_string().contains(&a));
    assert!(hit, "no audit record of the report: {audit}");
    let (status, dir) = srv.stop();
    assert!(status.is_some_and(|s| s.success()));
    let srv = Server::start_in(dir, &cfg, ports.http, None);
    let (code, v) = curl(None, "GET", &srv.url(&format!("/api/v1/nodes/{a}/inventory")), None);
    assert!(code == 200 && v["facts"] == facts, "{code} {v}");
    assert_eq!(curl(None, "DELETE", &srv.url(&format!("/api/v1/nodes/{a}")), None).0, 204);
    // A new node of the same name starts with no report.
    let again = json!({"name": a, "macs": ["52:54:00:64:00:09"]});
    assert_eq!(curl(None, "POST", &srv.url("/api/v1/nodes"), Some(&again)).0, 201);
    refused(curl(None, "GET", &srv.url(&format!("/api/v1/nodes/{a}/inventory")), None), 404, "no inventory");
}

#[test]
fn the_audit_log_keeps_the_newest_entries() {
    let (cfg, ports) = loopback_config();
    let cfg = cfg.replace("[api]\n", "[api]\naudit_keep = 5\n");
    let srv = Server::start(&cfg, ports.http, None);
    // Eight writes, refused ones included.
    for i in 0..8 {
        let code = curl(None, "POST", &srv.url("/api/v1/networks"), Some(&json!({"name": format!("bad{i}")}))).0;
        assert_eq!(code, 400);
    }
    let ids = |srv: &Server| -> Vec<u64> {
        let (code, audit) = curl(None, "GET", &srv.url("/api/v1/audit"), None);
        assert_eq!(code, 200, "{audit}");
        audit.as_array().unwrap().iter().filter_map(|e| e["id"].as_u64()).collect()
    };
    assert_eq!(ids(&srv), vec![4, 5, 6, 7, 8], "the newest five, oldest dropped");
    // Across a restart, and numbering goes on from the newest.
    let (_, dir) = srv.stop();
    let srv = Server::start_in(dir, &cfg, ports.http, None);
    assert_eq!(curl(None, "POST", &srv.url("/api/v1/networks"), Some(&json!({"name": "bad9"}))).0, 400);
    assert_eq!(ids(&srv), vec![5, 6, 7, 8, 9]);
}
