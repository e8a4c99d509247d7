//! The shipped Ubuntu bootenv's callbacks, run as its installer and its
//! installed system would run them: the user-data's `late-commands`
//! (fetched as the node would fetch them, run with `sh -c` against a
//! temporary `/target`) drop the node's token (mode 0600) and
//! `fulcrum-alive.service` into the new system and enable it, then report
//! the install; the unit passes `systemd-analyze verify`, and its
//! `ExecStart` and `ExecStop` (run with `sh -c`) mark the node alive and
//! not alive with the node's own token.

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use crate::harness::{curl, loopback_config, loopback_network, prerequisites, run, Server};
use serde_json::{json, Value};

const MAC: &str = "52:54:00:a1:00:01";
const NODE: &str = "u.test.example";

/// The `late-commands` of the autoinstall user-data, in order.
fn late_commands(user_data: &str) -> Vec<String> {
    let out = run(Command::new("python3").args([
        "-c",
        "import json, sys, yaml; d = yaml.safe_load(sys.argv[1]); print(json.dumps(d['autoinstall']['late-commands']))",
        user_data,
    ]));
    assert!(out.status.success(), "user-data is not YAML with autoinstall.late-commands:\n{user_data}");
    serde_json::from_slice(&out.stdout).expect("a list of commands")
}

fn sh(cmd: &str) {
    let out = run(Command::new("sh").args(["-c", cmd]));
    assert!(out.status.success(), "`{cmd}` failed: {}\n{}", out.status, String::from_utf8_lossy(&out.stderr));
}

#[test]
fn the_installed_ubuntu_system_reports_alive_at_boot_and_dead_at_shutdown() {
    if !prerequisites("install_callbacks", false, &["curl", "python3", "systemd-analyze"]) {
        return;
    }
    let (cfg, ports) = loopback_config();
    let srv = Server::start(&cfg, ports.http, None);
    let api = |m: &str, p: &str, b: Option<Value>| {
        let (code, v) = curl(None, m, &srv.url(p), b.as_ref());
        assert!((200..300).contains(&code), "{m} {p}: {code} {v}");
        v
    };
    api("POST", "/api/v1/networks", Some(loopback_network("admin", 98)));
    api("POST", "/api/v1/nodes", Some(json!({"name": NODE, "macs": [MAC]})));
    api("PUT", &format!("/api/v1/nodes/{NODE}/bootenv"), Some(json!({"bootenv": "ubuntu-24.04"})));
    assert_eq!(api("GET", &format!("/api/v1/nodes/{NODE}"), None)["alive"], false);

    // The installer: late-commands against /target.
    let (code, ud) = curl(None, "GET", &srv.boot_url(&format!("/boot/templates/{MAC}/user-data")), None);
    assert_eq!(code, 200, "{ud}");
    let target = tempfile::tempdir().unwrap();
    let root = target.path().display().to_string();
    let commands = late_commands(ud.as_str().expect("user-data text"));
    assert!(commands.iter().any(|c| c.contains("fulcrum-alive.service")), "no alive unit installed: {commands:?}");
    for c in &commands {
        sh(&c.replace("/target", &root));
    }
    let node = api("GET", &format!("/api/v1/nodes/{NODE}"), None);
    assert_eq!(node["bootenv"], "local", "the install was not reported: {node}");

    let auth = target.path().join("etc/fulcrum/node.auth");
    let mode = std::fs::metadata(&auth).expect("the token file").permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "the token file is readable by others");
    let unit_path = target.path().join("etc/systemd/system/fulcrum-alive.service");
    let unit = std::fs::read_to_string(&unit_path).expect("the unit");
    assert!(!unit.contains("Bearer"), "the token is in the unit file:\n{unit}");
    let wants = target.path().join("etc/systemd/system/multi-user.target.wants/fulcrum-alive.service");
    assert_eq!(
        std::fs::read_link(&wants).expect("the unit is enabled"),
        std::path::Path::new("/etc/systemd/system/fulcrum-alive.service")
    );
    let out = run(Command::new("systemd-analyze").args(["verify", "--man=no"]).arg(&unit_path));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let problems: Vec<&str> = stderr.lines().filter(|l| l.contains("fulcrum-alive.service")).collect();
    assert!(out.status.success() && problems.is_empty(), "systemd-analyze verify: {}\n{stderr}", out.status);

    // The installed system boots, then shuts down.
    let exec = |key: &str| {
        let line = unit.lines().find_map(|l| l.strip_prefix(key)).unwrap_or_else(|| panic!("no {key} in\n{unit}"));
        line.replace("/etc/fulcrum/node.auth", &auth.display().to_string())
    };
    sh(&exec("ExecStart="));
    let node = api("GET", &format!("/api/v1/nodes/{NODE}"), None);
    assert_eq!(node["alive"], true, "ExecStart did not report the node alive: {node}");
    sh(&exec("ExecStop="));
    let node = api("GET", &format!("/api/v1/nodes/{NODE}"), None);
    assert_eq!(node["alive"], false, "ExecStop did not report the node dead: {node}");
}
