//! The REST API contract, with curl as the client, against a server
//! started in this process on port 0: creation, derived addresses,
//! validation errors that name the field, conflicts, nothing half-written,
//! boot scripts, events; and against the real binary: bad config and
//! SIGTERM.

use std::process::Command;
use std::time::Duration;

use crate::harness::{curl, loopback, loopback_network, wait_for, InProcess};
use serde_json::{json, Value};

fn md5_tail(name: &str) -> String {
    let out = crate::harness::run(Command::new("sh").args(["-c", &format!("printf %s '{name}' | md5sum")]));
    let hex = String::from_utf8_lossy(&out.stdout)[16..32].to_string();
    // Group as IPv6 hextets without leading zeros.
    (0..4)
        .map(|i| format!("{:x}", u16::from_str_radix(&hex[i * 4..i * 4 + 4], 16).unwrap()))
        .collect::<Vec<_>>()
        .join(":")
}

#[test]
fn networks_nodes_and_addresses() {
    let srv = InProcess::start("");
    let u = |p: &str| srv.url(p);
    let (code, net) = curl(None, "POST", &u("/api/v1/networks"), Some(&loopback_network("admin", 50)));
    assert_eq!(code, 201, "{net}");
    let v6net = net["v6_network"].as_str().unwrap().to_string();
    assert!(v6net.starts_with("fd") && v6net.ends_with("::/64"), "{v6net}");
    let (_, health) = curl(None, "GET", &u("/healthz"), None);
    let gid = health["global_id"].as_str().unwrap();
    // fd + 40-bit global ID + 16-bit subnet id (network id 1).
    let want_prefix = format!(
        "fd{}:{}:{}:1::/64",
        &gid[0..2],
        u16::from_str_radix(&gid[2..6], 16).map(|x| format!("{x:x}")).unwrap(),
        u16::from_str_radix(&gid[6..10], 16).map(|x| format!("{x:x}")).unwrap()
    );
    assert_eq!(v6net, want_prefix);

    let (code, node) = curl(
        None,
        "POST",
        &u("/api/v1/nodes"),
        Some(&json!({"name": "n1.test.example", "macs": ["52:54:00:00:00:01"]})),
    );
    assert_eq!(code, 201, "{node}");
    assert_eq!(node["ipv4"], "127.50.0.10");
    assert_eq!(node["bootenv"], "local");
    assert_eq!(node["provision_state"], "enroll");
    let v6 = node["ipv6"].as_str().unwrap();
    assert!(v6.ends_with(&md5_tail("n1.test.example")), "{v6} vs md5 tail {}", md5_tail("n1.test.example"));
    assert_eq!(node["addresses"], json!(["127.50.0.10", v6]));
    // MACs in any spelling, stored canonically; next static address.
    let (code, n2) = curl(
        None,
        "POST",
        &u("/api/v1/nodes"),
        Some(&json!({"name": "n2.test.example", "macs": ["52-54-00-00-00-02"], "bootenv": "discovery"})),
    );
    assert_eq!(code, 201, "{n2}");
    assert_eq!(n2["macs"], json!(["52:54:00:00:00:02"]));
    assert_eq!(n2["ipv4"], "127.50.0.11");
    // Explicit address.
    let (code, n3) = curl(
        None,
        "POST",
        &u("/api/v1/nodes"),
        Some(&json!({"name": "n3.test.example", "macs": ["52:54:00:00:00:03"], "address": "127.50.0.42"})),
    );
    assert_eq!(code, 201, "{n3}");
    assert_eq!(n3["ipv4"], "127.50.0.42");
    let (_, list) = curl(None, "GET", &u("/api/v1/nodes"), None);
    assert_eq!(list.as_array().unwrap().len(), 3);
}

fn expect_error(srv: &InProcess, method: &str, path: &str, body: Value, code: u16, field: &str) {
    let (got, v) = curl(None, method, &srv.url(path), Some(&body));
    assert_eq!(got, code, "{method} {path} {body}: {v}");
    assert!(v["error"].is_string(), "{v}");
    assert_eq!(v["detail"]["field"], field, "{method} {path} {body}: {v}");
}

