//! The disk under the store fails: a full disk (a small tmpfs in a mount
//! namespace of the test's own) refuses writes with a clear error and no
//! DHCP lease, keeps everything acknowledged before it, recovers once
//! there is room, and leaves a store that opens cleanly; a read-only or
//! missing data dir stops start-up with a message naming the path.

use std::io::Write;
use std::net::Ipv4Addr;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde_json::json;

use crate::harness::{bin, curl, loopback_config, loopback_network, metric, prerequisites, MountNs, Server};
use fulcrum::demo::relay::{Relay, RelayError, Stage};
use fulcrum::types::mac::Mac;

fn node(i: u8) -> serde_json::Value {
    json!({"name": format!("disk{i}.test.example"), "macs": [format!("52:54:00:75:00:{i:02x}")]})
}

/// Fills the file system holding `file` until it refuses (bounded: 64 MiB).
fn fill(file: &Path) -> u64 {
    let mut f = std::fs::File::create(file).expect("filler");
    let chunk = vec![0xa5u8; 64 * 1024];
    let mut written = 0u64;
    while written < 64 << 20 {
        match f.write(&chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => written += n as u64,
        }
    }
    let _ = f.sync_all();
    written
}

#[test]
fn a_full_disk_refuses_writes_clearly_and_loses_nothing() {
    if !prerequisites("full_disk", true, &["unshare", "nsenter", "mount"]) {
        return;
    }
    let m = MountNs::new();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let out = m.cmd("mount").args(["-t", "tmpfs", "-o", "size=8m", "tmpfs"]).arg(&data).output().unwrap();
    assert!(out.status.success(), "mount: {}", String::from_utf8_lossy(&out.stderr));
    let (cfg, ports) = loopback_config();
    let srv = Server::start_in_mount_ns(dir, &cfg, ports.http, &m);
    assert_eq!(curl(None, "POST", &srv.url("/api/v1/networks"), Some(&loopback_network("disk", 75))).0, 201);
    for i in 0..5 {
        assert_eq!(curl(None, "POST", &srv.url("/api/v1/nodes"), Some(&node(i))).0, 201);
    }
    let relay =
        Relay::new(Ipv4Addr::new(127, 75, 0, 1), ports.dhcp).unwrap().with_timeout(Duration::from_millis(500)).unwrap();
    let before =
        relay.dora(Mac([0x52, 0x54, 0x01, 0x75, 0, 1]), Stage::BiosRom).expect("a lease with room on the disk");

    // The disk fills up.
    let filler = srv.data().join("filler");
    let filled = fill(&filler);
    println!("filled the 8 MiB tmpfs with {filled} bytes");
    let mut refused = 0;
    for i in 10..20 {
        let (code, v) = curl(None, "POST", &srv.url("/api/v1/nodes"), Some(&node(i)));
        if code == 201 {
            // redb may still find room in pages it already has.
            continue;
        }
        assert_eq!(code, 507, "a write on a full disk: {v}");
        let msg = v["error"].as_str().unwrap_or_default();
        assert!(msg.contains("No space left on device") && msg.contains("fulcrum.redb"), "{v}");
        refused += 1;
    }
    assert!(refused > 0, "no write was refused on a full disk");
    let (_, nodes) = curl(None, "GET", &srv.url("/api/v1/nodes"), None);
    let count_full = nodes.as_array().unwrap().len();
    // No lease that cannot be stored is acknowledged: redb may still fit
    // a few small commits into pages it already has, and every lease it
    // acknowledges must be there after the restart below.
    let mut acked = Vec::new();
    let mut unanswered = 0;
    for i in 0..40u8 {
        match relay.dora(Mac([0x52, 0x54, 0x01, 0x75, 1, i]), Stage::BiosRom) {
            Ok(a) => acked.push(a.yiaddr),
            Err(e) => {
                // Not a NAK: a renewing client told NAK would lose the
                // address it holds; silence makes it ask again later.
                assert!(matches!(e, RelayError::Timeout), "a refused lease must go unanswered: {e}");
                unanswered += 1
            }
        }
        if unanswered >= 3 {
            break;
        }
    }
    println!("on the full disk: {} leases acknowledged, {unanswered} unanswered", acked.len());
    assert!(unanswered >= 3, "every lease acknowledged on a full disk: {acked:?}");
    let (_, metrics) = curl(None, "GET", &srv.url("/metrics"), None);
    let metrics = metrics.as_str().unwrap_or_default().to_string();
    // The relay sends each REQUEST three times before it gives up.
    let dropped = metric(&metrics, "fulcrum_dhcp4_dropped_total{reason=\"store_failed\"}");
    assert!(dropped >= 3 * unanswered, "{dropped} counted for {unanswered} unanswered REQUESTs:\n{metrics}");
    // It still answers, and reports the trouble.
    assert_eq!(curl(None, "GET", &srv.url("/healthz"), None).0, 200);
    assert!(srv.log_text().contains("No space left on device"), "the log names the cause");

    // Room again: writes go through, from where they stopped.
    std::fs::remove_file(&filler).unwrap();
    let (code, v) = curl(None, "POST", &srv.url("/api/v1/nodes"), Some(&node(30)));
    assert_eq!(code, 201, "a write once there is room again: {v}");
    let after = relay.dora(Mac([0x52, 0x54, 0x01, 0x75, 0, 3]), Stage::BiosRom).expect("a lease once there is room");

    // And the store opens cleanly with all of it.
    let (status, dir) = srv.stop();
    assert!(status.is_some_and(|s| s.success()), "{status:?}");
    let srv = Server::start_in_mount_ns(dir, &cfg, ports.http, &m);
    let (_, nodes) = curl(None, "GET", &srv.url("/api/v1/nodes"), None);
    let names: Vec<&str> = nodes.as_array().unwrap().iter().filter_map(|n| n["name"].as_str()).collect();
    assert_eq!(names.len(), count_full + 1, "{names:?}");
    assert!(names.contains(&"disk30.test.example") && names.contains(&"disk4.test.example"), "{names:?}");
    let (_, leases) = curl(None, "GET", &srv.url("/api/v1/leases"), None);
    let ips: Vec<&str> = leases.as_array().unwrap().iter().filter_map(|l| l["ip"].as_str()).collect();
    for ip in acked.iter().chain([&before.yiaddr, &after.yiaddr]) {
        assert!(ips.contains(&ip.to_string().as_str()), "lease {ip} lost: {ips:?}");
    }
}

