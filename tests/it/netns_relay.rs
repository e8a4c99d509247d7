//! Clients behind real relays, each relay in a namespace of its own
//! between the client's and the server's: ISC dhcrelay -6 (the relay
//! envelope, the network chosen by the relay's link address among several)
//! and ISC dhcrelay -4 with relay agent information (option 82 added by the
//! relay, echoed by Fulcrum, the network chosen by giaddr). In both, a
//! node reserved on the relay's port (circuit-id / interface-id) is the
//! machine a new MAC brings into it. Needs root; fails under CI=true when
//! anything is missing.

use std::process::Command;

use crate::harness::{curl, prerequisites, run, wait_for, Netns, Server, Spawned};
use crate::netns_v6::{dhclient6, no_dad};
use serde_json::{json, Value};

const NODE_MAC: &str = "52:54:00:75:00:01";
/// A board that was in the reserved port before the client's, and one
/// that replaces it.
const OLD_BOARD: &str = "52:54:00:75:00:99";
const NEW_BOARD: &str = "52:54:00:75:00:42";

/// One udhcpc lease on `eth0`: whether it bound, and what it said.
fn udhcpc(ns: &Netns) -> (bool, String) {
    let o = ns
        .cmd("timeout")
        .args(["30", "udhcpc", "-f", "-q", "-n", "-t", "8", "-T", "2", "-i", "eth0", "-s", "/bin/true"])
        .output()
        .unwrap();
    (o.status.success(), String::from_utf8_lossy(&o.stderr).to_string() + &String::from_utf8_lossy(&o.stdout))
}

/// Registers node `name` with the old board's MAC, reserved on `circuit`.
fn reserve(api: &impl Fn(&str, &str, Option<&Value>) -> (u16, Value), name: &str, net: &str, circuit: &str) -> Value {
    let body = json!({"name": name, "macs": [OLD_BOARD], "network": net, "port": {"circuit_id": circuit}});
    let (code, node) = api("POST", "/api/v1/nodes", Some(&body));
    assert_eq!(code, 201, "{node}");
    node
}

