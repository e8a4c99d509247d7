//! The node lifecycle against the real binary: Ironic's verbs and what
//! Fulcrum does for each (bootenvs, the hand-over to a wait state, the
//! reports that end them, refusals naming the allowed verbs); the watchdog
//! (a node whose installer never reports back goes from `wait call-back`
//! to `deploy failed` with the reason, in the API and on the event stream;
//! one that reports in time goes `active`; a restart does not restart a
//! node's clock); and the start-up rule for steps cut short.

use std::process::{Command, Stdio};
use std::time::Duration;

use crate::harness::{curl, loopback_config, loopback_network, wait_for, Server};
use serde_json::{json, Value};

fn ok(srv: &Server, method: &str, path: &str, body: Option<Value>) -> Value {
    let (code, v) = curl(None, method, &srv.url(path), body.as_ref());
    assert!((200..300).contains(&code), "{method} {path}: {code} {v}");
    v
}

fn verb(srv: &Server, name: &str, target: &str) -> Value {
    ok(srv, "PUT", &format!("/api/v1/nodes/{name}/states/provision"), Some(json!({"target": target})))
}

/// Takes a new node from enroll to deploying `ubuntu-24.04`, which hands
/// it over to its installer at once: `wait call-back`.
fn deploy(srv: &Server, name: &str) {
    for target in ["manage", "provide", "done"] {
        verb(srv, name, target);
    }
    let body = json!({"target": "deploy", "bootenv": "ubuntu-24.04"});
    ok(srv, "PUT", &format!("/api/v1/nodes/{name}/states/provision"), Some(body));
    let n = ok(srv, "GET", &format!("/api/v1/nodes/{name}"), None);
    assert_eq!((&n["provision_state"], &n["bootenv"]), (&json!("wait call-back"), &json!("ubuntu-24.04")), "{n}");
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
    assert!(why.contains("wait call-back took longer than 3 s"), "{hung}");
    assert_eq!(hung["bootenv"], "local", "a failed deploy must not reinstall at the next boot: {hung}");
    let fine = ok(&srv, "GET", "/api/v1/nodes/fine.test.example", None);
    assert_eq!((&fine["provision_state"], &fine["last_error"]), (&json!("active"), &Value::Null), "{fine}");
    let out = events.wait_with_output().expect("events");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("wait call-back took longer than 3 s"), "the failure is not on the event stream:\n{text}");
    // A verb clears the reason (rebuild installs the node's bootenv again).
    let body = json!({"target": "rebuild", "bootenv": "ubuntu-24.04"});
    let n = ok(&srv, "PUT", "/api/v1/nodes/hung.test.example/states/provision", Some(body));
    assert_eq!((&n["provision_state"], &n["last_error"]), (&json!("wait call-back"), &Value::Null), "{n}");
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

