//! The `fulcrum` client subcommands against a running server: tables by
//! default, JSON with `--json`, endpoint from `--endpoint` or
//! `FULCRUM_ENDPOINT`, API errors reported with the server's message.

use std::process::{Command, Output};

use crate::harness::Server;

/// The CLI against `srv` (its endpoint and admin token from the
/// environment, as an operator would set them).
fn fulcrum(srv: &Server, args: &[&str]) -> Output {
    Command::new(crate::harness::bin())
        .env("FULCRUM_ENDPOINT", srv.url(""))
        .env("FULCRUM_TOKEN", srv.token())
        .env("FULCRUM_CACERT", srv.cert())
        .args(args)
        .output()
        .expect("run fulcrum")
}

fn ok(srv: &Server, args: &[&str]) -> String {
    let out = fulcrum(srv, args);
    assert!(out.status.success(), "fulcrum {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).to_string()
}

#[test]
fn client_subcommands() {
    let (srv, _) = crate::harness::loopback();
    let ep = srv.url("");
    let out = ok(
        &srv,
        &[
            "network",
            "create",
            "admin",
            "--subnet",
            "127.80.0.0/24",
            "--static",
            "127.80.0.10-127.80.0.99",
            "--dynamic",
            "127.80.0.100-127.80.0.200",
            "--domain",
            "cli.test",
            "--router",
            "127.80.0.1",
            "--v6prefix",
            "auto",
        ],
    );
    assert!(out.starts_with("NAME") && out.contains("admin") && out.contains("127.80.0.0/24"), "{out}");
    let out =
        ok(&srv, &["node", "create", "box1.cli.test", "--mac", "52:54:00:80:00:01", "--mac", "52:54:00:80:00:02"]);
    assert!(out.contains("box1.cli.test") && out.contains("127.80.0.10"), "{out}");
    let out = ok(&srv, &["node", "list"]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert!(lines[0].starts_with("NAME") && lines[0].contains("BOOTENV"), "{out}");
    assert!(lines[1].contains("52:54:00:80:00:01,52:54:00:80:00:02") && lines[1].contains("local"), "{out}");
    let out = ok(&srv, &["node", "set-bootenv", "box1.cli.test", "ubuntu-24.04"]);
    assert!(out.contains("ubuntu-24.04"), "{out}");
    // --endpoint wins over the environment; --json gives the API's document.
    // --token wins over the token file, as the environment's would.
    let out = Command::new(crate::harness::bin())
        .env("FULCRUM_ENDPOINT", "http://127.0.0.1:9")
        .env("FULCRUM_CACERT", srv.cert())
        .args(["--endpoint", &ep, "--token", &srv.token(), "node", "show", "box1.cli.test", "--json"])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("--json prints JSON");
    assert_eq!(v["bootenv"], "ubuntu-24.04");
    assert_eq!(v["addresses"].as_array().unwrap().len(), 2);
    // Renamed: the same node under its new name.
    let out = ok(&srv, &["node", "rename", "box1.cli.test", "box9.cli.test"]);
    assert!(out.contains("box9.cli.test") && out.contains("127.80.0.10") && out.contains("ubuntu-24.04"), "{out}");
    assert!(!fulcrum(&srv, &["node", "show", "box1.cli.test"]).status.success(), "the old name still answers");
    ok(&srv, &["node", "rename", "box9.cli.test", "box1.cli.test"]);
    // A switch-port reservation, shown, and cleared; a bad one names the flag.
    let out = ok(&srv, &["node", "set-port", "box1.cli.test", "--circuit-id", "hex:00:07", "--remote-id", "leaf-3"]);
    assert!(out.contains("circuit-id `hex:00:07` remote-id `leaf-3`"), "{out}");
    let out = ok(&srv, &["node", "set-port", "box1.cli.test", "--clear"]);
    assert!(!out.contains("circuit-id"), "{out}");
    let bad = fulcrum(&srv, &["node", "set-port", "box1.cli.test", "--circuit-id", "hex:7"]);
    assert!(!bad.status.success() && String::from_utf8_lossy(&bad.stderr).contains("--circuit-id"), "{bad:?}");
    let out = ok(&srv, &["bootenv", "list"]);
    for env in ["local", "discovery", "ubuntu-24.04"] {
        assert!(out.lines().any(|l| l.starts_with(env)), "{env} missing: {out}");
    }
    // Errors: non-zero exit, the server's message naming the problem.
    let bad = fulcrum(&srv, &["node", "set-bootenv", "box1.cli.test", "nope"]);
    assert!(!bad.status.success());
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(err.contains("bootenv") && err.contains("nope") && err.contains("422"), "{err}");
    let bad = fulcrum(
        &srv,
        &["network", "create", "x", "--subnet", "127.81.0.0/24", "--static", "oops", "--domain", "x.test"],
    );
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--static"), "range syntax error should name the flag");
    let down = Command::new(crate::harness::bin()).args(["--endpoint", "http://127.0.0.1:9", "node", "list"]).output();
    assert!(!down.expect("run fulcrum").status.success());
    // No token at all: the server's 401, named.
    let anon = Command::new(crate::harness::bin())
        .env("FULCRUM_CACERT", srv.cert())
        .args(["--endpoint", &ep, "--token-file", "/nonexistent", "node", "list"])
        .output()
        .expect("run fulcrum");
    let err = String::from_utf8_lossy(&anon.stderr);
    assert!(!anon.status.success() && err.contains("401") && err.contains("Bearer"), "{err}");
}

#[test]
fn deployment_commit_wait_reports_convergence_and_failure() {
    let (srv, _) = crate::harness::loopback();
    ok(
        &srv,
        &[
            "network",
            "create",
            "n",
            "--subnet",
            "127.82.0.0/24",
            "--static",
            "127.82.0.10-127.82.0.99",
            "--domain",
            "w.test",
        ],
    );
    for i in 1..=3 {
        ok(&srv, &["node", "create", &format!("m{i}.w.test"), "--mac", &format!("52:54:00:82:00:0{i}")]);
        let (code, _) = crate::harness::curl(
            None,
            "PATCH",
            &srv.url(&format!("/api/v1/nodes/m{i}.w.test")),
            Some(&serde_json::json!({"alive": true})),
        );
        assert_eq!(code, 200);
        // Running and in use: adopted (active), where roles run by default.
        for verb in ["manage", "adopt"] {
            ok(&srv, &["node", "provision", &format!("m{i}.w.test"), verb]);
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let role = dir.path().join("base.toml");
    std::fs::write(&role, "name = \"base\"\njig = \"test\"\n[test]\ndelay_ms = 200\n").unwrap();
    ok(&srv, &["role", "create", role.to_str().unwrap()]);
    let broken = dir.path().join("broken.json");
    std::fs::write(&broken, r#"{"name": "broken", "jig": "test", "requires": ["base"], "test": {"fail": true}}"#)
        .unwrap();
    ok(&srv, &["role", "create", broken.to_str().unwrap()]);
    ok(&srv, &["deployment", "create", "good", "--attr", "size=3"]);
    for i in 1..=3 {
        ok(&srv, &["noderole", "bind", "good", "base", &format!("m{i}.w.test")]);
    }
    let out = ok(&srv, &["deployment", "commit", "good", "--wait", "--timeout", "60"]);
    assert!(out.contains("converged") && out.contains("active 3"), "{out}");
    let out = ok(&srv, &["noderole", "list", "--deployment", "good"]);
    assert_eq!(out.lines().filter(|l| l.contains(" active ")).count(), 3, "{out}");
    ok(&srv, &["deployment", "create", "bad"]);
    ok(&srv, &["noderole", "bind", "bad", "broken", "m1.w.test"]);
    let out = fulcrum(&srv, &["deployment", "commit", "bad", "--wait", "--timeout", "60"]);
    assert!(!out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("broken") && stdout.contains("error"), "{stdout}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("failed"));
    let runs = ok(&srv, &["run", "list", "--deployment", "bad"]);
    assert!(runs.contains("failed"), "{runs}");
    // On a terminal (`script` gives it one) the wait is a progress bar.
    ok(&srv, &["deployment", "create", "shown"]);
    for i in 2..=3 {
        ok(&srv, &["noderole", "bind", "shown", "base", &format!("m{i}.w.test")]);
    }
    let line = format!("{} deployment commit shown --wait --timeout 60", crate::harness::bin());
    let out = Command::new("script")
        .args(["-qec", &line, "/dev/null"])
        .env("FULCRUM_ENDPOINT", srv.url(""))
        .env("FULCRUM_TOKEN", srv.token())
        .env("FULCRUM_CACERT", srv.cert())
        .env("TERM", "xterm")
        .output()
        .expect("script");
    let tty = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{tty}");
    assert!(tty.contains("deployment shown [") && tty.contains("converged"), "no progress bar:\n{tty}");
}

/// `node provision … rescue` hands the password over as typed (from the
/// flag, or from `FULCRUM_RESCUE_PASSWORD`, which keeps it out of `ps`):
/// the rescue system is given exactly that.
#[test]
fn node_provision_rescue_hands_the_password_over() {
    let (srv, _) = crate::harness::loopback();
    let net = ["network", "create", "r", "--subnet", "127.83.0.0/24", "--static", "127.83.0.10-127.83.0.99"];
    ok(&srv, &[&net[..], &["--domain", "r.test"]].concat());
    for (i, how) in ["flag", "environment"].iter().enumerate() {
        let name = format!("r{i}.r.test");
        let mac = format!("52:54:00:83:00:0{i}");
        ok(&srv, &["node", "create", &name, "--mac", &mac]);
        for verb in ["manage", "adopt"] {
            ok(&srv, &["node", "provision", &name, verb]);
        }
        let out = match *how {
            "flag" => fulcrum(&srv, &["node", "provision", &name, "rescue", "--rescue-password", "correct horse"]),
            _ => Command::new(crate::harness::bin())
                .env("FULCRUM_ENDPOINT", srv.url(""))
                .env("FULCRUM_TOKEN", srv.token())
                .env("FULCRUM_CACERT", srv.cert())
                .env("FULCRUM_RESCUE_PASSWORD", "correct horse")
                .args(["node", "provision", &name, "rescue"])
                .output()
                .expect("run fulcrum"),
        };
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{how}: {}", String::from_utf8_lossy(&out.stderr));
        assert!(stdout.contains("rescue wait"), "{how}: {stdout}");
        // The rescue system registers and asks for its command.
        let (code, node) =
            crate::harness::curl(None, "POST", &srv.url("/api/v1/discover"), Some(&serde_json::json!({"mac": mac})));
        assert_eq!((code, &node["provision_state"]), (200, &serde_json::json!("rescue")), "{how}: {node}");
        let token = node["token"].as_str().unwrap_or_default();
        let url = srv.boot_url(&format!("/api/v1/nodes/{name}/agent/next"));
        let (code, next) = crate::harness::curl_as(None, Some(token), "GET", &url, None);
        assert_eq!(code, 200, "{how}: {next}");
        assert_eq!(next["command"]["password"], "correct horse", "{how}: {next}");
    }
}

#[test]
fn dns_subcommands() {
    let (srv, ports) = crate::harness::loopback();
    ok(
        &srv,
        &[
            "network",
            "create",
            "lab",
            "--subnet",
            "127.81.0.0/24",
            "--static",
            "127.81.0.10-127.81.0.99",
            "--domain",
            "dnscli.test",
            "--v6prefix",
            "auto",
        ],
    );
    ok(&srv, &["node", "create", "web1.dnscli.test", "--mac", "52:54:00:81:00:01"]);
    let out = ok(&srv, &["dns", "record", "add", "vip.dnscli.test", "A", "127.81.0.250"]);
    assert!(out.starts_with("ID") && out.contains("vip.dnscli.test. 300 IN A 127.81.0.250"), "{out}");
    let id = out.lines().nth(1).and_then(|l| l.split_whitespace().next()).unwrap().to_string();
    ok(&srv, &["dns", "record", "add", "_http._tcp.dnscli.test", "SRV", "0", "5", "80", "vip.dnscli.test"]);
    ok(&srv, &["dns", "record", "add", "dnscli.test", "TXT", "v=spf1 -all"]);
    let out = ok(&srv, &["dns", "record", "list"]);
    assert_eq!(out.lines().count(), 4, "{out}");
    // A refused record: the server's message, naming the field.
    let bad = fulcrum(&srv, &["dns", "record", "add", "web1.dnscli.test", "CNAME", "vip.dnscli.test"]);
    assert!(!bad.status.success() && String::from_utf8_lossy(&bad.stderr).contains("is a node"), "{bad:?}");
    let bad = fulcrum(&srv, &["dns", "record", "add", "x.dnscli.test", "SRV", "0", "5"]);
    assert!(!bad.status.success() && String::from_utf8_lossy(&bad.stderr).contains("PRIORITY WEIGHT PORT TARGET"));
    // `dns show` prints what a query gets, and dig gets the same.
    let out = ok(&srv, &["dns", "show", "web1.dnscli.test", "--type", "AAAA"]);
    assert!(out.contains("(authoritative)") && out.contains("AAAA"), "{out}");
    let aaaa = out
        .lines()
        .find(|l| l.contains("AAAA") && l.starts_with("web1.dnscli.test."))
        .unwrap()
        .split_whitespace()
        .last()
        .unwrap()
        .to_string();
    let dig = Command::new("dig")
        .args(["+short", "@127.0.0.1", "-p", &ports.dns.port().to_string(), "web1.dnscli.test", "AAAA"])
        .output();
    if let Ok(d) = dig {
        assert_eq!(String::from_utf8_lossy(&d.stdout).trim(), aaaa);
    }
    let out = ok(&srv, &["dns", "zones"]);
    assert!(out.contains("dnscli.test") && out.contains("81.127.in-addr.arpa") && out.contains("ip6.arpa"), "{out}");
    ok(&srv, &["dns", "record", "delete", &id]);
    let gone = ok(&srv, &["dns", "show", "vip.dnscli.test"]);
    assert!(gone.contains("Non-Existent") || gone.contains("NXDomain"), "{gone}");
}

/// `fulcrum completions SHELL` prints a script the shell takes: bash
/// parses it and it completes the subcommands and their flags.
#[test]
fn completions_for_bash_zsh_and_fish() {
    let run = |shell: &str| {
        let out = Command::new(crate::harness::bin()).args(["completions", shell]).output().expect("run fulcrum");
        assert!(out.status.success(), "{shell}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let bash = run("bash");
    for word in ["_fulcrum()", "provision", "--rescue-password", "completions"] {
        assert!(bash.contains(word), "bash completion lacks `{word}`");
    }
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("fulcrum.bash");
    std::fs::write(&script, &bash).unwrap();
    let check = Command::new("bash").arg("-n").arg(&script).output().expect("bash");
    assert!(check.status.success(), "bash -n: {}", String::from_utf8_lossy(&check.stderr));
    assert!(run("zsh").starts_with("#compdef fulcrum"));
    assert!(run("fish").contains("complete -c fulcrum"));
    let bad = Command::new(crate::harness::bin()).args(["completions", "tcsh"]).output().expect("run fulcrum");
    assert!(!bad.status.success() && String::from_utf8_lossy(&bad.stderr).contains("tcsh"));
}

/// `fulcrum api`: every operation the running server describes is listed,
/// and any of them can be called, so nothing the API does is out of the
/// CLI's reach; bad input is refused before any call.
#[test]
fn api_lists_every_described_operation_and_calls_any() {
    let (srv, _) = crate::harness::loopback();
    let spec: serde_json::Value = serde_json::from_str(&ok(&srv, &["--json", "api", "list"])).expect("spec json");
    let listed = ok(&srv, &["api", "list"]);
    let mut n = 0;
    for (path, item) in spec["paths"].as_object().expect("paths") {
        for method in item.as_object().expect("item").keys() {
            n += 1;
            let line = format!("{} {}", method.to_uppercase(), path);
            assert!(
                listed.lines().any(|l| l.split_whitespace().take(2).collect::<Vec<_>>().join(" ") == line),
                "`api list` lacks {line}:\n{listed}"
            );
        }
    }
    assert!(n >= 60, "{n} operations");
    let net = crate::harness::loopback_network("raw", 81);
    let made = ok(&srv, &["api", "call", "POST", "/api/v1/networks", &net.to_string()]);
    assert!(made.contains("\"name\": \"raw\""), "{made}");
    let body = tempfile::NamedTempFile::new().expect("tmp");
    std::fs::write(body.path(), r#"{"name": "r1.test.example", "macs": ["52:54:00:81:00:01"]}"#).expect("write");
    ok(&srv, &["api", "call", "post", "/api/v1/nodes", &format!("@{}", body.path().display())]);
    ok(&srv, &["api", "call", "PUT", "/api/v1/nodes/r1.test.example/bootenv", r#"{"bootenv": "local"}"#]);
    let node = ok(&srv, &["api", "call", "GET", "/api/v1/nodes/r1.test.example"]);
    assert!(node.contains("\"bootenv\": \"local\""), "{node}");
    ok(&srv, &["api", "call", "DELETE", "/api/v1/nodes/r1.test.example"]);
    // Text answers come as they are; a revoked token's answer is shown.
    let metrics = ok(&srv, &["api", "call", "GET", "/metrics"]);
    assert!(metrics.contains("# TYPE fulcrum_api_requests"), "{metrics}");
    let made = ok(&srv, &["api", "call", "POST", "/api/v1/tokens", r#"{"name": "gone", "role": "reader"}"#]);
    let id = serde_json::from_str::<serde_json::Value>(&made).expect("json")["id"].as_u64().expect("id");
    let revoked = ok(&srv, &["api", "call", "DELETE", &format!("/api/v1/tokens/{id}")]);
    assert!(revoked.contains("\"revoked_at\""), "{revoked}");
    // Refusals say what to do.
    for (args, says) in [
        (&["api", "call", "TRACE", "/api/v1/nodes"][..], "not a method"),
        (&["api", "call", "GET", "api/v1/nodes"][..], "starts with `/`"),
        (&["api", "call", "POST", "/api/v1/nodes", "{nope"][..], "not JSON"),
        (&["api", "call", "GET", "/api/v1/nodes/r1.test.example"][..], "HTTP 404"),
        (&["api", "call", "GET", "/api/v1/events"][..], "curl -N"),
    ] {
        let out = fulcrum(&srv, args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && err.contains(says), "{args:?}: {err}");
    }
}
