//! One client flooding DISCOVERs cannot starve the others: its datagrams
//! beyond the per-MAC rate are dropped before they are decoded, counted in
//! `fulcrum_dhcp4_dropped_total{reason="rate_mac"}`, and a second client
//! completes DORA while the flood goes on.

use std::net::{Ipv4Addr, UdpSocket};
use std::time::{Duration, Instant};

use crate::harness::{curl, loopback, loopback_network, metric};
use dhcproto::{Encodable, Encoder};
use fulcrum::demo::relay::{Relay, Stage};
use fulcrum::types::mac::Mac;

/// Datagrams the flooder sends, and for at most this long.
const FLOOD: usize = 3_000;
const FLOOD_FOR: Duration = Duration::from_secs(6);

#[test]
fn a_flooding_mac_is_limited_and_the_others_are_served() {
    let (srv, ports) = loopback();
    assert_eq!(curl(None, "POST", &srv.url("/api/v1/networks"), Some(&loopback_network("flood", 67))).0, 201);

    // The flooder: one MAC, as fast as the socket goes, counting answers.
    let giaddr = Ipv4Addr::new(127, 67, 0, 1);
    let template = Relay::new(giaddr, ports.dhcp).expect("relay").request(
        Mac([0x52, 0x54, 0x00, 0x67, 0x00, 0x01]),
        dhcproto::v4::MessageType::Discover,
        Stage::BiosRom,
    );
    let mut bytes = Vec::new();
    template.encode(&mut Encoder::new(&mut bytes)).expect("encode");
    let flooder = UdpSocket::bind((giaddr, 0)).expect("bind flooder");
    flooder.set_nonblocking(true).expect("nonblocking");
    let flood = {
        let dhcp = ports.dhcp;
        std::thread::spawn(move || {
            let (mut sent, mut answered) = (0usize, 0usize);
            let start = Instant::now();
            let mut buf = [0u8; 1500];
            while sent < FLOOD && start.elapsed() < FLOOD_FOR {
                if flooder.send_to(&bytes, dhcp).is_ok() {
                    sent += 1;
                }
                while flooder.recv_from(&mut buf).is_ok() {
                    answered += 1;
                }
                // About 5,000 a second: a flood, but not so fast that the
                // kernel's socket buffer drops what the server should count.
                if sent % 5 == 0 {
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
            let elapsed = start.elapsed();
            std::thread::sleep(Duration::from_millis(300));
            while flooder.recv_from(&mut buf).is_ok() {
                answered += 1;
            }
            (sent, answered, elapsed)
        })
    };

    // While it floods, another client on another relay gets its lease.
    std::thread::sleep(Duration::from_millis(300));
    let victim = Relay::new(Ipv4Addr::new(127, 67, 0, 2), ports.dhcp).expect("relay");
    let mut leases = 0;
    for i in 0..5u8 {
        let a = victim.dora(Mac([0x52, 0x54, 0x00, 0x67, 0x01, i]), Stage::BiosRom);
        assert!(a.is_ok(), "client {i} starved during the flood: {a:?}");
        leases += 1;
    }
    assert!(!flood.is_finished(), "the flood ended before the other clients were served: the test proves nothing");
    let (sent, answered, elapsed) = flood.join().expect("flooder");
    println!("flooder sent {sent} in {elapsed:?}, {answered} answered; {leases} other clients leased meanwhile");

    let (_, m) = curl(None, "GET", &srv.url("/metrics"), None);
    let m = m.as_str().unwrap_or_default().to_string();
    let dropped = metric(&m, "fulcrum_dhcp4_dropped_total{reason=\"rate_mac\"}");
    println!("fulcrum_dhcp4_dropped_total{{reason=\"rate_mac\"}} {dropped}");
    assert!(sent >= 1000, "the flooder sent only {sent}: the test proves nothing");
    // Default: 20 a second, a burst of 40.
    let allowed = 40 + (20.0 * (elapsed.as_secs_f64() + 1.0)) as usize;
    assert!(answered <= allowed, "{answered} of {sent} flood datagrams answered, more than {allowed}");
    // A few may be lost in the kernel's socket buffer instead; the rest are counted.
    assert!(dropped as usize >= (sent - allowed) * 9 / 10, "only {dropped} of {sent} counted as dropped:\n{m}");
}
