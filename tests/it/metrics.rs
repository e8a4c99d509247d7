//! `/metrics` as Prometheus scrapes it: `promtool check metrics` (Debian's
//! `prometheus`) passes on the text, and every family the operator
//! needs is there and moves with real traffic: a DHCP lease through a
//! relay on loopback, a boot script, a TFTP read (curl's client), DNS
//! queries (dig), a noderole run, and the API calls themselves, each in
//! its own family with its labels, plus the gauges of what the store
//! holds (nodes by state, leases, pool use, noderoles).

use std::net::Ipv4Addr;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};

use crate::harness::{curl, loopback_config, loopback_network, metric, prerequisites, wait_for, Server};
use fulcrum::demo::relay::{Relay, Stage};
use fulcrum::types::mac::Mac;

fn ok(srv: &Server, method: &str, path: &str, body: Option<Value>) -> Value {
    let (code, v) = curl(None, method, &srv.url(path), body.as_ref());
    assert!((200..300).contains(&code), "{method} {path}: {code} {v}");
    v
}

fn scrape(srv: &Server) -> String {
    let (code, m) = curl(None, "GET", &srv.url("/metrics"), None);
    assert_eq!(code, 200, "{m}");
    m.as_str().map(str::to_string).unwrap_or_else(|| m.to_string())
}

