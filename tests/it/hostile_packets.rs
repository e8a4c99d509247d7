//! Hostile datagrams at the real sockets of a running server: the DHCP
//! packet the fuzzer found (a hardware address length over 16), and every
//! truncation and header corruption of the committed seed corpora (real
//! client packets, `fuzz/corpus/`) at the DHCP and TFTP ports. Afterwards
//! real clients must still be served, and the garbage counted.

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::path::Path;
use std::time::Duration;

use crate::harness::{curl, loopback_config, loopback_network, metric, prerequisites, Server};
use fulcrum::demo::relay::{Relay, Stage};
use fulcrum::types::mac::Mac;

/// The seeds of one fuzz target's corpus.
fn corpus(target: &str) -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus").join(target);
    let seeds: Vec<Vec<u8>> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|f| std::fs::read(f.expect("corpus entry").path()).expect("corpus file"))
        .collect();
    assert!(!seeds.is_empty(), "{}: no seeds", dir.display());
    seeds
}

/// Every prefix of every seed, and every seed with each of its first
/// `header` bytes set to 0x00 and to 0xff.
fn garbage(seeds: &[Vec<u8>], header: usize) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for s in seeds {
        out.extend((0..s.len()).map(|n| s[..n].to_vec()));
        for i in 0..header.min(s.len()) {
            for b in [0x00, 0xff] {
                let mut v = s.clone();
                v[i] = b;
                out.push(v);
            }
        }
    }
    out
}

/// Sends `datagrams` to `to`, paced (bounded: at most 20,000).
fn throw(from: Ipv4Addr, to: SocketAddr, datagrams: &[Vec<u8>]) {
    let sock = UdpSocket::bind((from, 0)).expect("bind");
    for (i, d) in datagrams.iter().take(20_000).enumerate() {
        let _ = sock.send_to(d, to);
        if i % 50 == 0 {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

fn server() -> (Server, crate::harness::Ports) {
    let (cfg, ports) = loopback_config();
    // Garbage comes from a handful of MACs: let all of it reach the decoder.
    let cfg = cfg.replace("[dhcp]\n", "[dhcp]\nrate_per_mac = 0\n");
    let srv = Server::start(&cfg, ports.http, None);
    assert_eq!(curl(None, "POST", &srv.url("/api/v1/networks"), Some(&loopback_network("hostile", 68))).0, 201);
    (srv, ports)
}

fn malformed(srv: &Server) -> u64 {
    let (_, m) = curl(None, "GET", &srv.url("/metrics"), None);
    metric(m.as_str().unwrap_or_default(), "fulcrum_dhcp4_dropped_total{reason=\"malformed\"}")
}

#[test]
fn a_hardware_address_longer_than_16_bytes_is_dropped_not_fatal() {
    let (srv, ports) = server();
    let relay = Relay::new(Ipv4Addr::new(127, 68, 0, 1), ports.dhcp).unwrap();
    // dhcproto decodes hlen as sent; Message::chaddr() then slices 16
    // bytes by it and panics. It took the DHCP receive loop down with it.
    let mut bytes = corpus("dhcp4").into_iter().find(|s| s.len() > 240).expect("a seed");
    bytes[2] = 53;
    throw(Ipv4Addr::new(127, 68, 0, 1), ports.dhcp, &[bytes]);
    let lease = relay.dora(Mac([0x52, 0x54, 0x00, 0x68, 0, 1]), Stage::BiosRom);
    assert!(lease.is_ok(), "DHCP stopped answering after one hlen=53 datagram: {lease:?}");
    assert_eq!(malformed(&srv), 1, "the datagram is counted as malformed");
}

#[test]
fn mutated_real_client_packets_leave_dhcp_and_tftp_serving() {
    if !prerequisites("hostile_packets", false, &["atftp"]) {
        return;
    }
    let (srv, ports) = server();
    std::fs::write(srv.data().join("../undionly.kpxe"), vec![7u8; 70_000]).unwrap();
    let dhcp = garbage(&corpus("dhcp4"), 240);
    let tftp = garbage(&corpus("tftp"), 16);
    println!("{} DHCP and {} TFTP datagrams", dhcp.len(), tftp.len());
    throw(Ipv4Addr::new(127, 68, 0, 1), ports.dhcp, &dhcp);
    throw(Ipv4Addr::LOCALHOST, ports.tftp, &tftp);

    let relay = Relay::new(Ipv4Addr::new(127, 68, 0, 1), ports.dhcp).unwrap();
    let lease = relay.dora(Mac([0x52, 0x54, 0x00, 0x68, 0, 2]), Stage::BiosRom);
    assert!(lease.is_ok(), "DHCP after the garbage: {lease:?}");
    let dropped = malformed(&srv);
    println!("fulcrum_dhcp4_dropped_total{{reason=\"malformed\"}} {dropped}");
    assert!(dropped > 0, "no garbage counted as malformed");
    let out = tempfile::tempdir().unwrap();
    let got = out.path().join("got");
    let status = std::process::Command::new("atftp")
        .args(["--option", "blksize 1428", "-g", "-r", "undionly.kpxe", "-l"])
        .arg(&got)
        .arg("127.0.0.1")
        .arg(ports.tftp.port().to_string())
        .status()
        .expect("atftp");
    assert!(status.success(), "atftp after the garbage: {status}");
    assert_eq!(std::fs::read(&got).unwrap().len(), 70_000);
    assert_eq!(curl(None, "GET", &srv.url("/healthz"), None).0, 200);
}
