//! The Redfish power driver against sushy-tools' Redfish emulator (its fake
//! system driver, on loopback, with basic authentication): `manage` checks
//! the credentials (a wrong password goes back to enroll with the BMC's
//! 401), and `provide` sets a one-time PXE boot and powers the system on.

use std::process::Command;
use std::time::Duration;

use crate::harness::{curl, free_port, loopback_config, loopback_network, prerequisites, wait_for, Server, Spawned};
use serde_json::{json, Value};

const PASSWORD: &str = "redfish-s3cret-pw";
const SYSTEM: &str = "/redfish/v1/Systems/27946b59-9e44-4fa7-8e91-f3527a1ef094";

fn ok(srv: &Server, method: &str, path: &str, body: Option<Value>) -> Value {
    let (code, v) = curl(None, method, &srv.url(path), body.as_ref());
    assert!((200..300).contains(&code), "{method} {path}: {code} {v}");
    v
}

#[test]
fn redfish_credentials_are_checked_and_provide_boots_pxe_once_and_powers_on() {
    if !prerequisites("power_redfish", false, &["python3", "curl"]) {
        return;
    }
    let Some(pydeps) = crate::harness::python_deps("power_redfish", "sushy_tools") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let htpasswd = dir.path().join("htpasswd");
    let out = Command::new("python3")
        .args([
            "-c",
            &format!("import bcrypt; print('admin:' + bcrypt.hashpw(b'{PASSWORD}', bcrypt.gensalt()).decode())"),
        ])
        .env("PYTHONPATH", &pydeps)
        .output()
        .expect("python3");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    std::fs::write(&htpasswd, &out.stdout).unwrap();
    let conf = dir.path().join("emulator.conf");
    std::fs::write(
        &conf,
        format!(
            "SUSHY_EMULATOR_AUTH_FILE = '{}'\nSUSHY_EMULATOR_FAKE_DRIVER = True\nSUSHY_EMULATOR_STATE_DIR = '{}'\n\
             SUSHY_EMULATOR_FAKE_SYSTEMS = [{{'uuid': '27946b59-9e44-4fa7-8e91-f3527a1ef094', 'name': 'node', \
             'power_state': 'Off', 'boot_mode': 'Legacy', 'nics': [{{'mac': '52:54:00:66:02:01', 'ip': '127.0.0.1'}}]}}]\n",
            htpasswd.display(),
            dir.path().join("state").display()
        ),
    )
    .unwrap();
    let port = free_port();
    let bmc = format!("http://127.0.0.1:{port}");
    let _emulator = Spawned(
        Command::new("python3")
            .args(["-m", "sushy_tools.emulator.main", "--fake", "-i", "127.0.0.1", "-p", &port.to_string(), "--config"])
            .arg(&conf)
            .env("PYTHONPATH", &pydeps)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("sushy-emulator"),
    );
    let system = || {
        let out = Command::new("curl")
            .args(["-sf", "-u", &format!("admin:{PASSWORD}"), &format!("{bmc}{SYSTEM}")])
            .output()
            .expect("curl");
        serde_json::from_slice::<Value>(&out.stdout).ok()
    };
    wait_for(Duration::from_secs(30), "the Redfish emulator", system);

    let (cfg, ports) = loopback_config();
    let srv = Server::start(&cfg, ports.http, None);
    ok(&srv, "POST", "/api/v1/networks", Some(loopback_network("admin", 105)));
    let power = |pw: &str| json!({"driver": "redfish", "address": bmc, "user": "admin", "password": pw});
    let n = ok(
        &srv,
        "POST",
        "/api/v1/nodes",
        Some(json!({"name": "rf.test.example", "macs": ["52:54:00:66:02:01"], "power": power("wrong")})),
    );
    assert_eq!(n["power"]["password"], "<redacted>", "{n}");
    let verb = |t: &str| ok(&srv, "PUT", "/api/v1/nodes/rf.test.example/states/provision", Some(json!({"target": t})));
    let settled = || {
        wait_for(Duration::from_secs(60), "the credential check", || {
            let n = ok(&srv, "GET", "/api/v1/nodes/rf.test.example", None);
            (n["provision_state"] != "verifying").then_some(n)
        })
    };
    verb("manage");
    let n = settled();
    assert_eq!(n["provision_state"], "enroll", "{n}");
    let why = n["last_error"].as_str().unwrap_or_default();
    assert!(why.contains("refused the power credentials") && why.contains("401"), "{n}");
    ok(&srv, "PATCH", "/api/v1/nodes/rf.test.example", Some(json!({"power": power(PASSWORD)})));
    verb("manage");
    let n = settled();
    assert_eq!((&n["provision_state"], &n["power_state"]), (&json!("manageable"), &json!("off")), "{n}");
    // The system boots from its disk until Fulcrum says otherwise.
    let hdd = Command::new("curl")
        .args(["-sf", "-u", &format!("admin:{PASSWORD}"), "-X", "PATCH", "-H", "content-type: application/json"])
        .args(["-d", r#"{"Boot": {"BootSourceOverrideTarget": "Hdd"}}"#, &format!("{bmc}{SYSTEM}")])
        .status()
        .expect("curl");
    assert!(hdd.success());
    assert_eq!(system().expect("the system")["Boot"]["BootSourceOverrideTarget"], "Hdd");
    assert_eq!(verb("provide")["provision_state"], "clean wait");
    let s = wait_for(Duration::from_secs(60), "the system powered on", || system().filter(|s| s["PowerState"] == "On"));
    // (The emulator's fake system keeps no `Once`: it reports what it was
    // told as `Continuous`.)
    assert_eq!(s["Boot"]["BootSourceOverrideTarget"], "Pxe", "{s}");
    // A machine whose firmware no agent has named keeps the BMC's mode.
    assert_eq!(s["Boot"]["BootSourceOverrideMode"], "Legacy", "{s}");
    // A machine whose agent booted under UEFI is asked to network boot in
    // UEFI mode; the operator's next-boot request goes the same way.
    let (code, v) = curl(
        None,
        "POST",
        &srv.url("/api/v1/nodes/rf.test.example/inventory"),
        Some(&json!({"boot": {"firmware": "uefi"}})),
    );
    assert_eq!(code, 200, "{v}");
    let a =
        ok(&srv, "PUT", "/api/v1/nodes/rf.test.example/management/boot_device", Some(json!({"boot_device": "disk"})));
    assert!(a["driver_said"].as_str().is_some_and(|s| s.contains("Hdd")), "{a}");
    let s = system().expect("the system");
    assert_eq!(
        (&s["Boot"]["BootSourceOverrideTarget"], &s["Boot"]["BootSourceOverrideMode"]),
        (&json!("Hdd"), &json!("UEFI")),
        "{s}"
    );
    // A pinned fingerprint on a plain-http address is refused, not ignored.
    let pin = ["AB"; 32].join(":");
    let mut pinned = power(PASSWORD);
    pinned["tls_fingerprint"] = json!(pin);
    ok(
        &srv,
        "POST",
        "/api/v1/nodes",
        Some(json!({"name": "pin.test.example", "macs": ["52:54:00:66:02:02"], "power": pinned})),
    );
    ok(&srv, "PUT", "/api/v1/nodes/pin.test.example/states/provision", Some(json!({"target": "manage"})));
    let n = wait_for(Duration::from_secs(30), "the credential check", || {
        let n = ok(&srv, "GET", "/api/v1/nodes/pin.test.example", None);
        (n["provision_state"] != "verifying").then_some(n)
    });
    assert!(n["last_error"].as_str().unwrap_or_default().contains("needs an https:// address"), "{n}");
    let (_, all) = curl(None, "GET", &srv.url("/api/v1/nodes"), None);
    assert!(!all.to_string().contains(PASSWORD), "{all}");
    assert!(!srv.log_text().contains(PASSWORD), "the BMC password is in the log");
}
