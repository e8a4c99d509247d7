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

/// `systemd-analyze security` rates the unit; README records the figure,
/// and the unit may not get worse than what README says.
#[test]
fn exposure_is_as_low_as_readme_says() {
    if !crate::harness::prerequisites("systemd_unit", false, &["systemd-analyze"]) {
        return;
    }
    let unit = concat!(env!("CARGO_MANIFEST_DIR"), "/systemd/fulcrum.service");
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("fulcrum.service");
    std::fs::copy(unit, &copy).unwrap();
    let out = Command::new("systemd-analyze")
        .args(["security", "--offline=yes", "--no-pager"])
        .arg(&copy)
        .output()
        .expect("systemd-analyze security");
    let text = String::from_utf8_lossy(&out.stdout);
    let score: f64 = text
        .lines()
        .find_map(|l| l.split("Overall exposure level for fulcrum.service: ").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no exposure level in:\n{text}"));
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let recorded: f64 = readme
        .split("exposure level ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.trim_end_matches(['.', ',', ')']).parse().ok())
        .expect("README records `systemd-analyze security`'s exposure level");
    assert!(score <= recorded, "exposure {score} is worse than README's {recorded}:\n{text}");
}
