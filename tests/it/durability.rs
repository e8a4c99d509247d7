//! Acknowledged writes survive `kill -9`: leases handed out under load and
//! nodes registered through the API are all there after a restart, no
//! address is held by two clients, and the cluster keeps its Global ID.

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::harness::{curl, loopback_config, loopback_network, Server};
use fulcrum::demo::relay::{Relay, Stage};
use fulcrum::types::mac::Mac;
use serde_json::json;

#[test]
fn acknowledged_leases_and_nodes_survive_kill_9_under_load() {
    let (cfg, ports) = loopback_config();
    let srv = Server::start(&cfg, ports.http, None);
    assert_eq!(curl(None, "POST", &srv.url("/api/v1/networks"), Some(&loopback_network("admin", 70))).0, 201);
    for i in 0..10u8 {
        let body = json!({"name": format!("n{i}.test.example"), "macs": [format!("52:54:00:00:70:{i:02x}")], "bootenv": "ubuntu-24.04"});
        assert_eq!(curl(None, "POST", &srv.url("/api/v1/nodes"), Some(&body)).0, 201);
    }
    let (_, health) = curl(None, "GET", &srv.url("/healthz"), None);

    // Load: relayed clients taking leases as fast as they can, recording
    // every ACK they receive, until the server dies under them.
    let acked: Arc<Mutex<HashMap<[u8; 6], Ipv4Addr>>> = Arc::default();
    let dead = Arc::new(AtomicBool::new(false));
    let mut workers = Vec::new();
    for w in 0..4u8 {
        let (acked, dead, dhcp) = (acked.clone(), dead.clone(), ports.dhcp);
        workers.push(std::thread::spawn(move || {
            let relay = Relay::new(Ipv4Addr::new(127, 70, 0, 1), dhcp).expect("relay");
            for i in 0..=255u8 {
                if dead.load(Ordering::SeqCst) {
                    return;
                }
                let mac = [0x52, 0x54, 0x01, w, 0x00, i];
                match relay.dora(Mac(mac), Stage::BiosRom).ok() {
                    Some(a) if a.kind == Some(dhcproto::v4::MessageType::Ack) => {
                        acked.lock().unwrap().insert(mac, a.yiaddr);
                    }
                    _ => return,
                }
            }
        }));
    }
    let start = Instant::now();
    while acked.lock().unwrap().len() < 40 && start.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(5));
    }
    let dir = srv.kill9();
    dead.store(true, Ordering::SeqCst);
    for w in workers {
        let _ = w.join();
    }
    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() >= 40, "load produced only {} leases", acked.len());

    let srv = Server::start_in(dir, &cfg, ports.http, None);
    let (_, after) = curl(None, "GET", &srv.url("/healthz"), None);
    assert_eq!(after["global_id"], health["global_id"], "Global ID changed across restart");
    let (_, nodes) = curl(None, "GET", &srv.url("/api/v1/nodes"), None);
    let nodes = nodes.as_array().unwrap();
    assert_eq!(nodes.len(), 10);
    assert!(nodes.iter().all(|n| n["bootenv"] == "ubuntu-24.04" && n["ipv4"].is_string()));
    let (_, leases) = curl(None, "GET", &srv.url("/api/v1/leases"), None);
    let leases = leases.as_array().unwrap();
    let mut by_ip: HashMap<String, String> = HashMap::new();
    for l in leases {
        let ip = l["ip"].as_str().unwrap().to_string();
        assert!(by_ip.insert(ip.clone(), l["mac"].as_str().unwrap().to_string()).is_none(), "{ip} leased twice");
    }
    for (mac, ip) in &acked {
        let mac_s = mac.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":");
        assert_eq!(by_ip.get(&ip.to_string()), Some(&mac_s), "acknowledged lease {ip} -> {mac_s} lost after kill -9");
    }
    // A new client after the restart never gets an address someone holds.
    let relay = Relay::new(Ipv4Addr::new(127, 70, 0, 1), ports.dhcp).expect("relay");
    let fresh = relay.dora(Mac([0x52, 0x54, 0x02, 0, 0, 1]), Stage::BiosRom).expect("a lease after the restart");
    assert!(!by_ip.contains_key(&fresh.yiaddr.to_string()), "{} handed out twice", fresh.yiaddr);
    // A client that had a lease gets the same address again.
    let (mac, ip) = acked.iter().next().unwrap();
    assert_eq!(relay.dora(Mac(*mac), Stage::BiosRom).expect("the same lease again").yiaddr, *ip);
    println!("{} acknowledged leases, {} on disk after kill -9", acked.len(), leases.len());
}

