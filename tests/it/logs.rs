//! `fulcrum serve`'s log as an operator reads it: plain text when stderr
//! is not a terminal (no ANSI escapes in a file or the journal), one JSON
//! object per line with `[log] format = "json"`, and journald's native
//! protocol with `format = "journald"`, each event's fields as journal
//! fields (`NODE`, `MAC`), checked against a journal socket of the test's
//! own in a mount namespace. Every boot-relevant line names the node and
//! its MAC: its DHCP lease, its boot script, its agent's registration.

use std::net::Ipv4Addr;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};

use crate::harness::{curl, loopback_config, loopback_network, prerequisites, wait_for, MountNs, Server, Spawned};
use fulcrum::demo::relay::{Relay, Stage};
use fulcrum::types::mac::Mac;

const NODE: &str = "log1.test.example";
const MAC: &str = "52:54:00:76:00:01";

/// A node, its lease by DHCP (relayed on loopback), its boot script and
/// its agent's registration: the boot story the log must tell.
fn boot_story(srv: &Server, dhcp: std::net::SocketAddr) {
    assert_eq!(curl(None, "POST", &srv.url("/api/v1/networks"), Some(&loopback_network("logs", 76))).0, 201);
    let (code, v) = curl(None, "POST", &srv.url("/api/v1/nodes"), Some(&json!({"name": NODE, "macs": [MAC]})));
    assert_eq!(code, 201, "{v}");
    let relay = Relay::new(Ipv4Addr::new(127, 76, 0, 1), dhcp)
        .and_then(|r| r.with_timeout(Duration::from_secs(2)))
        .expect("a relay on loopback");
    relay.dora(Mac([0x52, 0x54, 0, 0x76, 0, 1]), Stage::BiosRom).expect("the node's lease");
    let out = Command::new("curl")
        .args(["-fsS", "-m", "5", &srv.boot_url(&format!("/boot/ipxe?mac={MAC}"))])
        .output()
        .expect("curl");
    assert!(out.status.success(), "the boot script: {}", String::from_utf8_lossy(&out.stderr));
    let (code, v) = curl(None, "POST", &srv.url("/api/v1/discover"), Some(&json!({"mac": MAC})));
    assert_eq!(code, 200, "{v}");
}

#[test]
fn serve_logs_plain_text_when_stderr_is_not_a_terminal() {
    let (cfg, ports) = loopback_config();
    let srv = Server::start(&cfg, ports.http, None);
    boot_story(&srv, ports.dhcp);
    let log = wait_for(Duration::from_secs(10), "the boot story in the log", || {
        let log = srv.log_text();
        log.contains("discovery agent registered").then_some(log)
    });
    assert!(!log.contains('\x1b'), "ANSI escapes in a log that is a file:\n{log}");
    for what in ["lease", "boot script", "discovery agent registered"] {
        let line = log.lines().find(|l| l.contains(what) && l.contains(NODE)).unwrap_or_default();
        assert!(line.contains(&format!("mac={MAC}")), "`{what}` does not name the node and its MAC:\n{log}");
    }
}

#[test]
fn json_logs_are_one_object_per_line_with_the_node_and_its_mac() {
    let (cfg, ports) = loopback_config();
    let srv = Server::start(&format!("{cfg}[log]\nformat = \"json\"\n"), ports.http, None);
    boot_story(&srv, ports.dhcp);
    let events: Vec<Value> = wait_for(Duration::from_secs(10), "the boot story in the log", || {
        let log = srv.log_text();
        // (The first start's notices are on stdout, which the harness
        // keeps in the same file.)
        let events: Vec<Value> = log
            .lines()
            .filter(|l| !l.starts_with("fulcrum: first start") && !l.starts_with("  "))
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON line ({e}): {l}")))
            .collect();
        events.iter().any(|e| e["message"] == "discovery agent registered").then_some(events)
    });
    for what in ["lease", "boot script", "discovery agent registered"] {
        let e = events.iter().find(|e| e["message"] == what && e["node"] == NODE);
        assert!(e.is_some_and(|e| e["mac"] == MAC && e["level"] == "INFO"), "`{what}`: {events:?}");
    }
}

/// journald's socket, played by a Python listener in a mount namespace
/// whose `/run` is a tmpfs of the test's own (the host's journal, if any,
/// is never touched): every datagram Fulcrum sends is kept.
const JOURNAL: &str = r#"
import json, socket, struct, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
out = open(sys.argv[2], "a", buffering=1)
while True:
    d, i, fields = s.recv(1 << 20), 0, {}
    # journald's native protocol: KEY=VALUE\n, or KEY\n, a 64-bit
    # little-endian length, the value and \n.
    while i < len(d):
        nl = d.index(b"\n", i)
        line = d[i:nl]
        if b"=" in line:
            k, v = line.split(b"=", 1)
            i = nl + 1
        else:
            k, (n,) = line, struct.unpack("<Q", d[nl + 1:nl + 9])
            v, i = d[nl + 9:nl + 9 + n], nl + 10 + n
        fields[k.decode()] = v.decode("utf-8", "replace")
    out.write(json.dumps(fields) + "\n")
"#;

#[test]
fn journald_logs_carry_the_node_and_mac_as_journal_fields() {
    if !prerequisites("journald_logs", true, &["unshare", "nsenter", "mount", "python3"]) {
        return;
    }
    let m = MountNs::new();
    let out = m.cmd("mount").args(["-t", "tmpfs", "tmpfs", "/run"]).output().expect("mount");
    assert!(out.status.success(), "mount: {}", String::from_utf8_lossy(&out.stderr));
    let out = m.cmd("mkdir").args(["-p", "/run/systemd/journal"]).output().expect("mkdir");
    assert!(out.status.success());
    let dir = tempfile::tempdir().unwrap();
    let got = dir.path().join("journal.bin");
    let _journal = Spawned(
        m.cmd("python3")
            .args(["-c", JOURNAL, "/run/systemd/journal/socket"])
            .arg(&got)
            .stdout(Stdio::null())
            .spawn()
            .expect("the journal listener"),
    );
    wait_for(Duration::from_secs(10), "the journal socket", || {
        m.cmd("test").args(["-S", "/run/systemd/journal/socket"]).status().ok().filter(|s| s.success())
    });
    let (cfg, ports) = loopback_config();
    let srv_dir = tempfile::tempdir().unwrap();
    let srv = Server::start_in_mount_ns(srv_dir, &format!("{cfg}[log]\nformat = \"journald\"\n"), ports.http, &m);
    boot_story(&srv, ports.dhcp);
    let entries: Vec<Value> = crate::harness::within(Duration::from_secs(10), || {
        let text = std::fs::read_to_string(&got).unwrap_or_default();
        let entries: Vec<Value> = text.lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
        entries.iter().any(|e| e["MESSAGE"] == "discovery agent registered").then_some(entries)
    })
    .unwrap_or_else(|| panic!("journal: {:?}\nstderr: {}", std::fs::read_to_string(&got), srv.log_text()));
    for what in ["lease", "boot script", "discovery agent registered"] {
        let e = entries.iter().find(|e| e["MESSAGE"] == what);
        let e = e.unwrap_or_else(|| panic!("no `{what}` in the journal: {entries:?}"));
        for (field, want) in [("NODE", NODE), ("MAC", MAC), ("SYSLOG_IDENTIFIER", "fulcrum"), ("PRIORITY", "5")] {
            assert_eq!(e[field], want, "`{what}`: {e}");
        }
    }
    // Nothing went to stderr but what came before the journal was set up.
    assert!(!srv.log_text().contains("boot script"), "the journal's events also went to stderr");
}