#[test]
fn dhcpv6_through_isc_dhcrelay() {
    if !prerequisites("netns_v6 relay", true, &["ip", "sysctl", "dhclient", "dhcrelay"]) {
        return;
    }
    // client --- [low0 relay up1] --- [up0 server]: the client's link is
    // fd00:75::/64, which only the relay is on; Fulcrum serves it from an
    // unbound socket, knowing the network by the relay's link address.
    let server_ns = Netns::new("srv6r");
    let relay = Netns::new("rly6");
    let client = Netns::new("cli6r");
    for ns in [&server_ns, &relay, &client] {
        no_dad(ns);
    }
    server_ns.ip(&["link", "add", "up0", "type", "veth", "peer", "name", "up1"]);
    server_ns.ip(&["link", "set", "up1", "netns", &relay.name]);
    server_ns.ip(&["addr", "add", "fd00:99::1/64", "dev", "up0"]);
    server_ns.ip(&["link", "set", "up0", "up"]);
    server_ns.ip(&["-6", "route", "add", "fd00:75::/64", "via", "fd00:99::2"]);
    relay.ip(&["addr", "add", "fd00:99::2/64", "dev", "up1"]);
    relay.ip(&["link", "set", "up1", "up"]);
    relay.ip(&["link", "add", "low0", "type", "veth", "peer", "name", "eth0"]);
    relay.ip(&["link", "set", "eth0", "netns", &client.name]);
    relay.ip(&["addr", "add", "fd00:75::fe/64", "dev", "low0"]);
    relay.ip(&["link", "set", "low0", "up"]);
    client.ip(&["link", "set", "eth0", "address", NODE_MAC, "up"]);

    let config = "data_dir = \"{dir}/data\"\n[http]\nlisten = \"[::]:8080\"\n[dhcp]\nlisten4 = \"127.0.0.1:67\"\n\
                  trusted_relays = [\"fd00:99::2/128\"]\n\
                  [dns]\nenabled = false\n[tftp]\nenabled = false\n[boot]\nfiles_dir = \"{dir}/files\"\n";
    let srv = Server::start(config, "127.0.0.1:8080".parse().unwrap(), Some(&server_ns));
    let api = |method: &str, path: &str, body: Option<&Value>| curl(Some(&server_ns), method, &srv.url(path), body);
    let (code, v) = api(
        "POST",
        "/api/v1/networks",
        Some(&json!({
            "name": "far", "subnet": "10.75.0.0/24", "static": {"start": "10.75.0.10", "end": "10.75.0.99"},
            "domain": "far.test", "v6prefix": "fd00:75::/64",
        })),
    );
    assert_eq!(code, 201, "{v}");
    // A second network with a v6 prefix, so that nothing falls back to "the only one".
    let (code, v) = api(
        "POST",
        "/api/v1/networks",
        Some(&json!({
            "name": "near", "subnet": "10.74.0.0/24", "static": {"start": "10.74.0.10", "end": "10.74.0.99"},
            "domain": "near.test", "v6prefix": "fd00:74::/64",
        })),
    );
    assert_eq!(code, 201, "{v}");
    let (code, node) =
        api("POST", "/api/v1/nodes", Some(&json!({"name": "r1.far.test", "macs": [NODE_MAC], "network": "far"})));
    assert_eq!(code, 201, "{node}");
    let want = node["ipv6"].as_str().unwrap().to_string();
    assert!(want.starts_with("fd00:75::"), "{node}");

    let pid = tempfile::tempdir().unwrap();
    let _relay = Spawned(
        relay
            .cmd("dhcrelay")
            .args(["-6", "-d", "-I", "-pf"])
            .arg(pid.path().join("dhcrelay.pid"))
            .args(["-l", "low0", "-u", "fd00:99::1%up1"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("dhcrelay"),
    );
    let d = tempfile::tempdir().unwrap();
    let env = dhclient6(&client, &srv, d.path());
    assert_eq!(env.get("new_ip6_address"), Some(&want), "{env:?}");
    let (_, leases) = api("GET", "/api/v1/leases?family=6&network=far", None);
    assert_eq!(leases.as_array().map(Vec::len), Some(1), "{leases}");
    assert_eq!(leases[0]["ip"], want.as_str());
    assert_eq!(leases[0]["node"], "r1.far.test");
    let (code, v) = api("GET", "/api/v1/leases?family=5", None);
    assert_eq!(code, 400, "{v}");

    // A node reserved on the relay's port: a new board in it, its DUID made
    // from a MAC no node has, gets that node's address, and its DUID is
    // recorded. dhcrelay -6 -I sends as interface-id its lower interface's
    // number, 4 bytes in host order (01:00:00:00 for the first `-l`), not
    // a name: hence the `hex:` spelling.
    let (code, v) = api("DELETE", "/api/v1/nodes/r1.far.test", None);
    assert!(code == 200 || code == 204, "{v}");
    let node = reserve(&api, "u7.far.test", "far", "hex:01:00:00:00");
    let want = node["ipv6"].as_str().unwrap().to_string();
    client.ip(&["link", "set", "eth0", "down"]);
    client.ip(&["link", "set", "eth0", "address", NEW_BOARD, "up"]);
    let d = tempfile::tempdir().unwrap();
    let env = dhclient6(&client, &srv, d.path());
    assert_eq!(env.get("new_ip6_address"), Some(&want), "{env:?}\n{}", srv.log_text());
    let (_, node) = api("GET", "/api/v1/nodes/u7.far.test", None);
    assert_eq!(node["duids"].as_array().map(Vec::len), Some(1), "{node}");
    let (_, leases) = api("GET", "/api/v1/leases?family=6&node=u7.far.test", None);
    assert_eq!(leases[0]["port"], json!({"circuit_id": "hex:01:00:00:00"}), "{leases}");
}

#[test]
fn dhcpv4_through_isc_dhcrelay_with_agent_information() {
    if !prerequisites("netns_relay v4", true, &["ip", "udhcpc", "dhcrelay", "tcpdump"]) {
        return;
    }
    // client --- [low0 10.73.0.1 relay 10.72.0.2 up1] --- [up0 10.72.0.1 server]
    let server_ns = Netns::new("srv4r");
    let relay = Netns::new("rly4");
    let client = Netns::new("cli4r");
    server_ns.ip(&["link", "add", "up0", "type", "veth", "peer", "name", "up1"]);
    server_ns.ip(&["link", "set", "up1", "netns", &relay.name]);
    server_ns.ip(&["addr", "add", "10.72.0.1/24", "dev", "up0"]);
    server_ns.ip(&["link", "set", "up0", "up"]);
    server_ns.ip(&["route", "add", "10.73.0.0/24", "via", "10.72.0.2"]);
    relay.ip(&["addr", "add", "10.72.0.2/24", "dev", "up1"]);
    relay.ip(&["link", "set", "up1", "up"]);
    relay.ip(&["link", "add", "low0", "type", "veth", "peer", "name", "eth0"]);
    relay.ip(&["link", "set", "eth0", "netns", &client.name]);
    relay.ip(&["addr", "add", "10.73.0.1/24", "dev", "low0"]);
    relay.ip(&["link", "set", "low0", "up"]);
    run(relay.cmd("sysctl").args(["-qw", "net.ipv4.ip_forward=1"]));
    client.ip(&["link", "set", "eth0", "address", NODE_MAC, "up"]);

    let config = "data_dir = \"{dir}/data\"\n[http]\nlisten = \"10.72.0.1:8080\"\n[dhcp]\nlisten4 = \"0.0.0.0:67\"\n\
                  v6 = false\ntrusted_relays = [\"10.72.0.2\"]\n[dns]\nenabled = false\n[tftp]\nenabled = false\n[boot]\nfiles_dir = \"{dir}/files\"\n";
    let srv = Server::start(config, "10.72.0.1:8080".parse().unwrap(), Some(&server_ns));
    let api = |method: &str, path: &str, body: Option<&Value>| curl(Some(&server_ns), method, &srv.url(path), body);
    for (name, subnet, router, s, d) in [
        ("far4", "10.73.0.0/24", "10.73.0.1", ("10.73.0.10", "10.73.0.99"), ("10.73.0.100", "10.73.0.150")),
        ("near4", "10.72.0.0/24", "10.72.0.1", ("10.72.0.10", "10.72.0.99"), ("10.72.0.100", "10.72.0.150")),
    ] {
        let (code, v) = api(
            "POST",
            "/api/v1/networks",
            Some(&json!({"name": name, "subnet": subnet, "router": router, "server": "10.72.0.1",
                "static": {"start": s.0, "end": s.1}, "dynamic": {"start": d.0, "end": d.1},
                "domain": format!("{name}.test")})),
        );
        assert_eq!(code, 201, "{v}");
    }

    // What the server side sees: the relay's option 82 going in and coming back.
    let pcap = tempfile::tempdir().unwrap();
    let pcap_file = pcap.path().join("up0.pcap");
    let mut dump = Spawned(
        server_ns
            .cmd("tcpdump")
            .args(["-i", "up0", "-U", "--immediate-mode", "-n", "-Z", "root", "-s", "0", "-w"])
            .arg(&pcap_file)
            .args(["udp", "port", "67"])
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(pcap.path().join("tcpdump.err")).unwrap())
            .spawn()
            .expect("tcpdump"),
    );
    wait_for(std::time::Duration::from_secs(5), "tcpdump to start", || pcap_file.exists().then_some(()));
    // It creates the file before it has its socket: give it a moment.
    std::thread::sleep(std::time::Duration::from_millis(1000));
    let pid = tempfile::tempdir().unwrap();
    let _relay = Spawned(
        relay
            .cmd("dhcrelay")
            .args(["-4", "-d", "-a", "-pf"])
            .arg(pid.path().join("dhcrelay.pid"))
            .args(["-iu", "up1", "-id", "low0", "10.72.0.1"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("dhcrelay"),
    );
    std::thread::sleep(std::time::Duration::from_millis(500));
    let (bound, out) = udhcpc(&client);
    assert!(bound, "udhcpc behind the relay got nothing:\n{out}\n{}", srv.log_text());
    let (_, leases) = api("GET", "/api/v1/leases?family=4&network=far4", None);
    assert_eq!(leases.as_array().map(Vec::len), Some(1), "{leases}");
    let ip = leases[0]["ip"].as_str().unwrap().to_string();
    assert!(ip.starts_with("10.73.0.1"), "{ip}: from far4's dynamic range");
    // Where it is plugged in, as the relay says: what a reservation names.
    assert_eq!(leases[0]["port"], json!({"circuit_id": "low0"}), "{leases}");
    assert!(out.contains(&ip), "{out}");
    std::thread::sleep(std::time::Duration::from_millis(300));
    // SIGTERM: tcpdump writes out what it holds and exits.
    let _ = Command::new("kill").args(["-TERM", &dump.0.id().to_string()]).status();
    let _ = dump.0.wait();
    // Each reply to the relay carries the option 82 the relay sent (code 82).
    let text = run(Command::new("tcpdump").args(["-r"]).arg(&pcap_file).args(["-n", "-v"]));
    let text = String::from_utf8_lossy(&text.stdout).to_string() + &String::from_utf8_lossy(&text.stderr);
    let err = std::fs::read_to_string(pcap.path().join("tcpdump.err")).unwrap_or_default();
    // tcpdump -v prints each packet as a line at the left margin and its
    // fields indented under it.
    let mut packets: Vec<String> = Vec::new();
    for line in text.lines() {
        match packets.last_mut() {
            Some(p) if line.starts_with(char::is_whitespace) => {
                p.push('\n');
                p.push_str(line);
            }
            _ => packets.push(line.to_string()),
        }
    }
    let replies: Vec<&String> = packets.iter().filter(|p| p.contains("10.72.0.1.67 > 10.73.0.1.67")).collect();
    assert_eq!(replies.len(), 2, "an OFFER and an ACK to the relay:\n{text}\n{err}");
    for r in replies {
        assert!(r.contains("Agent-Information (82)") && r.contains("Circuit-ID SubOption 1, length 4: low0"), "{r}");
    }

    // A node reserved on the relay's port `low0` (dhcrelay's circuit-id is
    // the interface name) with an old board's MAC: the machine now in that
    // port, the client, becomes that node, and its MAC is learned.
    let node = reserve(&api, "rack1-u7.far4.test", "far4", "low0");
    let node_ip = node["ipv4"].as_str().unwrap().to_string();
    let (bound, out) = udhcpc(&client);
    assert!(bound && out.contains(&node_ip), "not the port's node address {node_ip}:\n{out}");
    let (_, node) = api("GET", "/api/v1/nodes/rack1-u7.far4.test", None);
    assert_eq!(node["macs"], json!([OLD_BOARD, NODE_MAC]), "{node}");
    let (_, leases) = api("GET", "/api/v1/leases?family=4&network=far4", None);
    assert_eq!(leases.as_array().map(Vec::len), Some(1), "the stranger's lease went: {leases}");
    assert_eq!(
        (leases[0]["ip"].as_str(), leases[0]["node"].as_str()),
        (Some(node_ip.as_str()), Some("rack1-u7.far4.test"))
    );
}
