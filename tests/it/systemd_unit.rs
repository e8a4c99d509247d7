//! The shipped unit file passes `systemd-analyze verify` and carries what
//! the service needs: StateDirectory, the capabilities for low ports and raw
//! sockets, hardening, and a restart policy.

use std::process::Command;

#[test]
fn unit_file_verifies_and_is_hardened() {
    if !crate::harness::prerequisites("systemd_unit", false, &["systemd-analyze"]) {
        return;
    }
    let unit = concat!(env!("CARGO_MANIFEST_DIR"), "/systemd/fulcrum.service");
    let text = std::fs::read_to_string(unit).expect("unit file");
    for needle in [
        "ExecStart=/usr/bin/fulcrum serve --config",
        "StateDirectory=fulcrum",
        "AmbientCapabilities=CAP_NET_BIND_SERVICE CAP_NET_RAW",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "Restart=on-failure",
    ] {
        assert!(text.contains(needle), "unit lacks {needle}");
    }
    // verify resolves ExecStart: point it at the binary we built.
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("fulcrum.service");
    std::fs::write(&copy, text.replace("/usr/bin/fulcrum", crate::harness::bin())).unwrap();
    let out =
        Command::new("systemd-analyze").args(["verify", "--man=no"]).arg(&copy).output().expect("systemd-analyze");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let problems: Vec<&str> = stderr.lines().filter(|l| l.contains("fulcrum.service")).collect();
    assert!(out.status.success() && problems.is_empty(), "systemd-analyze verify: {}\n{stderr}", out.status);
}