#[test]
fn verbs_act_and_reports_end_the_wait_states() {
    let (cfg, ports) = loopback_config();
    let srv = Server::start(&cfg, ports.http, None);
    ok(&srv, "POST", "/api/v1/networks", Some(loopback_network("admin", 100)));
    let n = ok(&srv, "POST", "/api/v1/discover", Some(json!({"mac": "52:54:00:64:00:01"})));
    let name = n["name"].as_str().unwrap().to_string();
    let token = n["token"].as_str().unwrap().to_string();
    let state = |v: &Value| (v["provision_state"].clone(), v["bootenv"].clone());
    let refused = |target: &str, body: Value| {
        let (code, v) = curl(None, "PUT", &srv.url(&format!("/api/v1/nodes/{name}/states/provision")), Some(&body));
        assert!(code == 409 || code == 422, "{target}: {code} {v}");
        v
    };
    assert_eq!(state(&verb(&srv, &name, "manage")), (json!("manageable"), json!("discovery")));
    // Inspect: the agent's image, then its inventory report (with the
    // node's own token) ends the wait; the node boots from disk again.
    assert_eq!(state(&verb(&srv, &name, "inspect")), (json!("inspect wait"), json!("discovery")));
    let v = refused("provide", json!({"target": "provide"}));
    assert_eq!(
        v["error"],
        "cannot provide a node in state `inspect wait`; allowed there: abort (or wait for the step to end)"
    );
    let (code, v) = crate::harness::curl_as(
        None,
        Some(&token),
        "POST",
        &srv.boot_url(&format!("/api/v1/nodes/{name}/inventory")),
        Some(&json!({"cpus": 4})),
    );
    assert_eq!(code, 200, "{v}");
    let n = ok(&srv, "GET", &format!("/api/v1/nodes/{name}"), None);
    assert_eq!(state(&n), (json!("manageable"), json!("local")), "{n}");
    // Provide: cleaning by the agent; an abort fails the clean.
    assert_eq!(state(&verb(&srv, &name, "provide")), (json!("clean wait"), json!("discovery")));
    assert_eq!(verb(&srv, &name, "abort")["provision_state"], "clean failed");
    verb(&srv, &name, "manage");
    verb(&srv, &name, "provide");
    assert_eq!(state(&verb(&srv, &name, "done")), (json!("available"), json!("local")));
    // Deploy names what it installs when the node's own bootenv installs
    // nothing; refused, nothing moves.
    let v = refused("deploy", json!({"target": "deploy"}));
    assert_eq!(v["detail"]["field"], "bootenv", "{v}");
    let v = refused("deploy", json!({"target": "deploy", "bootenv": "no-such-os"}));
    assert_eq!(v["detail"]["field"], "bootenv", "{v}");
    let n = ok(&srv, "GET", &format!("/api/v1/nodes/{name}"), None);
    assert_eq!(state(&n), (json!("available"), json!("local")), "a refused deploy left a trace: {n}");
    let body = json!({"target": "deploy", "bootenv": "ubuntu-24.04"});
    ok(&srv, "PUT", &format!("/api/v1/nodes/{name}/states/provision"), Some(body));
    // The installer's report ends it, with the node's token (a new one:
    // deploying re-issues it; the operator's token works too).
    ok(&srv, "POST", &format!("/api/v1/nodes/{name}/installed"), None);
    let n = ok(&srv, "GET", &format!("/api/v1/nodes/{name}"), None);
    assert_eq!(state(&n), (json!("active"), json!("local")), "{n}");
    // Rescue and back.
    // Rescue needs root's password for the rescue system, and only rescue
    // takes one; refused, nothing moves.
    for (body, why) in [
        (json!({"target": "rescue"}), "rescue needs"),
        (json!({"target": "rescue", "rescue_password": "short"}), "at least 8"),
        (json!({"target": "rescue", "rescue_password": "two\nlines long"}), "control characters"),
        (json!({"target": "rebuild", "rescue_password": "long enough"}), "only rescue"),
    ] {
        let v = refused("rescue", body.clone());
        assert!(v["detail"]["field"] == "rescue_password" && v["error"].to_string().contains(why), "{body}: {v}");
    }
    assert_eq!(ok(&srv, "GET", &format!("/api/v1/nodes/{name}"), None)["provision_state"], "active");
    let body = json!({"target": "rescue", "rescue_password": "correct horse"});
    let n = ok(&srv, "PUT", &format!("/api/v1/nodes/{name}/states/provision"), Some(body));
    assert_eq!(state(&n), (json!("rescue wait"), json!("discovery")));
    // The rescue system (the agent) registers: the rescue is up, and its
    // command carries the password as given, until it has taken it.
    let agent = |token: &str, method: &str, what: &str, body: Option<Value>| {
        let url = srv.boot_url(&format!("/api/v1/nodes/{name}/agent/{what}"));
        let (code, v) = crate::harness::curl_as(None, Some(token), method, &url, body.as_ref());
        assert_eq!(code, 200, "{method} {what}: {v}");
        v
    };
    let register = || ok(&srv, "POST", "/api/v1/discover", Some(json!({"mac": "52:54:00:64:00:01"})));
    let registered = register();
    // In rescue, but not the agent: no step is left to it (its root login
    // is open), and the next one reboots the machine.
    assert_eq!((&registered["provision_state"], &registered["in_agent"]), (&json!("rescue"), &json!(false)));
    let token = registered["token"].as_str().unwrap_or_default().to_string();
    let rescue = agent(&token, "GET", "next", None)["command"].clone();
    assert_eq!((&rescue["action"], &rescue["password"]), (&json!("rescue"), &json!("correct horse")), "{rescue}");
    agent(&token, "POST", "done", Some(json!({"command": rescue["id"], "ok": true, "detail": "login open"})));
    let after = agent(&token, "GET", "next", None);
    assert_eq!(after["command"], Value::Null, "the taken password is sent again: {after}");
    // Unrescue: the rescue system is told to reboot (into the disk), and
    // carries no password any more.
    assert_eq!(state(&verb(&srv, &name, "unrescue")), (json!("active"), json!("local")));
    let next = agent(&token, "GET", "next", None)["command"].clone();
    assert_eq!(next["action"], "reboot", "{next}");
    // Rescued again, then undeployed from rescue: a new token (the
    // rescue system's is refused), and the agent registering again is
    // the agent once more.
    let body = json!({"target": "rescue", "rescue_password": "correct horse"});
    ok(&srv, "PUT", &format!("/api/v1/nodes/{name}/states/provision"), Some(body));
    let token = register()["token"].as_str().unwrap_or_default().to_string();
    assert_eq!(state(&verb(&srv, &name, "undeploy")), (json!("clean wait"), json!("discovery")));
    let url = srv.boot_url(&format!("/api/v1/nodes/{name}/agent/next"));
    let (code, v) = crate::harness::curl_as(None, Some(&token), "GET", &url, None);
    assert_eq!(code, 403, "the rescue system still speaks for the node: {v}");
    let registered = register();
    assert_eq!(registered["in_agent"], true, "{registered}");
    let token = registered["token"].as_str().unwrap_or_default().to_string();
    let erase = agent(&token, "GET", "next", None)["command"].clone();
    assert_eq!(erase["action"], "erase", "{erase}");
    assert!(!erase.to_string().contains("correct horse"), "{erase}");
    let n = agent(&token, "POST", "done", Some(json!({"command": erase["id"], "ok": true, "detail": "erased"})));
    assert_eq!(n["provision_state"], "available", "{n}");
    // Adopt: a running machine taken over untouched.
    verb(&srv, &name, "manage");
    ok(&srv, "PUT", &format!("/api/v1/nodes/{name}/bootenv"), Some(json!({"bootenv": "ubuntu-24.04"})));
    let n = verb(&srv, &name, "adopt");
    assert_eq!(n["provision_state"], "active", "{n}");
    // An unknown state in a filter names the field.
    let (code, v) = curl(None, "GET", &srv.url("/api/v1/nodes?provision_state=exploded"), None);
    assert!(code == 400 && v["detail"]["field"] == "provision_state", "{code} {v}");
    assert!(v["error"].as_str().unwrap().contains("wait call-back"), "{v}");
    let (_, v) = curl(None, "GET", &srv.url("/api/v1/nodes?provision_state=active"), None);
    assert_eq!(v.as_array().unwrap().len(), 1);
}

