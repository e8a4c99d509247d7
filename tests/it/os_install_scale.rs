//! Seed 000's provisioner-os-install flow with 50 simulated nodes, through
//! the real binary: commit -> the annealer runs the role -> on_active sets
//! the install bootenv and marks the node not alive in one transaction ->
//! only then the power driver reboots it. The moment each reboot is issued,
//! the node's boot script and DHCP answer must already be the installer's:
//! no stale answer. Then the installers finish (bootenv local), the systems
//! report in with their tokens, the destructive role is skipped and the
//! discovery role runs again.

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader};
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use crate::harness::{curl, curl_as, loopback_config, loopback_network, wait_for};
use dhcproto::v4::MessageType;
use fulcrum::demo::relay::{Relay, Stage};
use fulcrum::types::mac::Mac;
use serde_json::{json, Value};

const NODES: u8 = 50;

fn ok(srv: &crate::harness::Server, method: &str, path: &str, body: Option<Value>) -> Value {
    let (code, v) = curl(None, method, &srv.url(path), body.as_ref());
    assert!((200..300).contains(&code), "{method} {path}: {code} {v}");
    v
}

#[test]
fn os_install_flow_at_scale_has_no_stale_answers() {
    let (cfg, ports) = loopback_config();
    let srv = crate::harness::Server::start(&format!("{cfg}[power]\nallow_commands = true\n"), ports.http, None);
    let mut net = loopback_network("admin", 95);
    net["static"] = json!({"start": "127.95.0.10", "end": "127.95.0.99"});
    ok(&srv, "POST", "/api/v1/networks", Some(net));
    let power_log = srv.dir.path().join("power.log");
    std::fs::write(&power_log, "").unwrap();
    let power = json!({"driver": "command", "command": format!("echo \"$FULCRUM_POWER_ACTION $FULCRUM_NODE\" >> {}", power_log.display())});
    let mut nodes: HashMap<String, ([u8; 6], String)> = HashMap::new();
    for i in 0..NODES {
        let mac = [0x52, 0x54, 0x00, 0x95, 0x00, i];
        let node = ok(&srv, "POST", "/api/v1/discover", Some(json!({"mac": format!("52:54:00:95:00:{i:02x}")})));
        let name = node["name"].as_str().unwrap().to_string();
        ok(&srv, "PATCH", &format!("/api/v1/nodes/{name}"), Some(json!({"power": power})));
        nodes.insert(name, (mac, node["token"].as_str().unwrap().to_string()));
    }
    wait_for(Duration::from_secs(30), "discovery roles", || {
        (curl(None, "GET", &srv.url("/api/v1/anneal?deployment=system"), None).0 == 200).then_some(())
    });
    ok(&srv, "POST", "/api/v1/deployments", Some(json!({"name": "os", "attribs": {"os": "ubuntu-24.04"}})));
    for name in nodes.keys() {
        ok(
            &srv,
            "POST",
            "/api/v1/noderoles",
            Some(json!({"deployment": "os", "role": "provisioner-os-install", "node": name})),
        );
    }
    ok(&srv, "POST", "/api/v1/deployments/os/commit", None);

    // Follow the power driver's log: each line is a reboot issued after a commit.
    let relay = Relay::new(Ipv4Addr::new(127, 95, 0, 1), ports.dhcp).expect("relay");
    let mut file = BufReader::new(std::fs::File::open(&power_log).unwrap());
    let mut rebooted = HashSet::new();
    let mut stale = Vec::new();
    let start = Instant::now();
    while rebooted.len() < nodes.len() {
        assert!(start.elapsed() < Duration::from_secs(60), "only {} reboots issued", rebooted.len());
        let mut line = String::new();
        if file.read_line(&mut line).unwrap() == 0 {
            std::thread::sleep(Duration::from_millis(2));
            continue;
        }
        let name = line.trim().strip_prefix("reboot ").expect("reboot line").to_string();
        let (mac, _) = nodes[&name];
        // The reboot has been issued: the machine's next questions, now.
        let mac_s = mac.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":");
        let (_, script) = curl(None, "GET", &srv.url(&format!("/boot/ipxe?mac={mac_s}")), None);
        let script = script.as_str().unwrap_or("").to_string();
        let answer = relay.send(&relay.request(Mac(mac), MessageType::Discover, Stage::Ipxe)).expect("a DHCP answer");
        let node = ok(&srv, "GET", &format!("/api/v1/nodes/{name}"), None);
        if !script.contains("booting ubuntu-24.04")
            || answer.file.as_deref().is_none_or(|f| !f.contains("/boot/ipxe?mac="))
            || node["alive"] != false
        {
            stale.push(format!(
                "{name}: script ok {}, dhcp file {:?}, alive {}",
                script.contains("booting ubuntu-24.04"),
                answer.file,
                node["alive"]
            ));
        }
        rebooted.insert(name);
    }
    assert!(stale.is_empty(), "stale answers after a reboot was issued:\n{}", stale.join("\n"));

    // The installers finish; the installed systems report in.
    for (name, (_, token)) in &nodes {
        ok(&srv, "PUT", &format!("/api/v1/nodes/{name}/bootenv"), Some(json!({"bootenv": "local"})));
        let out = crate::harness::run(std::process::Command::new("curl").args([
            "-sS",
            "-f",
            "-X",
            "POST",
            "-H",
            &format!("Authorization: Bearer {token}"),
            &srv.boot_url(&format!("/api/v1/nodes/{name}/alive")),
        ]));
        assert!(out.status.success());
    }
    // No token, or a wrong one, is refused.
    let some = nodes.keys().next().unwrap().clone();
    let (code, _) = curl_as(None, None, "POST", &srv.url(&format!("/api/v1/nodes/{some}/alive")), None);
    assert_eq!(code, 401);
    let (code, _) =
        curl_as(None, Some("not-the-token"), "POST", &srv.url(&format!("/api/v1/nodes/{some}/alive")), None);
    assert_eq!(code, 403);
    for dep in ["os", "system"] {
        wait_for(Duration::from_secs(30), dep, || {
            (curl(None, "GET", &srv.url(&format!("/api/v1/anneal?deployment={dep}")), None).0 == 200).then_some(())
        });
    }
    for (name, (mac, _)) in &nodes {
        let runs = ok(&srv, "GET", &format!("/api/v1/runs?node={name}&brief=true"), None);
        let outcomes = |role: &str| -> Vec<String> {
            runs.as_array()
                .unwrap()
                .iter()
                .filter(|r| r["role"] == role)
                .map(|r| r["outcome"].as_str().unwrap().to_string())
                .collect()
        };
        assert_eq!(outcomes("provisioner-os-install"), ["succeeded", "skipped"], "{name}");
        assert_eq!(
            outcomes("fulcrum-discovered"),
            ["succeeded", "succeeded"],
            "{name}: discovery roles must run again"
        );
        let answer =
            relay.send(&relay.request(Mac(*mac), MessageType::Discover, Stage::BiosRom)).expect("a DHCP answer");
        assert_eq!(answer.file, None, "{name} boots from disk now");
    }
    println!("{} nodes installed and back, 0 stale answers", nodes.len());
}