#[test]
fn bad_input_names_the_field_and_leaves_nothing_behind() {
    let srv = InProcess::start("");
    let mut net = loopback_network("admin", 51);
    expect_error(&srv, "POST", "/api/v1/networks", json!({"name": "x"}), 400, "subnet");
    net["subnet"] = json!("not-a-subnet");
    expect_error(&srv, "POST", "/api/v1/networks", net.clone(), 400, "subnet");
    net = loopback_network("admin", 51);
    net["static"]["start"] = json!("10.0.0.5");
    expect_error(&srv, "POST", "/api/v1/networks", net.clone(), 422, "static.start");
    net = loopback_network("admin", 51);
    net["dynamic"] = json!({"start": "127.51.0.50", "end": "127.51.0.150"});
    expect_error(&srv, "POST", "/api/v1/networks", net.clone(), 422, "dynamic");
    net = loopback_network("admin", 51);
    net["v6prefix"] = json!("fd00::/48");
    expect_error(&srv, "POST", "/api/v1/networks", net.clone(), 400, "v6prefix");
    net = loopback_network("admin", 51);
    net["colour"] = json!("blue");
    expect_error(&srv, "POST", "/api/v1/networks", net, 400, "colour");
    let (_, nets) = curl(None, "GET", &srv.url("/api/v1/networks"), None);
    assert_eq!(nets, json!([]), "a rejected network was stored");

    assert_eq!(curl(None, "POST", &srv.url("/api/v1/networks"), Some(&loopback_network("admin", 51))).0, 201);
    expect_error(&srv, "POST", "/api/v1/networks", loopback_network("admin", 52), 409, "name");
    expect_error(&srv, "POST", "/api/v1/networks", loopback_network("other", 51), 409, "subnet");

    let node = |name: &str, mac: &str| json!({"name": name, "macs": [mac]});
    assert_eq!(
        curl(None, "POST", &srv.url("/api/v1/nodes"), Some(&node("a.test.example", "52:54:00:00:01:01"))).0,
        201
    );
    expect_error(&srv, "POST", "/api/v1/nodes", node("a.test.example", "52:54:00:00:01:02"), 409, "name");
    expect_error(&srv, "POST", "/api/v1/nodes", node("b.test.example", "52:54:00:00:01:01"), 409, "macs");
    expect_error(
        &srv,
        "POST",
        "/api/v1/nodes",
        json!({"name": "b.test.example", "macs": ["52:54:00:00:01:03"], "address": "127.51.0.10"}),
        409,
        "address",
    );
    expect_error(&srv, "POST", "/api/v1/nodes", node("b.test.example", "zz:54:00:00:01:01"), 400, "macs[0]");
    expect_error(&srv, "POST", "/api/v1/nodes", node("Bad_Name", "52:54:00:00:01:04"), 422, "name");
    expect_error(
        &srv,
        "POST",
        "/api/v1/nodes",
        json!({"name": "b.test.example", "macs": ["52:54:00:00:01:05"], "bootenv": "nope"}),
        422,
        "bootenv",
    );
    expect_error(
        &srv,
        "POST",
        "/api/v1/nodes",
        json!({"name": "b.test.example", "macs": ["52:54:00:00:01:05"], "address": "127.51.0.150"}),
        422,
        "address",
    );
    expect_error(&srv, "PUT", "/api/v1/nodes/a.test.example/bootenv", json!({"bootenv": "nope"}), 422, "bootenv");
    expect_error(
        &srv,
        "PUT",
        "/api/v1/nodes/a.test.example/states/provision",
        json!({"target": "deploy"}),
        409,
        "target",
    );
    expect_error(
        &srv,
        "PUT",
        "/api/v1/nodes/a.test.example/states/provision",
        json!({"target": "explode"}),
        400,
        "target",
    );
    expect_error(&srv, "PATCH", "/api/v1/nodes/a.test.example", json!({"alive": "yes"}), 400, "alive");
    let (_, nodes) = curl(None, "GET", &srv.url("/api/v1/nodes"), None);
    let nodes = nodes.as_array().unwrap().clone();
    assert_eq!(nodes.len(), 1, "a rejected node was stored: {nodes:?}");
    assert_eq!(nodes[0]["bootenv"], "local");
    assert_eq!(curl(None, "GET", &srv.url("/api/v1/nodes/missing.test.example"), None).0, 404);
    // Garbage bodies.
    let (code, v) = curl(None, "POST", &srv.url("/api/v1/nodes"), Some(&json!("just a string")));
    assert_eq!(code, 400, "{v}");
}

