//! Paced power-on: with `power.early_boot_max = 1`, a bulk `provide` of
//! three nodes powers one; the next is powered only when the first has
//! asked DHCP for its boot (a real DHCP exchange from its MAC) AND fetched
//! its kernel over HTTP (from its own address), and so on.

use std::net::Ipv4Addr;
use std::process::Command;
use std::time::Duration;

use crate::harness::{curl, loopback_config, loopback_network, wait_for, Server};
use fulcrum::demo::relay::{Relay, Stage};
use fulcrum::types::mac::Mac;
use serde_json::{json, Value};

fn ok(srv: &Server, method: &str, path: &str, body: Option<Value>) -> Value {
    let (code, v) = curl(None, method, &srv.url(path), body.as_ref());
    assert!((200..300).contains(&code), "{method} {path}: {code} {v}");
    v
}

#[test]
fn a_bulk_provide_powers_one_machine_at_a_time_as_each_fetches_its_kernel() {
    let (cfg, ports) = loopback_config();
    let cfg = format!("{cfg}[power]\nallow_commands = true\nearly_boot_max = 1\nconfirm_seconds = 60\n");
    let srv = Server::start(&cfg, ports.http, None);
    ok(&srv, "POST", "/api/v1/networks", Some(loopback_network("admin", 107)));
    let log = srv.dir.path().join("power.log");
    std::fs::write(&log, "").unwrap();
    let files = srv.dir.path().join("data/files/discovery");
    std::fs::create_dir_all(&files).unwrap();
    std::fs::write(files.join("vmlinuz"), "kernel").unwrap();
    let power = json!({"driver": "command", "command": format!("echo \"$FULCRUM_POWER_ACTION $FULCRUM_NODE\" >> {}", log.display())});
    let mut nodes = Vec::new();
    for i in 0..3u8 {
        let name = format!("p{i}.test.example");
        let n = ok(
            &srv,
            "POST",
            "/api/v1/nodes",
            Some(json!({"name": name, "macs": [format!("52:54:00:68:00:{i:02x}")], "power": power})),
        );
        ok(&srv, "PUT", &format!("/api/v1/nodes/{name}/states/provision"), Some(json!({"target": "manage"})));
        nodes.push((name, n["ipv4"].as_str().unwrap().to_string(), Mac([0x52, 0x54, 0x00, 0x68, 0x00, i])));
    }
    let done = ok(&srv, "POST", "/api/v1/nodes/bulk", Some(json!({"verb": "provide", "state": "manageable"})));
    assert_eq!(done["done"].as_array().unwrap().len(), 3, "{done}");
    let powered = || std::fs::read_to_string(&log).unwrap_or_default().lines().map(str::to_string).collect::<Vec<_>>();
    let phase = |name: &str| ok(&srv, "GET", &format!("/api/v1/nodes/{name}"), None)["awaiting_boot"]["phase"].clone();
    wait_for(Duration::from_secs(10), "the first power action", || (powered().len() == 1).then_some(()));
    let first = powered()[0].split_whitespace().nth(1).unwrap().to_string();
    let queued = nodes.iter().filter(|(n, _, _)| phase(n) == "queued").count();
    assert_eq!(queued, 2, "two nodes wait for the slot");
    let relay = Relay::new(Ipv4Addr::new(127, 107, 0, 2), ports.dhcp).expect("relay");
    for round in 1..=3 {
        let (name, ip, mac) = nodes
            .iter()
            .find(|(n, _, _)| *n == powered()[round - 1].split_whitespace().nth(1).unwrap())
            .unwrap()
            .clone();
        assert_eq!(phase(&name), "powered", "{name}");
        // Its firmware asks DHCP: still in early boot, nobody else powered.
        relay.dora(mac, Stage::BiosRom).expect("the node's DHCP exchange");
        assert_eq!(phase(&name), "booting", "{name}");
        std::thread::sleep(Duration::from_millis(1500));
        assert_eq!(powered().len(), round, "a node was powered while {name} had not fetched its kernel");
        // It fetches its kernel: the slot frees, the next node is powered.
        let out = Command::new("curl")
            .args(["-sf", "--interface", &ip, &srv.boot_url("/boot/files/discovery/vmlinuz")])
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout), "kernel", "{out:?}");
        assert_eq!(phase(&name), Value::Null, "{name}");
        if round < 3 {
            wait_for(Duration::from_secs(10), "the next power action", || (powered().len() == round + 1).then_some(()));
        }
    }
    // A step that ends stops the wait for its boot: nothing is repeated or
    // failed later for a node that is no longer in it.
    let (last, _, _) = &nodes[2];
    ok(&srv, "PUT", &format!("/api/v1/nodes/{last}/states/provision"), Some(json!({"target": "abort"})));
    ok(&srv, "PUT", &format!("/api/v1/nodes/{last}/states/provision"), Some(json!({"target": "manage"})));
    ok(&srv, "PUT", &format!("/api/v1/nodes/{last}/states/provision"), Some(json!({"target": "provide"})));
    wait_for(Duration::from_secs(10), "its power action", || (powered().len() == 4).then_some(()));
    assert_eq!(phase(last), "powered");
    let n = ok(&srv, "PUT", &format!("/api/v1/nodes/{last}/states/provision"), Some(json!({"target": "abort"})));
    assert_eq!((&n["provision_state"], &n["awaiting_boot"]), (&json!("clean failed"), &Value::Null), "{n}");
    let _ = powered().pop();
    assert!(powered().iter().all(|l| l.starts_with("reboot ")), "{:?}", powered());
    assert_eq!(powered().len(), 4);
    assert!(powered()[0].ends_with(&first));
}
