//! DNS beyond loopback, in namespaces of the test's own: a site's Knot
//! (Debian `knot`) as a secondary of Fulcrum's zone, TSIG-authenticated,
//! kept current by NOTIFY (a new node's AAAA is on the secondary within
//! seconds of the API call); transfers refused without the key or with a
//! wrong one; and forwarding for the nodes to an upstream (dnsmasq) only
//! from the served network: the same client from an address outside it is
//! refused, so Fulcrum is no open resolver.

use std::net::Ipv6Addr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::json;

use crate::harness::{curl, prerequisites, run, wait_for, Netns, Server};

const SERVED: &str = "10.67.0.2";
const OUTSIDE: &str = "10.67.1.2";
const SECRET: &str = "ZnVsY3J1bS10ZXN0LWtleS1mb3ItdHNpZy0zMmJ5dGVz";

/// A daemon the test started, ended by PID when dropped.
struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

struct Lab {
    client: Netns,
    _server_ns: Netns,
    srv: Server,
    _dir: tempfile::TempDir,
}

fn lab() -> Lab {
    let server_ns = Netns::new("dsrv");
    let client = Netns::new("dcli");
    server_ns.ip(&["link", "add", "vsrv", "type", "veth", "peer", "name", "vcli"]);
    server_ns.ip(&["addr", "add", "10.67.0.1/16", "dev", "vsrv"]);
    server_ns.ip(&["link", "set", "vsrv", "up"]);
    server_ns.ip(&["link", "set", "lo", "up"]);
    server_ns.ip(&["link", "set", "vcli", "netns", &client.name]);
    client.ip(&["link", "set", "vcli", "name", "eth0"]);
    for a in [SERVED, OUTSIDE] {
        client.ip(&["addr", "add", &format!("{a}/16"), "dev", "eth0"]);
    }
    client.ip(&["link", "set", "eth0", "up"]);
    client.ip(&["link", "set", "lo", "up"]);
    let config = format!(
        "data_dir = \"{{dir}}/data\"\n[http]\nlisten = \"0.0.0.0:8080\"\n[dhcp]\nenabled = false\n[tftp]\nenabled = false\n\
         [dns]\nlisten = [\"10.67.0.1:53\"]\nsecondaries = [\"{SERVED}:53\"]\nforwarders = [\"{SERVED}:5353\"]\n\
         [dns.tsig]\nname = \"xfr\"\nsecret = \"{SECRET}\"\n"
    );
    let srv = Server::start(&config, "10.67.0.1:8080".parse().unwrap(), Some(&server_ns));
    let net = json!({
        "name": "lab", "subnet": "10.67.0.0/24", "server": "10.67.0.1", "v6prefix": "auto",
        "static": {"start": "10.67.0.10", "end": "10.67.0.99"}, "domain": "lab.test",
    });
    let (code, v) = curl(Some(&server_ns), "POST", &srv.url("/api/v1/networks"), Some(&net));
    assert_eq!(code, 201, "{v}");
    Lab { client, _server_ns: server_ns, srv, _dir: tempfile::tempdir().unwrap() }
}

/// `dig` from the client namespace, from `source`.
fn dig(lab: &Lab, source: &str, server: &str, args: &[&str]) -> String {
    let mut c = lab.client.cmd("dig");
    c.args(["+time=2", "+tries=1", "-b", source, &format!("@{server}")]).args(args);
    String::from_utf8_lossy(&c.output().expect("dig").stdout).to_string()
}

fn knot(lab: &Lab) -> Daemon {
    let d = lab._dir.path();
    let conf = d.join("knot.conf");
    std::fs::write(
        &conf,
        format!(
            "server:\n    listen: {SERVED}@53\n    rundir: \"{d}\"\n\
             database:\n    storage: \"{d}\"\n\
             key:\n  - id: xfr\n    algorithm: hmac-sha256\n    secret: {SECRET}\n\
             remote:\n  - id: fulcrum\n    address: 10.67.0.1@53\n    key: xfr\n\
             acl:\n  - id: from_fulcrum\n    address: 10.67.0.1\n    key: xfr\n    action: notify\n\
             template:\n  - id: default\n    storage: \"{d}\"\n\
             zone:\n  - domain: lab.test\n    master: fulcrum\n    acl: from_fulcrum\n",
            d = d.display()
        ),
    )
    .unwrap();
    let check = run(Command::new("knotc").arg("-c").arg(&conf).arg("conf-check"));
    assert!(check.status.success(), "knot.conf: {}", String::from_utf8_lossy(&check.stderr));
    let log = std::fs::File::create(d.join("knot.log")).unwrap();
    Daemon(
        lab.client
            .cmd("knotd")
            .arg("-c")
            .arg(&conf)
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .spawn()
            .expect("knotd"),
    )
}