#[test]
fn metrics_pass_promtool_and_move_with_traffic() {
    if !prerequisites("metrics", false, &["promtool", "dig", "curl"]) {
        return;
    }
    let (cfg, ports) = loopback_config();
    let srv = Server::start(&cfg, ports.http, None);
    let before = scrape(&srv);
    ok(&srv, "POST", "/api/v1/networks", Some(loopback_network("metrics", 77)));
    let node = "m1.test.example";
    ok(&srv, "POST", "/api/v1/nodes", Some(json!({"name": node, "macs": ["52:54:00:77:00:01"]})));

    // DHCP: a lease through a relay.
    let relay = Relay::new(Ipv4Addr::new(127, 77, 0, 1), ports.dhcp)
        .and_then(|r| r.with_timeout(Duration::from_secs(2)))
        .expect("a relay on loopback");
    relay.dora(Mac([0x52, 0x54, 0, 0x77, 0, 1]), Stage::BiosRom).expect("the node's lease");
    // HTTP boot: the node's script; TFTP: a file from the root.
    let out = Command::new("curl")
        .args(["-fsS", "-m", "5", &srv.boot_url("/boot/ipxe?mac=52:54:00:77:00:01")])
        .output()
        .expect("curl");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let root = srv.data().parent().expect("the server's dir").to_path_buf();
    std::fs::write(root.join("loader.bin"), vec![7u8; 5000]).expect("write a TFTP file");
    let out = Command::new("curl")
        .args(["-fsS", "-m", "10", "-o", "/dev/null", &format!("tftp://{}/loader.bin", ports.tftp)])
        .output()
        .expect("curl tftp");
    assert!(out.status.success(), "tftp: {}", String::from_utf8_lossy(&out.stderr));
    // DNS: the node's name (A), and a name that does not exist.
    for (name, qtype) in [(node, "A"), ("nobody.test.example", "AAAA")] {
        let out = Command::new("dig")
            .args([&format!("@{}", ports.dns.ip()), "-p", &ports.dns.port().to_string(), "+time=2", "+tries=1"])
            .args([name, qtype])
            .stdout(Stdio::null())
            .status()
            .expect("dig");
        assert!(out.success());
    }
    // The engine: one run of a role on the node.
    ok(&srv, "PATCH", &format!("/api/v1/nodes/{node}"), Some(json!({"alive": true})));
    for target in ["manage", "adopt"] {
        ok(&srv, "PUT", &format!("/api/v1/nodes/{node}/states/provision"), Some(json!({"target": target})));
    }
    ok(&srv, "POST", "/api/v1/roles", Some(json!({"name": "base", "jig": "test", "test": {"delay_ms": 50}})));
    ok(&srv, "POST", "/api/v1/deployments", Some(json!({"name": "d"})));
    ok(&srv, "POST", "/api/v1/noderoles", Some(json!({"deployment": "d", "role": "base", "node": node})));
    ok(&srv, "POST", "/api/v1/deployments/d/commit", None);
    wait_for(Duration::from_secs(30), "the run", || {
        let (_, v) = curl(None, "GET", &srv.url("/api/v1/noderoles?deployment=d"), None);
        (v[0]["state"] == "active").then_some(())
    });
    let (code, _) = curl(None, "GET", &srv.url("/api/v1/nodes/nobody.test.example"), None);
    assert_eq!(code, 404);
    // Methods a client makes up share one series: no label per method.
    for made_up in ["FROB", "ZAP"] {
        let (code, _) = curl(None, made_up, &srv.url("/api/v1/nodes"), None);
        assert_eq!(code, 405, "{made_up}");
    }

    let text = scrape(&srv);
    // promtool reads it as Prometheus would, and finds nothing to fault.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("metrics.txt");
    std::fs::write(&file, &text).unwrap();
    let check = Command::new("sh")
        .arg("-c")
        .arg("promtool check metrics < \"$1\"")
        .arg("sh")
        .arg(&file)
        .output()
        .expect("promtool");
    assert!(
        check.status.success(),
        "promtool check metrics: {}{}\n{text}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );
    // Counters that moved, each in its family with its labels.
    let moved = [
        "fulcrum_dhcp4_received_total",
        "fulcrum_dhcp4_requests_total{type=\"discover\"}",
        "fulcrum_dhcp4_requests_total{type=\"request\"}",
        "fulcrum_dhcp4_replies_total{type=\"offer\",network=\"metrics\"}",
        "fulcrum_dhcp4_replies_total{type=\"ack\",network=\"metrics\"}",
        "fulcrum_boot_scripts_total",
        "fulcrum_boot_http_requests_total{route=\"/boot/ipxe\",method=\"GET\",status=\"200\"}",
        "fulcrum_tftp_requests_total",
        "fulcrum_dns_queries_total{type=\"A\"}",
        "fulcrum_dns_queries_total{type=\"AAAA\"}",
        "fulcrum_dns_responses_total{rcode=\"NOERROR\"}",
        "fulcrum_dns_responses_total{rcode=\"NXDOMAIN\"}",
        "fulcrum_api_requests_total{route=\"/api/v1/nodes\",method=\"POST\",status=\"201\"}",
        "fulcrum_api_requests_total{route=\"/api/v1/nodes/{name}\",method=\"GET\",status=\"404\"}",
        "fulcrum_api_request_duration_seconds_count{route=\"/api/v1/nodes\",method=\"POST\"}",
        "fulcrum_api_requests_total{route=\"/api/v1/nodes\",method=\"other\",status=\"405\"}",
        "fulcrum_run_duration_seconds_count{outcome=\"succeeded\"}",
        "fulcrum_store_commit_duration_seconds_count",
        "fulcrum_store_commit_batch_size_count",
    ];
    for line in moved {
        let start = line.split(['{', ' ']).next().unwrap_or(line);
        let (was, now) = (sum(&before, line), sum(&text, line));
        assert!(now > was, "{line}: {was} -> {now}\n{}", family(&text, start));
    }
    assert!(!text.contains("FROB") && !text.contains("ZAP"), "a made-up method is a label:\n{text}");
    assert!(metric(&text, "fulcrum_tftp_sent_bytes_total") >= 5000, "{}", family(&text, "fulcrum_tftp_sent"));
    // Gauges of what the store holds.
    for (line, want) in [
        ("fulcrum_nodes{state=\"active\"}", 1),
        ("fulcrum_dhcp_pool_size{network=\"metrics\"}", 101),
        // The role, and the system deployment's for the node.
        ("fulcrum_noderoles{state=\"active\"}", 2),
        ("fulcrum_noderoles{state=\"error\"}", 0),
        ("fulcrum_runs_running", 0),
    ] {
        assert_eq!(sum(&text, line), want, "{line}\n{text}");
    }
    assert_eq!(sum(&text, "fulcrum_dhcp_leases{family=\"4\",network=\"metrics\",state=\"active\"}"), 1, "{text}");
}

/// The value of the one line that is exactly `series` (name and labels),
/// 0 when there is none.
fn sum(text: &str, series: &str) -> u64 {
    text.lines()
        .filter_map(|l| l.rsplit_once(' '))
        .filter(|(s, _)| *s == series)
        .filter_map(|(_, v)| v.parse::<f64>().ok())
        .sum::<f64>() as u64
}

/// The lines of a family, for a failure's message.
fn family(text: &str, name: &str) -> String {
    text.lines().filter(|l| l.contains(name)).collect::<Vec<_>>().join("\n")
}