#[test]
fn lifecycle_verbs_follow_ironic() {
    let srv = InProcess::start("");
    assert_eq!(curl(None, "POST", &srv.url("/api/v1/networks"), Some(&loopback_network("admin", 53))).0, 201);
    for (name, mac) in [("new.test.example", "52:54:00:00:02:01"), ("ready.test.example", "52:54:00:00:02:02")] {
        assert_eq!(curl(None, "POST", &srv.url("/api/v1/nodes"), Some(&json!({"name": name, "macs": [mac]}))).0, 201);
    }
    let verb = |name: &str, target: &str| {
        curl(None, "PUT", &srv.url(&format!("/api/v1/nodes/{name}/states/provision")), Some(&json!({"target": target})))
    };
    assert_eq!(verb("ready.test.example", "manage").1["provision_state"], "manageable");
    assert_eq!(verb("ready.test.example", "provide").1["provision_state"], "clean wait");
    assert_eq!(verb("ready.test.example", "done").1["provision_state"], "available");
    assert_eq!(verb("new.test.example", "manage").1["provision_state"], "manageable");
    // Inspecting an available node is refused: bulk inspection only touches manageable ones.
    let (code, v) = verb("ready.test.example", "inspect");
    assert_eq!(code, 409, "{v}");
    assert_eq!(v["error"], "cannot inspect a node in state `available`; allowed there: manage, deploy", "{v}");
    assert_eq!(v["detail"]["field"], "target", "{v}");
    assert_eq!(verb("new.test.example", "inspect").1["provision_state"], "inspect wait");
    let (_, ready) = curl(None, "GET", &srv.url("/api/v1/nodes?provision_state=available"), None);
    assert_eq!(ready.as_array().unwrap().len(), 1);
}

#[test]
fn boot_script_follows_bootenv_and_events_stream() {
    let srv = InProcess::start("");
    // Subscribe to events first (curl -N with a time limit).
    let events = Command::new("curl")
        .arg("--cacert")
        .arg(srv.cert())
        .args(["-sN", "-m", "4", "-H", &format!("Authorization: Bearer {}", srv.token()), &srv.url("/api/v1/events")])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("curl events");
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_eq!(curl(None, "POST", &srv.url("/api/v1/networks"), Some(&loopback_network("admin", 54))).0, 201);
    let mac = "52:54:00:00:03:01";
    let (code, script) = curl(None, "GET", &srv.url(&format!("/boot/ipxe?mac={mac}")), None);
    assert_eq!(code, 200);
    let script = script.as_str().unwrap().to_string();
    assert!(script.starts_with("#!ipxe"), "{script}");
    assert!(script.contains("booting discovery"), "unknown MAC must get discovery: {script}");
    assert!(script.contains(&format!("fulcrum.mac={mac}")), "{script}");
    assert!(script.contains("/boot/files/discovery/vmlinuz"), "{script}");

    assert_eq!(
        curl(None, "POST", &srv.url("/api/v1/nodes"), Some(&json!({"name": "b.test.example", "macs": [mac]}))).0,
        201
    );
    let (_, script) = curl(None, "GET", &srv.url("/boot/ipxe?mac=52-54-00-00-03-01"), None);
    assert!(script.as_str().unwrap().contains("local disk"), "{script}");
    let (code, _) =
        curl(None, "PUT", &srv.url("/api/v1/nodes/b.test.example/bootenv"), Some(&json!({"bootenv": "ubuntu-24.04"})));
    assert_eq!(code, 200);
    let (_, script) = curl(None, "GET", &srv.url("/boot/ipxe?mac=525400000301"), None);
    let script = script.as_str().unwrap();
    assert!(script.contains("booting ubuntu-24.04"), "{script}");
    assert!(script.contains("autoinstall ds=nocloud-net;s=http://"), "{script}");
    let (code, ud) = curl(None, "GET", &srv.url(&format!("/boot/templates/{mac}/user-data")), None);
    assert_eq!(code, 200);
    assert!(ud.as_str().unwrap().contains("hostname: b\n"), "{ud}");
    assert_eq!(curl(None, "GET", &srv.url("/boot/ipxe?mac=nonsense"), None).0, 400);
    assert_eq!(curl(None, "GET", &srv.url("/boot/ipxe"), None).0, 400);

    let out = events.wait_with_output().expect("events");
    let text = String::from_utf8_lossy(&out.stdout);
    for ev in ["event: network.created", "event: node.created", "event: node.updated"] {
        assert!(text.contains(ev), "missing {ev} in event stream:\n{text}");
    }
    assert!(text.contains("\"bootenv\":\"ubuntu-24.04\""), "event carries the record:\n{text}");
}