#[test]
fn a_step_cut_short_by_a_stop_fails_at_start_and_a_wait_resumes() {
    use redb::{ReadableTable, TableDefinition};
    const NODES: TableDefinition<&str, &[u8]> = TableDefinition::new("nodes");
    let (cfg, ports) = loopback_config();
    let srv = Server::start(&cfg, ports.http, None);
    ok(&srv, "POST", "/api/v1/networks", Some(loopback_network("admin", 101)));
    for (i, n) in ["step", "wait"].iter().enumerate() {
        let name = format!("{n}.test.example");
        ok(&srv, "POST", "/api/v1/nodes", Some(json!({"name": name, "macs": [format!("52:54:00:65:00:{i:02x}")]})));
        verb(&srv, &name, "manage");
        verb(&srv, &name, "provide");
    }
    let (_, dir) = srv.stop();
    // As if Fulcrum had been killed in the middle of its own step: only a
    // torn process leaves a node in one (each step is one transaction).
    {
        let db = redb::Database::create(dir.path().join("data/fulcrum.redb")).expect("open the store");
        let tx = db.begin_write().expect("begin");
        {
            let mut t = tx.open_table(NODES).expect("nodes");
            let raw = t.get("step.test.example").expect("get").expect("the node").value().to_vec();
            let mut node: Value = serde_json::from_slice(&raw).expect("json");
            node["provision_state"] = json!("rescuing");
            node["provision_since"] = json!(1);
            t.insert("step.test.example", node.to_string().as_bytes()).expect("put");
        }
        tx.commit().expect("commit");
    }
    let srv = Server::start_in(dir, &cfg, ports.http, None);
    let n = wait_for(Duration::from_secs(10), "the cut-short step failed", || {
        let n = ok(&srv, "GET", "/api/v1/nodes/step.test.example", None);
        (n["provision_state"] == "rescue failed").then_some(n)
    });
    assert!(n["last_error"].as_str().unwrap_or_default().contains("Fulcrum stopped during rescuing"), "{n}");
    let w = ok(&srv, "GET", "/api/v1/nodes/wait.test.example", None);
    assert_eq!(w["provision_state"], "clean wait", "a wait state resumes: {w}");
}

