//! The IPMI power driver against an emulated BMC (pyghmi's BMC server,
//! `tests/fixtures/ipmi/fake_bmc.py`, on loopback) with Debian's
//! `ipmitool` as Fulcrum's client: `manage` checks the credentials against
//! the BMC (a wrong password sends the node back to enroll, saying why; the
//! password is never shown), and `provide` sets the next boot to PXE and
//! powers the machine on through the BMC. The power action is confirmed by
//! the node's next DHCP request: without one it is repeated once, then the
//! step fails; with one (a real DHCP exchange from the node's MAC) nothing
//! is repeated.

use std::net::Ipv4Addr;
use std::process::Command;
use std::time::Duration;

use crate::harness::{curl, free_port, loopback_config, loopback_network, prerequisites, wait_for, Server, Spawned};
use fulcrum::demo::relay::{Relay, Stage};
use fulcrum::types::mac::Mac;
use serde_json::{json, Value};

const PASSWORD: &str = "bmc-s3cret-pw";

fn ok(srv: &Server, method: &str, path: &str, body: Option<Value>) -> Value {
    let (code, v) = curl(None, method, &srv.url(path), body.as_ref());
    assert!((200..300).contains(&code), "{method} {path}: {code} {v}");
    v
}

#[test]
fn ipmi_credentials_are_checked_in_verifying_and_provide_powers_on_over_pxe() {
    if !prerequisites("power_ipmi", false, &["ipmitool", "python3"]) {
        return;
    }
    let Some(pydeps) = crate::harness::python_deps("power_ipmi", "pyghmi") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("bmc.log");
    std::fs::write(&log, "").unwrap();
    let port = free_port();
    let _bmc = Spawned(
        Command::new("python3")
            .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/ipmi/fake_bmc.py"))
            .args(["127.0.0.1", &port.to_string(), "admin", PASSWORD])
            .arg(&log)
            .env("PYTHONPATH", &pydeps)
            .spawn()
            .expect("the fake BMC"),
    );
    // Up when ipmitool gets an answer.
    wait_for(Duration::from_secs(20), "the BMC answering", || {
        Command::new("ipmitool")
            .args([
                "-I",
                "lanplus",
                "-H",
                "127.0.0.1",
                "-p",
                &port.to_string(),
                "-U",
                "admin",
                "-E",
                "chassis",
                "power",
                "status",
            ])
            .env("IPMI_PASSWORD", PASSWORD)
            .output()
            .ok()
            .filter(|o| o.status.success())
    });

    let (cfg, ports) = loopback_config();
    let cfg = format!("{cfg}[power]\nconfirm_seconds = 2\n");
    let srv = Server::start(&cfg, ports.http, None);
    ok(&srv, "POST", "/api/v1/networks", Some(loopback_network("admin", 102)));
    let power = |password: &str| json!({"driver": "ipmi", "address": "127.0.0.1", "port": port, "user": "admin", "password": password});
    let n = ok(
        &srv,
        "POST",
        "/api/v1/nodes",
        Some(json!({"name": "bmc.test.example", "macs": ["52:54:00:66:01:01"], "power": power("wrong-password")})),
    );
    assert_eq!(n["power"]["password"], "<redacted>", "{n}");
    let verb = |target: &str| {
        ok(&srv, "PUT", "/api/v1/nodes/bmc.test.example/states/provision", Some(json!({"target": target})))
    };
    // A wrong password: the BMC refuses it, the node goes back to enroll.
    assert_eq!(verb("manage")["provision_state"], "verifying");
    let n = wait_for(Duration::from_secs(60), "the credential check", || {
        let n = ok(&srv, "GET", "/api/v1/nodes/bmc.test.example", None);
        (n["provision_state"] != "verifying").then_some(n)
    });
    assert_eq!(n["provision_state"], "enroll", "{n}");
    assert!(n["last_error"].as_str().unwrap_or_default().contains("the BMC refused the power credentials"), "{n}");
    // The right one: manageable.
    ok(&srv, "PATCH", "/api/v1/nodes/bmc.test.example", Some(json!({"power": power(PASSWORD)})));
    verb("manage");
    let n = wait_for(Duration::from_secs(60), "the credential check", || {
        let n = ok(&srv, "GET", "/api/v1/nodes/bmc.test.example", None);
        (n["provision_state"] != "verifying").then_some(n)
    });
    assert_eq!((&n["provision_state"], &n["last_error"]), (&json!("manageable"), &Value::Null), "{n}");
    // Provide: the BMC sets the next boot to PXE and switches the machine on.
    assert_eq!(verb("provide")["provision_state"], "clean wait");
    let actions = wait_for(Duration::from_secs(60), "the BMC powering the node on", || {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        text.contains("power on").then_some(text)
    });
    assert_eq!(actions.lines().collect::<Vec<_>>(), ["bootdev network", "power on"], "{actions}");
    let n = ok(&srv, "GET", "/api/v1/nodes/bmc.test.example", None);
    assert_eq!(n["power_state"], "on", "{n}");
    assert_eq!(n["awaiting_boot"]["attempts"], 1, "{n}");
    // No DHCP request comes: the action is repeated once (the machine is
    // on now: a cycle), then the step fails, saying why.
    let n = wait_for(Duration::from_secs(30), "the unconfirmed boot to fail the step", || {
        let n = ok(&srv, "GET", "/api/v1/nodes/bmc.test.example", None);
        (n["provision_state"] == "clean failed").then_some(n)
    });
    assert!(n["last_error"].as_str().unwrap_or_default().contains("no network boot within 2 s"), "{n}");
    assert_eq!((&n["awaiting_boot"], &n["bootenv"]), (&Value::Null, &json!("local")), "{n}");
    let actions = std::fs::read_to_string(&log).unwrap();
    assert_eq!(
        actions.lines().collect::<Vec<_>>(),
        ["bootdev network", "power on", "bootdev network", "power cycle"],
        "{actions}"
    );
    // This time the machine boots: its firmware's DHCP request confirms
    // the power action, and nothing is repeated.
    verb("manage");
    wait_for(Duration::from_secs(60), "manageable", || {
        (ok(&srv, "GET", "/api/v1/nodes/bmc.test.example", None)["provision_state"] == "manageable").then_some(())
    });
    assert_eq!(verb("provide")["provision_state"], "clean wait");
    wait_for(Duration::from_secs(30), "the power action", || {
        (std::fs::read_to_string(&log).unwrap_or_default().lines().count() == 6).then_some(())
    });
    let relay = Relay::new(Ipv4Addr::new(127, 102, 0, 2), ports.dhcp).expect("relay");
    relay.dora(Mac([0x52, 0x54, 0x00, 0x66, 0x01, 0x01]), Stage::BiosRom).expect("the node's DHCP exchange");
    let n = ok(&srv, "GET", "/api/v1/nodes/bmc.test.example", None);
    assert_eq!(n["awaiting_boot"]["phase"], "booting", "the boot was not confirmed: {n}");
    let before = std::fs::read_to_string(&log).unwrap().lines().count();
    std::thread::sleep(Duration::from_secs(5));
    assert_eq!(std::fs::read_to_string(&log).unwrap().lines().count(), before, "a confirmed boot was repeated");
    assert_eq!(ok(&srv, "GET", "/api/v1/nodes/bmc.test.example", None)["provision_state"], "clean wait");
    // While the step uses the machine, the operator may ask but not switch.
    let (code, v) = curl(
        None,
        "PUT",
        &srv.url("/api/v1/nodes/bmc.test.example/states/power"),
        Some(&json!({"target": "power off"})),
    );
    assert!(code == 409 && v["detail"]["field"] == "provision_state", "{code} {v}");
    assert_eq!(verb("abort")["provision_state"], "clean failed");
    // Once the agent has said the machine runs UEFI firmware, the BMC is
    // asked for a UEFI network boot; the operator's own requests go
    // through the same driver.
    let (code, v) = curl(
        None,
        "POST",
        &srv.url("/api/v1/nodes/bmc.test.example/inventory"),
        Some(&json!({"boot": {"firmware": "uefi", "mac": "52:54:00:66:01:01"}})),
    );
    assert_eq!(code, 200, "{v}");
    let power =
        |what: &str, body: Value| ok(&srv, "PUT", &format!("/api/v1/nodes/bmc.test.example/{what}"), Some(body));
    let a = power("states/power", json!({"target": "status"}));
    assert!(a["driver_said"].as_str().is_some_and(|s| s.contains("is on")), "{a}");
    power("management/boot_device", json!({"boot_device": "disk"}));
    // The agent is up on the machine (it registers)...
    let n = ok(&srv, "POST", "/api/v1/discover", Some(json!({"mac": "52:54:00:66:01:01"})));
    assert_eq!((&n["alive"], &n["in_agent"]), (&json!(true), &json!(true)), "{n}");
    // ...and the operator switches it off: it is gone, so the next step
    // boots the machine rather than waiting for an agent that is off.
    let a = power("states/power", json!({"target": "power off"}));
    assert_eq!(a["power_state"], "off", "{a}");
    let n = ok(&srv, "GET", "/api/v1/nodes/bmc.test.example", None);
    assert_eq!(
        (&n["alive"], &n["in_agent"]),
        (&json!(false), &json!(false)),
        "still in the agent after power off: {n}"
    );
    power("states/power", json!({"target": "reboot"}));
    let actions = std::fs::read_to_string(&log).unwrap();
    assert_eq!(
        actions.lines().skip(6).collect::<Vec<_>>(),
        ["bootdev hd efiboot", "power off", "bootdev network efiboot", "power on"],
        "{actions}"
    );
    // A machine imported as UEFI (Ironic's `boot_mode:uefi` capability) is
    // network-booted that way before any agent has said so.
    let entry = json!({"name": "efi", "mac": ["52:54:00:66:01:02"], "pm_type": "ipmi", "pm_addr": "127.0.0.1",
                       "pm_port": port, "pm_user": "admin", "pm_password": PASSWORD,
                       "capabilities": "profile:compute,boot_mode:uefi"});
    ok(&srv, "POST", "/api/v1/nodes/import", Some(json!({"nodes": [entry], "network": "admin"})));
    let efi = wait_for(Duration::from_secs(60), "the imported node's credential check", || {
        let (_, all) = curl(None, "GET", &srv.url("/api/v1/nodes"), None);
        all.as_array()
            .and_then(|a| a.iter().find(|n| n["name"].as_str().is_some_and(|s| s.starts_with("efi."))).cloned())
            .filter(|n| n["provision_state"] == "manageable")
    });
    let efi = efi["name"].as_str().unwrap_or_default().to_string();
    ok(&srv, "PUT", &format!("/api/v1/nodes/{efi}/states/power"), Some(json!({"target": "reboot"})));
    let actions = std::fs::read_to_string(&log).unwrap();
    assert_eq!(actions.lines().skip(10).collect::<Vec<_>>(), ["bootdev network efiboot", "power cycle"], "{actions}");
    // The password is never shown: not in a view, not in the log.
    let (_, all) = curl(None, "GET", &srv.url("/api/v1/nodes"), None);
    assert!(!all.to_string().contains(PASSWORD), "{all}");
    let logs = srv.log_text();
    assert!(!logs.is_empty(), "no server log to check");
    assert!(!logs.contains(PASSWORD), "the BMC password is in the log");
}