#[test]
fn bad_config_names_the_key_and_sigterm_exits_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    for (text, key) in [
        ("[http]\nlisten = \"127.0.0.1:1\"\nlistn = 2\n", "http.listn"),
        ("[tftp]\nlisten = \"nowhere\"\n", "tftp.listen"),
        ("[engine]\nmax_concurrent_runs = 0\n", "engine.max_concurrent_runs"),
        ("surprise = true\n", "surprise"),
    ] {
        let path = dir.path().join("bad.toml");
        std::fs::write(&path, text).unwrap();
        let out = Command::new(crate::harness::bin()).args(["serve", "--config"]).arg(&path).output().unwrap();
        assert!(!out.status.success(), "{text} was accepted");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(&format!("`{key}`")), "error for {text:?} does not name `{key}`: {err}");
    }
    let (mut srv, _) = loopback();
    let status = srv.terminate().expect("exit status");
    assert!(status.success(), "SIGTERM exit: {status}");
}

#[test]
fn a_rename_carries_the_node_and_what_hangs_on_it() {
    let srv = InProcess::start("");
    let u = |p: &str| srv.url(p);
    assert_eq!(curl(None, "POST", &u("/api/v1/networks"), Some(&loopback_network("admin", 56))).0, 201);
    let mk =
        |name: &str, mac: &str| curl(None, "POST", &u("/api/v1/nodes"), Some(&json!({"name": name, "macs": [mac]})));
    let (code, before) = mk("old.test.example", "52:54:00:56:00:01");
    assert_eq!(code, 201, "{before}");
    assert_eq!(mk("taken.test.example", "52:54:00:56:00:02").0, 201);
    let facts = json!({"cpus": 4, "serial": "XYZ"});
    assert_eq!(curl(None, "POST", &u("/api/v1/nodes/old.test.example/inventory"), Some(&facts)).0, 200);
    // The report's callback reaches the node's boot trace a moment later
    // (traces are gathered, then written): wait for it, so the views
    // compared below do not differ by it.
    wait_for(Duration::from_secs(10), "the inventory callback in the trace", || {
        let (_, n) = curl(None, "GET", &u("/api/v1/nodes/old.test.example"), None);
        (!n["last_traced"].is_null()).then_some(())
    });
    let noderoles = |node: &str| {
        let (_, v) = curl(None, "GET", &u(&format!("/api/v1/noderoles?node={node}")), None);
        v.as_array().map(|a| a.iter().map(|n| n["id"].as_u64().unwrap()).collect::<Vec<_>>()).unwrap_or_default()
    };
    let bound = noderoles("old.test.example");
    assert!(!bound.is_empty(), "a new node has its discovery noderoles: the test needs some to move");
    // Refused renames name the field and change nothing.
    let rename =
        |from: &str, to: &str| curl(None, "PATCH", &u(&format!("/api/v1/nodes/{from}")), Some(&json!({"name": to})));
    for (to, code) in [("taken.test.example", 409), ("Bad_Name.test.example", 422)] {
        let (got, e) = rename("old.test.example", to);
        assert!(got == code && e["detail"]["field"] == "name", "rename to {to}: {got} {e}");
    }
    assert_eq!(rename("missing.test.example", "new.test.example").0, 404);
    // Into another network's domain: its address would not follow.
    let mut other = loopback_network("other", 57);
    other["domain"] = json!("other.example");
    assert_eq!(curl(None, "POST", &u("/api/v1/networks"), Some(&other)).0, 201);
    let (got, e) = rename("old.test.example", "old.other.example");
    assert!(got == 422 && e["detail"]["field"] == "name", "into another network's domain: {got} {e}");
    // While it is inspecting it reports back under its current name.
    let verb = |v: &str| {
        let (code, n) =
            curl(None, "PUT", &u("/api/v1/nodes/old.test.example/states/provision"), Some(&json!({"target": v})));
        assert_eq!(code, 200, "{v}: {n}");
        n
    };
    assert_eq!(verb("manage")["provision_state"], "manageable", "verifying completes at once");
    assert_eq!(verb("inspect")["provision_state"], "inspect wait");
    let (got, e) = rename("old.test.example", "new.test.example");
    assert!(got == 409 && e["detail"]["field"] == "name", "while inspecting: {got} {e}");
    verb("done");
    let (_, before) = curl(None, "GET", &u("/api/v1/nodes/old.test.example"), None);
    let (_, still) = curl(None, "GET", &u("/api/v1/nodes/old.test.example"), None);
    assert_eq!(still["provision_state"], "manageable");
    assert_eq!(still, before, "a refused rename left the node as it was");
    // A new address: in the network's static range and nobody else's.
    let readdress = |to: &str| curl(None, "PATCH", &u("/api/v1/nodes/old.test.example"), Some(&json!({"address": to})));
    let (_, taken) = curl(None, "GET", &u("/api/v1/nodes/taken.test.example"), None);
    for (to, code) in [(taken["ipv4"].as_str().unwrap_or_default(), 409), ("127.56.0.250", 422), ("10.1.2.3", 422)] {
        let (got, e) = readdress(to);
        assert!(got == code && e["detail"]["field"] == "address", "address {to}: {got} {e}");
    }
    assert_eq!(curl(None, "GET", &u("/api/v1/nodes/old.test.example"), None).1, before, "refused: nothing changed");
    let (code, moved) = readdress("127.56.0.60");
    assert!(code == 200 && moved["ipv4"] == "127.56.0.60", "{code} {moved}");
    let (code, before) = readdress(before["ipv4"].as_str().unwrap());
    assert_eq!(code, 200, "{before}");
    // The rename: same MACs, address, token and noderoles; a new IPv6 tail.
    let (code, after) = rename("old.test.example", "new.test.example");
    assert_eq!(code, 200, "{after}");
    assert_eq!(after["name"], "new.test.example");
    for field in ["macs", "ipv4", "bootenv", "provision_state", "network"] {
        assert_eq!(after[field], before[field], "{field}");
    }
    let v6 = after["ipv6"].as_str().unwrap_or_default();
    assert!(v6.ends_with(&md5_tail("new.test.example")), "{v6} is not the new name's md5 tail");
    assert_eq!(curl(None, "GET", &u("/api/v1/nodes/old.test.example"), None).0, 404);
    assert_eq!(noderoles("new.test.example"), bound, "the noderoles followed");
    assert!(noderoles("old.test.example").is_empty());
    let (code, inv) = curl(None, "GET", &u("/api/v1/nodes/new.test.example/inventory"), None);
    assert!(code == 200 && inv["facts"] == facts, "{code} {inv}");
    assert_eq!(curl(None, "GET", &u("/api/v1/nodes/old.test.example/inventory"), None).0, 404);
    // The old name is free again.
    assert_eq!(mk("old.test.example", "52:54:00:56:00:03").0, 201);
}