/// Runs `fulcrum serve` (through `cmd`) on `config` with `data_dir`, which
/// must refuse to start; returns what it printed.
fn refused(mut cmd: Command, data_dir: &Path) -> String {
    let dir = tempfile::tempdir().unwrap();
    let (cfg, _) = loopback_config();
    let cfg = cfg
        .replace("data_dir = \"{dir}/data\"", &format!("data_dir = {data_dir:?}"))
        .replace("{dir}", &dir.path().display().to_string());
    let path = dir.path().join("fulcrum.toml");
    std::fs::write(&path, cfg).unwrap();
    let out = cmd.args(["serve", "--config"]).arg(&path).output().expect("run fulcrum");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(!out.status.success(), "started on {}: {text}", data_dir.display());
    text
}

#[test]
fn a_read_only_or_missing_data_dir_stops_start_up_naming_it() {
    // Missing: a data dir whose parent does not exist is a mistake (a
    // volume not mounted, a typo), not something to create.
    let gone = tempfile::tempdir().unwrap().path().join("not/there/data");
    let out = refused(Command::new(bin()), &gone);
    assert!(out.contains(&gone.display().to_string()) && out.contains("does not exist"), "{out}");

    if !prerequisites("read_only_data_dir", true, &["unshare", "nsenter", "mount"]) {
        return;
    }
    // Read-only: an empty one, and one holding a store.
    let m = MountNs::new();
    let holder = tempfile::tempdir().unwrap();
    let empty = holder.path().join("empty");
    let full = holder.path().join("kept");
    std::fs::create_dir_all(&empty).unwrap();
    let (cfg, ports) = loopback_config();
    let cfg = cfg.replace("{dir}/data", &full.display().to_string());
    let srv = Server::start(&cfg, ports.http, None);
    drop(srv);
    for d in [&empty, &full] {
        let out = m.cmd("mount").args(["--bind", "-o", "ro"]).arg(d).arg(d).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let out = m.cmd("mount").args(["-o", "remount,bind,ro"]).arg(d).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let out = refused(m.cmd(bin()), d);
        assert!(out.contains(&d.display().to_string()) && out.contains("Read-only file system"), "{out}");
    }
}