/// The agent's step loop over the API, as the agent speaks it (with the
/// node's token, from the address it booted on): a registration with bad
/// MACs is refused naming the field; each step's command has its own id,
/// so a report for a step that has ended, even one begun in the same
/// second as the next, is refused and changes nothing; a failed step
/// fails the node with the agent's reason.
#[test]
fn the_agent_routes_name_one_step_and_refuse_bad_registrations() {
    let (cfg, ports) = loopback_config();
    let srv = Server::start(&cfg, ports.http, None);
    ok(&srv, "POST", "/api/v1/networks", Some(loopback_network("admin", 101)));
    let discover = |body: Value| curl(None, "POST", &srv.url("/api/v1/discover"), Some(&body));
    for (body, field) in [
        (json!({"mac": "01:00:5e:00:00:01"}), "mac"),
        (json!({"mac": "52:54:00:65:00:01", "macs": ["52:54:00:65:00:02", "00:00:00:00:00:00"]}), "macs[1]"),
        (json!({"mac": "52:54:00:65:00:01", "macs": ["ff:ff:ff:ff:ff:ff"]}), "macs[0]"),
        (
            json!({"mac": "52:54:00:65:00:01", "macs": (0..33).map(|i| format!("52:54:00:66:00:{i:02x}")).collect::<Vec<_>>()}),
            "macs",
        ),
    ] {
        let (code, v) = discover(body.clone());
        assert!(code == 400 && v["detail"]["field"] == field, "{body}: {code} {v}");
    }
    let (code, v) = curl(None, "GET", &srv.url("/api/v1/nodes"), None);
    assert!(code == 200 && v.as_array().is_some_and(Vec::is_empty), "a refused registration left a node: {v}");
    // Duplicates are one MAC.
    let (code, n) = discover(
        json!({"mac": "52:54:00:65:00:01", "macs": ["52:54:00:65:00:01", "52:54:00:65:00:02", "52:54:00:65:00:02"]}),
    );
    assert_eq!(code, 201, "{n}");
    assert_eq!(n["macs"], json!(["52:54:00:65:00:01", "52:54:00:65:00:02"]), "{n}");
    let name = n["name"].as_str().unwrap_or_default().to_string();
    // Cleaning issues the node a new token: the agent registers again
    // (as it does on a 401/403) and goes on with the new one.
    let token = std::cell::RefCell::new(n["token"].as_str().unwrap_or_default().to_string());
    let reregister = || {
        let (code, n) = discover(json!({"mac": "52:54:00:65:00:01"}));
        assert_eq!(code, 200, "{n}");
        *token.borrow_mut() = n["token"].as_str().unwrap_or_default().to_string();
    };
    let agent = |method: &str, what: &str, body: Option<Value>| {
        crate::harness::curl_as(
            None,
            Some(&token.borrow()),
            method,
            &srv.boot_url(&format!("/api/v1/nodes/{name}/agent/{what}")),
            body.as_ref(),
        )
    };
    let command = || {
        let (mut code, mut v) = agent("GET", "next", None);
        if code == 403 {
            reregister();
            (code, v) = agent("GET", "next", None);
        }
        assert_eq!(code, 200, "{v}");
        v["command"].clone()
    };
    assert_eq!(command(), Value::Null, "a discovered machine waits");
    // A variant of the discovery bootenv (its `os` says so) boots the agent
    // again: the agent waits in it rather than rebooting into itself; any
    // other bootenv is a reboot.
    let variant = json!({"name": "discovery-debug", "os": "discovery", "kernel": "discovery/vmlinuz",
                         "initrds": ["discovery/initrd.img"], "kernel_params": "fulcrum.api={{ server }} debug"});
    ok(&srv, "POST", "/api/v1/bootenvs", Some(variant));
    // Its files, as `fulcrum image build discovery` leaves them (a node is
    // given a bootenv only when they are there).
    let discovery = srv.data().join("files/discovery");
    std::fs::create_dir_all(&discovery).unwrap();
    for f in ["vmlinuz", "initrd.img"] {
        std::fs::write(discovery.join(f), b"stand-in").unwrap();
    }
    for (env, want) in [("discovery-debug", Value::Null), ("ubuntu-24.04", json!("reboot")), ("discovery", Value::Null)]
    {
        ok(&srv, "PUT", &format!("/api/v1/nodes/{name}/bootenv"), Some(json!({"bootenv": env})));
        assert_eq!(command()["action"], want, "in {env}");
    }
    verb(&srv, &name, "manage");
    verb(&srv, &name, "provide");
    let first = command();
    assert_eq!(first["action"], "erase", "{first}");
    // Aborted and provided again at once: a new step, a new id.
    verb(&srv, &name, "abort");
    verb(&srv, &name, "manage");
    verb(&srv, &name, "provide");
    let second = command();
    assert_eq!(second["action"], "erase", "{second}");
    assert_ne!(first["id"], second["id"], "two steps, one id");
    let (code, v) = agent("POST", "done", Some(json!({"command": first["id"], "ok": true, "detail": "late"})));
    assert_eq!(code, 409, "a report on the aborted step was taken: {v}");
    let n = ok(&srv, "GET", &format!("/api/v1/nodes/{name}"), None);
    assert_eq!(n["provision_state"], "clean wait", "a refused report moved the node: {n}");
    // The current step's failure fails the node with the agent's words.
    let body = json!({"command": second["id"], "ok": false, "detail": "sda: read-only"});
    let (code, v) = agent("POST", "done", Some(body));
    assert_eq!(code, 200, "{v}");
    assert_eq!(v["provision_state"], "clean failed", "{v}");
    assert!(v["last_error"].as_str().is_some_and(|e| e.contains("sda: read-only")), "{v}");
    // Power requests: refused, naming why, when they cannot be carried out.
    let power = |body: Value| curl(None, "PUT", &srv.url(&format!("/api/v1/nodes/{name}/states/power")), Some(&body));
    let (code, v) = power(json!({"target": "power on"}));
    assert!(code == 409 && v["detail"]["field"] == "power", "no power driver: {code} {v}");
    let (code, v) = power(json!({"target": "explode"}));
    assert!(code == 400 && v["detail"]["field"] == "target", "a bad target: {code} {v}");
    let (code, v) = curl(
        None,
        "PUT",
        &srv.url(&format!("/api/v1/nodes/{name}/management/boot_device")),
        Some(&json!({"boot_device": "floppy"})),
    );
    assert!(code == 400 && v["detail"]["field"] == "boot_device", "a bad device: {code} {v}");
    ok(&srv, "PATCH", &format!("/api/v1/nodes/{name}"), Some(json!({"power": {"driver": "ssh"}})));
    let (code, v) = power(json!({"target": "power on"}));
    assert!(code == 422 && v["detail"]["field"] == "target", "ssh cannot switch a machine on: {code} {v}");
    // And a success ends the next one. The machine is alive in the agent
    // (the ssh driver could not reboot it anyway: there is no sshd in the
    // image): the step is left to the running agent, with no reboot to
    // wait for (Ironic's fast track), so the watchdog cannot fail it.
    verb(&srv, &name, "manage");
    let n = verb(&srv, &name, "provide");
    assert_eq!((&n["provision_state"], &n["awaiting_boot"]), (&json!("clean wait"), &Value::Null), "{n}");
    let third = command();
    let (code, v) = agent("POST", "done", Some(json!({"command": third["id"], "ok": true, "detail": "erased"})));
    assert_eq!((code, &v["provision_state"]), (200, &json!("available")), "{v}");
}