#[test]
fn switch_port_reservations_are_unique_and_can_be_cleared() {
    let srv = InProcess::start("");
    assert_eq!(curl(None, "POST", &srv.url("/api/v1/networks"), Some(&loopback_network("admin", 53))).0, 201);
    let port = json!({"circuit_id": "Gi1/0/7", "remote_id": "hex:00:01:02"});
    let (code, a) = curl(
        None,
        "POST",
        &srv.url("/api/v1/nodes"),
        Some(&json!({"name": "a.test.example", "macs": ["52:54:00:00:02:01"], "port": port})),
    );
    assert_eq!(code, 201, "{a}");
    assert_eq!(a["port"], port, "shown as it was given");
    let b = |port: Value| json!({"name": "b.test.example", "macs": ["52:54:00:00:02:02"], "port": port});
    expect_error(&srv, "POST", "/api/v1/nodes", b(port.clone()), 409, "port");
    expect_error(&srv, "POST", "/api/v1/nodes", b(json!({"circuit_id": "hex:1"})), 400, "port.circuit_id");
    expect_error(&srv, "POST", "/api/v1/nodes", b(json!({"circuit_id": ""})), 400, "port.circuit_id");
    expect_error(&srv, "POST", "/api/v1/nodes", b(json!({"circuit": "x"})), 400, "port.circuit");
    // The same circuit on another switch is another port.
    let (code, v) = curl(
        None,
        "POST",
        &srv.url("/api/v1/nodes"),
        Some(&b(json!({"circuit_id": "Gi1/0/7", "remote_id": "leaf-4"}))),
    );
    assert_eq!(code, 201, "{v}");
    // Cleared with null; then the port is free for another node.
    let (code, v) = curl(None, "PATCH", &srv.url("/api/v1/nodes/a.test.example"), Some(&json!({"port": null})));
    assert_eq!(code, 200, "{v}");
    assert_eq!(v["port"], Value::Null, "{v}");
    let (code, v) = curl(None, "PATCH", &srv.url("/api/v1/nodes/b.test.example"), Some(&json!({"port": port})));
    assert_eq!(code, 200, "{v}");
    // A PATCH without the field leaves it alone.
    let (code, v) = curl(None, "PATCH", &srv.url("/api/v1/nodes/b.test.example"), Some(&json!({"available": false})));
    assert_eq!((code, &v["port"]), (200, &port), "{v}");
}
