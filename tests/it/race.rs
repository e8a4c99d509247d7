//! The race OpenCrowbar documented is closed: 1000 times in a row, set a
//! node's bootenv through the API and, as soon as the call returns, fetch
//! its boot script and send a DHCP request for it. Every answer must
//! reflect the write just acknowledged.

use std::net::Ipv4Addr;

use crate::harness::{curl, loopback_config, loopback_network, Server};
use fulcrum::demo::relay::{Relay, Stage};
use fulcrum::types::mac::Mac;
use serde_json::json;

const ROUNDS: usize = 1000;

#[test]
fn every_answer_reflects_the_bootenv_just_written() {
    // One MAC asks ~300 times a second here: lift the per-MAC flood limit.
    let (cfg, ports) = loopback_config();
    let srv = Server::start(&cfg.replace("[dhcp]\n", "[dhcp]\nrate_per_mac = 0\n"), ports.http, None);
    assert_eq!(curl(None, "POST", &srv.url("/api/v1/networks"), Some(&loopback_network("admin", 60))).0, 201);
    let mac = [0x52, 0x54, 0x00, 0x00, 0x60, 0x01];
    let node = json!({"name": "racer.test.example", "macs": ["52:54:00:00:60:01"]});
    assert_eq!(curl(None, "POST", &srv.url("/api/v1/nodes"), Some(&node)).0, 201);
    let relay = Relay::new(Ipv4Addr::new(127, 60, 0, 1), ports.dhcp).expect("relay");
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let http = srv.client();
    let token = srv.token();
    let put_url = srv.url("/api/v1/nodes/racer.test.example/bootenv");
    let script_url = srv.url("/boot/ipxe?mac=52:54:00:00:60:01");
    let envs = ["ubuntu-24.04", "local", "discovery"];
    let mut stale = Vec::new();
    for round in 0..ROUNDS {
        let env = envs[round % envs.len()];
        let script = rt.block_on(async {
            let r = http.put(&put_url).bearer_auth(&token).json(&json!({ "bootenv": env })).send().await.unwrap();
            assert_eq!(r.status().as_u16(), 200, "round {round}");
            // The write is acknowledged: ask at once.
            http.get(&script_url).send().await.unwrap().text().await.unwrap()
        });
        let ipxe = round % 2 == 1;
        let stage = if ipxe { Stage::Ipxe } else { Stage::BiosRom };
        let answer =
            relay.send(&relay.request(Mac(mac), dhcproto::v4::MessageType::Discover, stage)).expect("a DHCP answer");
        let script_ok = match env {
            "local" => script.contains("local disk"),
            other => script.contains(&format!("booting {other}")),
        };
        let dhcp_ok = match (env, ipxe, answer.file.as_deref()) {
            ("local", _, None) => true,
            ("local", _, Some(_)) => false,
            (_, false, Some(f)) => f == "undionly.kpxe",
            (_, true, Some(f)) => f.ends_with("/boot/ipxe?mac=52:54:00:00:60:01"),
            (_, _, None) => false,
        };
        if !script_ok || !dhcp_ok {
            stale.push(format!("round {round}: bootenv {env}: script ok {script_ok}, dhcp file {:?}", answer.file));
        }
    }
    println!("{ROUNDS} rounds, {} stale answers", stale.len());
    assert!(stale.is_empty(), "stale answers:\n{}", stale.join("\n"));
}