#[test]
fn knot_follows_fulcrum_by_tsig_transfers_and_notify() {
    if !prerequisites("dns_lab knot secondary", true, &["ip", "dig", "knotd", "knotc"]) {
        return;
    }
    let lab = lab();
    let _knot = knot(&lab);
    let knot_log = || std::fs::read_to_string(lab._dir.path().join("knot.log")).unwrap_or_default();
    // Knot takes the zone at start-up (its first refresh, signed).
    for _ in 0..40 {
        if dig(&lab, SERVED, SERVED, &["+short", "lab.test", "SOA"]).contains("admin.lab.test.") {
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    let soa = dig(&lab, SERVED, SERVED, &["+short", "lab.test", "SOA"]);
    assert!(
        soa.contains("admin.lab.test."),
        "knot has no lab.test: {soa}\nknot log:\n{}\nfulcrum log:\n{}",
        knot_log(),
        lab.srv.log_text()
    );
    // A node created through the API is on the secondary within seconds.
    let (code, node) = curl(
        Some(&lab._server_ns),
        "POST",
        &lab.srv.url("/api/v1/nodes"),
        Some(&json!({"name": "web1.lab.test", "macs": ["52:54:00:67:00:01"]})),
    );
    assert_eq!(code, 201, "{node}");
    let want: Ipv6Addr = node["ipv6"].as_str().unwrap().parse().unwrap();
    let got = wait_for(Duration::from_secs(15), "the new node's AAAA on the secondary", || {
        let a = dig(&lab, SERVED, SERVED, &["+short", "web1.lab.test", "AAAA"]);
        a.trim().parse::<Ipv6Addr>().ok()
    });
    assert_eq!(got, want, "knot log:\n{}", knot_log());
    assert!(knot_log().contains("notify, incoming, remote 10.67.0.1"), "the secondary heard a NOTIFY:\n{}", knot_log());
    // A second change reaches it by IXFR: only the difference is sent.
    let (code, _) = curl(
        Some(&lab._server_ns),
        "POST",
        &lab.srv.url("/api/v1/nodes"),
        Some(&json!({"name": "web2.lab.test", "macs": ["52:54:00:67:00:02"]})),
    );
    assert_eq!(code, 201);
    wait_for(Duration::from_secs(15), "the second node on the secondary", || {
        dig(&lab, SERVED, SERVED, &["+short", "web2.lab.test", "A"]).contains("10.67.0.").then_some(())
    });
    assert!(knot_log().contains("IXFR, incoming"), "the secondary took an IXFR:\n{}", knot_log());
    // The secondary's SOA serial is Fulcrum's.
    let ours = dig(&lab, SERVED, "10.67.0.1", &["+short", "lab.test", "SOA"]);
    let theirs = dig(&lab, SERVED, SERVED, &["+short", "lab.test", "SOA"]);
    assert_eq!(ours.split_whitespace().nth(2), theirs.split_whitespace().nth(2));

    // Transfers: refused unsigned and with a wrong key, served with the key.
    let unsigned = dig(&lab, SERVED, "10.67.0.1", &["lab.test", "AXFR"]);
    assert!(unsigned.contains("Transfer failed") || unsigned.contains("REFUSED"), "{unsigned}");
    let wrong = dig(
        &lab,
        SERVED,
        "10.67.0.1",
        &["-y", "hmac-sha256:xfr:d3JvbmctdGhlLXdyb25nLWtleS0zMi1ieXRlcyEh", "lab.test", "AXFR"],
    );
    assert!(!wrong.contains("web1.lab.test.\t"), "a wrong key transferred the zone: {wrong}");
    let signed = dig(&lab, SERVED, "10.67.0.1", &["-y", &format!("hmac-sha256:xfr:{SECRET}"), "lab.test", "AXFR"]);
    assert!(signed.contains("web1.lab.test.") && !signed.contains("Transfer failed"), "{signed}");
}

#[test]
fn forwarding_serves_the_cluster_and_refuses_everyone_else() {
    if !prerequisites("dns_lab forwarding", true, &["ip", "dig", "dnsmasq"]) {
        return;
    }
    let lab = lab();
    let _upstream = Daemon(
        lab.client
            .cmd("dnsmasq")
            .args(["--no-daemon", "--no-resolv", "--no-hosts", "--port=5353", "--bind-interfaces"])
            .args([
                &format!("--listen-address={SERVED}"),
                "--address=/up.example/10.9.9.9",
                "--local-ttl=300",
                "--pid-file=",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("dnsmasq"),
    );
    wait_for(Duration::from_secs(10), "the upstream answering", || {
        dig(&lab, SERVED, SERVED, &["-p", "5353", "+short", "www.up.example"]).contains("10.9.9.9").then_some(())
    });
    // From the served network: forwarded, RA set, not authoritative.
    let fwd = dig(&lab, SERVED, "10.67.0.1", &["www.up.example", "A"]);
    assert!(fwd.contains("10.9.9.9") && fwd.contains(" ra") && !fwd.contains(" aa "), "{fwd}");
    // Cached: the upstream gone, the answer stays (its TTL).
    drop(_upstream);
    let cached = dig(&lab, SERVED, "10.67.0.1", &["+short", "www.up.example", "A"]);
    assert_eq!(cached.trim(), "10.9.9.9");
    // From outside the served networks, on the same wire: refused.
    let outside = dig(&lab, OUTSIDE, "10.67.0.1", &["www.up.example", "A"]);
    assert!(outside.contains("status: REFUSED"), "{outside}");
    // The cluster's own names still answer from outside (authoritative data is public).
    assert!(dig(&lab, OUTSIDE, "10.67.0.1", &["lab.test", "SOA"]).contains("status: NOERROR"));
}
