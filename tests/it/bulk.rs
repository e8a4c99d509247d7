//! Bulk node operations against the real binary, with the CLI as an
//! operator runs it (seed 002): `fulcrum node import nodes.json
//! --introspect --provide` imports an instackenv.json in one transaction
//! (a bad entry refuses the whole file, naming the entry's field), manages,
//! inspects (the test reports each node's inventory as its agent would)
//! and provides exactly the imported nodes, with a line per node; bulk
//! verbs select only nodes in the verb's source state, leave available,
//! active and protected nodes untouched, preview with `--dry-run`, and act
//! only on the previewed set; a protected node is refused every verb that
//! would reboot it into another bootenv and always boots from its disk.

use std::process::{Command, Output, Stdio};
use std::time::Duration;

use crate::harness::{curl, loopback_config, loopback_network, wait_for, Server};
use serde_json::{json, Value};

fn fulcrum(srv: &Server, args: &[&str]) -> Command {
    let mut c = Command::new(crate::harness::bin());
    c.env("FULCRUM_ENDPOINT", srv.url(""))
        .env("FULCRUM_TOKEN", srv.token())
        .env("FULCRUM_CACERT", srv.cert())
        .args(args);
    c
}

fn output(o: Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

fn ok(srv: &Server, method: &str, path: &str, body: Option<Value>) -> Value {
    let (code, v) = curl(None, method, &srv.url(path), body.as_ref());
    assert!((200..300).contains(&code), "{method} {path}: {code} {v}");
    v
}

fn node(srv: &Server, name: &str) -> Value {
    ok(srv, "GET", &format!("/api/v1/nodes/{name}"), None)
}

fn verb(srv: &Server, name: &str, target: &str) -> Value {
    ok(srv, "PUT", &format!("/api/v1/nodes/{name}/states/provision"), Some(json!({"target": target})))
}

#[test]
fn import_introspect_provide_and_guarded_bulk_verbs() {
    let (cfg, ports) = loopback_config();
    let srv = Server::start(&cfg, ports.http, None);
    ok(&srv, "POST", "/api/v1/networks", Some(loopback_network("admin", 103)));
    // Bystanders: one available, one active, one manageable and protected.
    let mk = |name: &str, mac: &str| {
        ok(&srv, "POST", "/api/v1/nodes", Some(json!({"name": name, "macs": [mac]})));
    };
    mk("avail.test.example", "52:54:00:67:00:a1");
    mk("act.test.example", "52:54:00:67:00:a2");
    mk("prot.test.example", "52:54:00:67:00:a3");
    for t in ["manage", "provide", "done"] {
        verb(&srv, "avail.test.example", t);
    }
    verb(&srv, "act.test.example", "manage");
    verb(&srv, "act.test.example", "adopt");
    verb(&srv, "prot.test.example", "manage");
    ok(&srv, "PATCH", "/api/v1/nodes/prot.test.example", Some(json!({"protected": true})));
    let before: Vec<Value> =
        ["avail", "act", "prot"].iter().map(|n| node(&srv, &format!("{n}.test.example"))).collect();

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("instackenv.json");
    let entry = |i: u8| {
        json!({"name": format!("ctl{i}"), "mac": [format!("52:54:00:67:00:{i:02x}")], "pm_type": "manual",
               "arch": "x86_64", "cpu": 4, "memory": 8192, "disk": 40, "capabilities": "profile:control"})
    };
    // A bad entry: nothing is imported, and the error names it.
    let mut bad = json!({"nodes": [entry(1), entry(2), entry(3)]});
    bad["nodes"][2]["mac"] = json!(["52:54:00:67:00:a1"]);
    std::fs::write(&file, bad.to_string()).unwrap();
    let out = fulcrum(&srv, &["node", "import", file.to_str().unwrap()]).output().unwrap();
    let text = output(out.clone());
    assert!(!out.status.success() && text.contains("nodes[2].mac"), "{text}");
    let (_, all) = curl(None, "GET", &srv.url("/api/v1/nodes"), None);
    assert_eq!(all.as_array().unwrap().len(), 3, "a refused import left nodes behind: {all}");
    let mut unknown = json!({"nodes": [entry(1)]});
    unknown["nodes"][0]["pm_type"] = json!("idrac");
    let (code, v) = curl(None, "POST", &srv.url("/api/v1/nodes/import"), Some(&unknown));
    assert!(code == 422 && v["detail"]["field"] == "nodes[0].pm_type", "{code} {v}");
    let mut half = json!({"nodes": [entry(1)]});
    half["nodes"][0]["pm_type"] = json!("ipmi");
    half["nodes"][0]["pm_user"] = json!("admin");
    half["nodes"][0]["pm_password"] = json!(123456);
    let (code, v) = curl(None, "POST", &srv.url("/api/v1/nodes/import"), Some(&half));
    assert!(code == 400 && v["detail"]["field"] == "nodes[0].pm_password", "{code} {v}");
    assert!(!v.to_string().contains("123456"), "the password is repeated in the error: {v}");
    half["nodes"][0]["pm_password"] = json!("pw");
    let (code, v) = curl(None, "POST", &srv.url("/api/v1/nodes/import"), Some(&half));
    assert!(code == 422 && v["detail"]["field"] == "nodes[0].pm_addr", "{code} {v}");
    half["nodes"][0]["pm_type"] = Value::Null;
    half["nodes"][0]["pm_addr"] = json!("10.0.0.1");
    let (code, v) = curl(None, "POST", &srv.url("/api/v1/nodes/import"), Some(&half));
    assert!(code == 422 && v["detail"]["field"] == "nodes[0].pm_type", "{code} {v}");
    let (code, v) =
        curl(None, "POST", &srv.url("/api/v1/nodes/import"), Some(&json!({"nodes": [entry(1)], "network": "nope"})));
    assert!(code == 422 && v["detail"]["field"] == "network", "{code} {v}");

    // The real import, with --introspect --provide; the test is the agent.
    std::fs::write(&file, json!({"nodes": [entry(1), entry(2), entry(3)]}).to_string()).unwrap();
    let mut cli =
        fulcrum(&srv, &["node", "import", file.to_str().unwrap(), "--introspect", "--provide", "--wait", "60"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
    wait_for(Duration::from_secs(30), "the import", || {
        if let Ok(Some(status)) = cli.try_wait() {
            let mut err = String::new();
            if let Some(mut e) = cli.stderr.take() {
                std::io::Read::read_to_string(&mut e, &mut err).ok();
            }
            panic!("the import ended early ({status}): {err}");
        }
        let (code, _) = curl(None, "GET", &srv.url("/api/v1/nodes/ctl3.test.example"), None);
        (code == 200).then_some(())
    });
    let names: Vec<String> = (1..=3).map(|i| format!("ctl{i}.test.example")).collect();
    for name in &names {
        wait_for(Duration::from_secs(30), "inspect wait", || {
            (node(&srv, name)["provision_state"] == "inspect wait").then_some(())
        });
        assert_eq!(node(&srv, name)["bootenv"], "discovery");
        let (_, inv) = curl(None, "GET", &srv.url(&format!("/api/v1/nodes/{name}/inventory")), None);
        assert_eq!(inv["facts"]["declared"]["memory"], 8192, "the declared hardware is its inventory: {inv}");
        ok(&srv, "POST", &format!("/api/v1/nodes/{name}/inventory"), Some(json!({"cpus": 4, "disks": []})));
    }
    let out = cli.wait_with_output().unwrap();
    let text = output(out.clone());
    assert!(out.status.success(), "{text}");
    assert!(text.contains("inspection: 3 of 3 finished"), "{text}");
    assert!(text.contains("[3/3] ctl3.test.example: manageable -> clean wait"), "{text}");
    for name in &names {
        assert_eq!(node(&srv, name)["provision_state"], "clean wait", "{name}");
    }
    let (_, inv) = curl(None, "GET", &srv.url("/api/v1/nodes/ctl1.test.example/inventory"), None);
    assert_eq!(inv["facts"]["cpus"], 4, "the agent's report replaced the declared hardware: {inv}");

    // A bulk verb over a state: a preview touches nothing and names what
    // it leaves alone; then only the manageable, unprotected node moves.
    verb(&srv, "ctl1.test.example", "abort");
    verb(&srv, "ctl1.test.example", "manage");
    let out = fulcrum(&srv, &["node", "inspect", "--all-manageable", "--dry-run"]).output().unwrap();
    let text = output(out);
    assert!(text.contains("inspect: 1 node (dry run: none touched)") && text.contains("ctl1.test.example"), "{text}");
    assert!(text.contains("left alone: prot.test.example (is protected)"), "{text}");
    assert_eq!(node(&srv, "ctl1.test.example")["provision_state"], "manageable", "a dry run moved a node");
    let out = fulcrum(&srv, &["node", "inspect", "--all-manageable"]).output().unwrap();
    let text = output(out.clone());
    assert!(out.status.success() && text.contains("[1/1] ctl1.test.example: manageable -> inspect wait"), "{text}");
    // Available, active and protected nodes were never touched.
    let after: Vec<Value> = ["avail", "act", "prot"].iter().map(|n| node(&srv, &format!("{n}.test.example"))).collect();
    assert_eq!(after, before, "a bulk verb touched a node it was not for");

    // The set a preview froze: a node that moved since is left alone.
    let plan = ok(
        &srv,
        "POST",
        "/api/v1/nodes/bulk",
        Some(json!({"verb": "provide", "state": "clean wait", "dry_run": true})),
    );
    assert!(plan["planned"].as_array().unwrap().is_empty(), "provide does not apply from clean wait: {plan}");
    verb(&srv, "ctl2.test.example", "abort");
    verb(&srv, "ctl2.test.example", "manage");
    let plan = ok(
        &srv,
        "POST",
        "/api/v1/nodes/bulk",
        Some(json!({"verb": "provide", "state": "manageable", "dry_run": true})),
    );
    assert_eq!(plan["planned"][0]["name"], "ctl2.test.example", "{plan}");
    verb(&srv, "ctl2.test.example", "inspect");
    let done = ok(
        &srv,
        "POST",
        "/api/v1/nodes/bulk",
        Some(json!({"verb": "provide", "state": "manageable", "nodes": ["ctl2.test.example"]})),
    );
    assert!(done["done"].as_array().unwrap().is_empty(), "{done}");
    assert_eq!(done["skipped"][0]["why"], "is inspect wait, not manageable", "{done}");
    assert_eq!(node(&srv, "ctl2.test.example")["provision_state"], "inspect wait");
    let (code, v) = curl(None, "POST", &srv.url("/api/v1/nodes/bulk"), Some(&json!({"verb": "inspect"})));
    assert!(code == 422 && v["detail"]["field"] == "state", "{code} {v}");
    // The freeze holds across requests: a node that left its state and
    // came back since the preview is left alone.
    let plan = ok(
        &srv,
        "POST",
        "/api/v1/nodes/bulk",
        Some(
            json!({"verb": "inspect", "state": "manageable", "nodes": ["avail.test.example", "prot.test.example"], "dry_run": true}),
        ),
    );
    assert_eq!(plan["skipped"].as_array().unwrap().len(), 2, "{plan}");
    // A deploy preview without a bootenv says so instead of planning it.
    let plan =
        ok(&srv, "POST", "/api/v1/nodes/bulk", Some(json!({"verb": "deploy", "state": "available", "dry_run": true})));
    assert!(plan["planned"].as_array().unwrap().is_empty(), "{plan}");
    assert!(plan["skipped"][0]["why"].as_str().unwrap_or_default().contains("needs a bootenv"), "{plan}");

    // Protected: refused, and it boots from its disk whatever is asked.
    let (code, v) = curl(
        None,
        "PUT",
        &srv.url("/api/v1/nodes/prot.test.example/states/provision"),
        Some(&json!({"target": "inspect"})),
    );
    assert!(code == 409 && v["detail"]["field"] == "protected", "{code} {v}");
    let (code, v) = curl(
        None,
        "PUT",
        &srv.url("/api/v1/nodes/prot.test.example/bootenv"),
        Some(&json!({"bootenv": "ubuntu-24.04"})),
    );
    assert!(code == 409 && v["detail"]["field"] == "protected", "{code} {v}");
    let (_, script) = curl(None, "GET", &srv.boot_url("/boot/ipxe?mac=52:54:00:67:00:a3"), None);
    assert!(script.as_str().unwrap_or_default().contains("local disk"), "{script}");
    // It stays recognisable: not deleted, its MAC not dropped.
    let (code, v) = curl(None, "DELETE", &srv.url("/api/v1/nodes/prot.test.example"), None);
    assert!(code == 409 && v["detail"]["field"] == "protected", "{code} {v}");
    let (code, v) =
        curl(None, "PATCH", &srv.url("/api/v1/nodes/prot.test.example"), Some(&json!({"macs": ["52:54:00:67:00:b3"]})));
    assert!(code == 409 && v["detail"]["field"] == "protected", "{code} {v}");
    let (code, v) = curl(
        None,
        "PATCH",
        &srv.url("/api/v1/nodes/prot.test.example"),
        Some(&json!({"macs": ["52:54:00:67:00:a3", "52:54:00:67:00:b3"]})),
    );
    assert_eq!(code, 200, "adding a MAC is fine: {v}");
    // A node installing cannot be protected until it boots from disk.
    ok(&srv, "PUT", "/api/v1/nodes/avail.test.example/bootenv", Some(json!({"bootenv": "ubuntu-24.04"})));
    let (code, v) =
        curl(None, "PATCH", &srv.url("/api/v1/nodes/avail.test.example"), Some(&json!({"protected": true})));
    assert!(code == 409 && v["detail"]["field"] == "protected", "{code} {v}");
    let (code, v) = curl(
        None,
        "PATCH",
        &srv.url("/api/v1/nodes/act.test.example"),
        Some(&json!({"protected": true, "bootenv": "ubuntu-24.04"})),
    );
    assert!(code == 409 && v["detail"]["field"] == "protected", "in one PATCH: {code} {v}");
    let out = fulcrum(&srv, &["node", "protect", "prot.test.example", "--off"]).output().unwrap();
    assert!(out.status.success(), "{}", output(out));
    assert_eq!(verb(&srv, "prot.test.example", "inspect")["provision_state"], "inspect wait");
}