/// A data dir written by a newer Fulcrum is refused at start-up with a
/// message that says so, and left as it is; an older one is migrated.
#[test]
fn newer_data_is_refused_and_older_data_migrated() {
    use redb::{ReadableDatabase, ReadableTable, TableDefinition};
    fn table(name: &str) -> TableDefinition<'_, &'static str, &'static [u8]> {
        TableDefinition::new(name)
    }
    // Writes (or with `None` deletes) one row of the stopped server's store.
    let put = |dir: &std::path::Path, name: &str, key: &str, v: Option<&str>| {
        let db = redb::Database::create(dir.join("data/fulcrum.redb")).expect("open the store");
        let tx = db.begin_write().expect("begin");
        {
            let mut t = tx.open_table(table(name)).expect("table");
            match v {
                Some(v) => t.insert(key, v.as_bytes()).map(|_| ()),
                None => t.remove(key).map(|_| ()),
            }
            .expect("write the row");
        }
        tx.commit().expect("commit");
    };
    let stamp = |dir: &std::path::Path, v: Option<&str>| put(dir, "meta", "schema_version", v);
    let version = |dir: &std::path::Path| {
        let db = redb::Database::create(dir.join("data/fulcrum.redb")).expect("open the store");
        let tx = db.begin_read().expect("begin");
        let t = tx.open_table(table("meta")).expect("meta");
        t.get("schema_version").expect("get").map(|v| String::from_utf8_lossy(v.value()).into_owned())
    };
    let keys = |dir: &std::path::Path, name: &str| -> Vec<String> {
        let db = redb::Database::create(dir.join("data/fulcrum.redb")).expect("open the store");
        let tx = db.begin_read().expect("begin");
        let t = tx.open_table(table(name)).expect("table");
        t.iter().expect("iter").map(|r| r.expect("row").0.value().to_string()).collect()
    };
    let (cfg, ports) = loopback_config();
    let srv = Server::start(&cfg, ports.http, None);
    assert_eq!(curl(None, "POST", &srv.url("/api/v1/networks"), Some(&loopback_network("admin", 71))).0, 201);
    let (_, dir) = srv.stop();
    assert_eq!(version(dir.path()).as_deref(), Some("4"), "a new store is stamped with this build's version");

    stamp(dir.path(), Some("99"));
    let out = std::process::Command::new(crate::harness::bin())
        .args(["serve", "--config"])
        .arg(dir.path().join("fulcrum.toml"))
        .output()
        .expect("run fulcrum");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "data from a newer Fulcrum was accepted");
    assert!(err.contains("newer Fulcrum") && err.contains("schema version 99"), "{err}");
    assert!(err.contains("data_dir"), "the message names the setting: {err}");
    assert_eq!(version(dir.path()).as_deref(), Some("99"), "a refused store is left as it was");

    // Data from before versions were stored (version 1) is migrated.
    stamp(dir.path(), None);
    let srv = Server::start_in(dir, &cfg, ports.http, None);
    let (_, nets) = curl(None, "GET", &srv.url("/api/v1/networks"), None);
    assert_eq!(nets[0]["name"], "admin", "{nets}");
    let (_, dir) = srv.stop();
    assert_eq!(version(dir.path()).as_deref(), Some("4"));

    // Version 3 kept DHCPv6 leases under their address; version 4 keeps
    // them in write order (write time, then address) and moves them.
    stamp(dir.path(), Some("3"));
    let addr_key = "fd00:0000:0000:0071:ffff:0000:0000:0001";
    let lease = r#"{"addr":"fd00:0:0:71:ffff::1","duid":"00:03:00:01:02:00:00:00:05:01","iaid":1,"network":"admin","node":null,"expires_at":4102444800}"#;
    put(dir.path(), "leases6", addr_key, Some(lease));
    let srv = Server::start_in(dir, &cfg, ports.http, None);
    let (code, leases) = curl(None, "GET", &srv.url("/api/v1/leases?family=6"), None);
    assert_eq!(code, 200, "{leases}");
    assert_eq!(leases[0]["ip"], "fd00::71:ffff:0:0:1", "the version 3 lease was lost: {leases}");
    let (_, dir) = srv.stop();
    assert_eq!(version(dir.path()).as_deref(), Some("4"));
    assert_eq!(keys(dir.path(), "leases6"), [format!("{:020}/{addr_key}", 0)], "the lease row was not moved");
}
