//! Router advertisements (RFC 4861 section 6): on each served interface
//! whose network does not turn them off. Where the network has an IPv6
//! prefix they tell hosts to ask DHCPv6 for addresses (M) and other
//! configuration (O), advertise the /64 on-link (autonomous configuration
//! only when the network asks for SLAAC), the MTU, and Fulcrum's DNS
//! (RFC 8106) when it serves the segment. Where it has none they say only
//! that there is nothing to configure (no flags, no prefix): network-boot
//! firmware that waits for an RA (iPXE, about 13 s on every boot) goes on
//! at once. The router lifetime is 0 (Fulcrum is not a default router)
//! unless the network's `ra` is `router` and it has a prefix.
//!
//! Sent unsolicited (the first three at most 16 s apart, then at random
//! between 0.33 and 1 times `dhcp.ra_interval`) and in answer to router
//! solicitations: unicast to a soliciting host that has an address, after
//! a random delay of up to 0.5 s, else multicast no more than once every
//! 3 s. Every advertisement is built from the live network record, so a
//! prefix change shows in the next one. A raw ICMPv6 socket (socket2);
//! the kernel fills in the checksum.

use std::net::{Ipv6Addr, SocketAddrV6};
use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::UdpSocket;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::inventory::network::{DhcpMode, Network, RaMode};
use crate::net::iface;
use crate::state::{State, World};
use crate::stats::{bump, Stats};
use crate::types::mac::Mac;
use crate::types::report::Report;

const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);
const ALL_ROUTERS: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 2);
const ROUTER_SOLICITATION: u8 = 133;
const ROUTER_ADVERTISEMENT: u8 = 134;
/// RFC 4861 10: MAX_INITIAL_RTR_ADVERT_INTERVAL, MAX_INITIAL_RTR_ADVERTISEMENTS,
/// MIN_DELAY_BETWEEN_RAS, MAX_RA_DELAY_TIME.
const INITIAL_INTERVAL: Duration = Duration::from_secs(16);
const INITIAL_COUNT: u32 = 3;
const MIN_DELAY_BETWEEN_RAS: Duration = Duration::from_secs(3);
const MAX_RA_DELAY: Duration = Duration::from_millis(500);
/// Lifetimes: the prefix's (valid, preferred), the router's when it is one
/// (RFC 4861's defaults: 30 days, 7 days, 3 x 600 s), and RDNSS's.
const PREFIX_VALID: u32 = 2_592_000;
const PREFIX_PREFERRED: u32 = 604_800;
const ROUTER_LIFETIME: u16 = 1800;

/// What one advertisement says, worked out from the network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Advert {
    /// The network's /64; `None`: nothing to configure.
    pub(crate) prefix: Option<Ipv6Addr>,
    pub(crate) slaac: bool,
    pub(crate) router: bool,
    pub(crate) mtu: u16,
    pub(crate) mac: Option<Mac>,
    /// Fulcrum's DNS on this segment and its lifetime, if it serves it.
    pub(crate) dns: Option<(Ipv6Addr, u32)>,
    pub(crate) domain: String,
}

/// The advertisement for the network on `iface_name`, if one is due.
pub(crate) fn advert_for(w: &World, config: &Config, iface: &iface::Interface) -> Option<Advert> {
    let nets = w.table::<Network>();
    let net = nets.on_interface(&iface.name).or_else(|| iface.v4.iter().find_map(|(ip, _)| nets.containing(*ip)))?;
    // Where another server owns the addressing, so does the site's router.
    if net.ra == RaMode::Off || net.dhcp == DhcpMode::Proxy {
        return None;
    }
    let prefix = net.v6_prefix(w.global_id());
    let in_prefix = |a: &Ipv6Addr| prefix.is_some_and(|p| u128::from(*a) >> 64 == u128::from(p) >> 64);
    let dns = &config.dns;
    let ours = iface.routable_v6().find(in_prefix);
    let dns_here = dns.enabled && dns.listen.iter().any(|l| l.port() == 53 && l.is_ipv6());
    let lifetime = 3 * config.dhcp.ra_interval;
    Some(Advert {
        prefix,
        slaac: net.slaac,
        router: net.ra == RaMode::Router && prefix.is_some(),
        mtu: net.mtu,
        mac: iface.mac,
        dns: ours.filter(|_| dns_here).map(|a| (a, lifetime)),
        domain: net.domain.clone(),
    })
}

fn push_option(out: &mut Vec<u8>, kind: u8, body: &[u8]) {
    // Options are whole multiples of 8 bytes with their 2-byte header.
    let len = (body.len() + 2).div_ceil(8);
    out.push(kind);
    out.push(len as u8);
    out.extend_from_slice(body);
    out.resize(out.len() + len * 8 - body.len() - 2, 0);
}

/// The ICMPv6 message (checksum left 0 for the kernel).
pub(crate) fn encode(a: &Advert) -> Vec<u8> {
    let flags = if a.prefix.is_some() { 0x80 | 0x40 } else { 0 };
    let mut out = vec![ROUTER_ADVERTISEMENT, 0, 0, 0, 64, flags];
    out.extend_from_slice(&(if a.router { ROUTER_LIFETIME } else { 0 }).to_be_bytes());
    out.extend_from_slice(&[0; 8]); // reachable time, retrans timer: unspecified
    if let Some(mac) = a.mac {
        push_option(&mut out, 1, &mac.0);
    }
    let mut mtu = vec![0, 0];
    mtu.extend_from_slice(&u32::from(a.mtu).to_be_bytes());
    push_option(&mut out, 5, &mtu);
    if let Some(prefix) = a.prefix {
        let mut pi = vec![64, 0x80 | if a.slaac { 0x40 } else { 0 }];
        pi.extend_from_slice(&PREFIX_VALID.to_be_bytes());
        pi.extend_from_slice(&PREFIX_PREFERRED.to_be_bytes());
        pi.extend_from_slice(&[0; 4]);
        pi.extend_from_slice(&prefix.octets());
        push_option(&mut out, 3, &pi);
    }
    if let Some((server, lifetime)) = a.dns {
        let mut rdnss = vec![0, 0];
        rdnss.extend_from_slice(&lifetime.to_be_bytes());
        rdnss.extend_from_slice(&server.octets());
        push_option(&mut out, 25, &rdnss);
        let mut dnssl = vec![0, 0];
        dnssl.extend_from_slice(&lifetime.to_be_bytes());
        for label in a.domain.split('.').filter(|l| !l.is_empty()) {
            dnssl.push(label.len().min(63) as u8);
            dnssl.extend_from_slice(&label.as_bytes()[..label.len().min(63)]);
        }
        dnssl.push(0);
        push_option(&mut out, 31, &dnssl);
    }
    out
}

/// Opens the raw ICMPv6 socket of one interface: hop limit 255 (RFC 4861
/// requires it), a member of all-routers to hear solicitations, each
/// datagram's hop limit told (`net::arrival`).
fn bind(i: &iface::Interface) -> std::io::Result<UdpSocket> {
    let s = Socket::new(Domain::IPV6, Type::RAW, Some(Protocol::ICMPV6))?;
    s.bind_device(Some(i.name.as_bytes()))?;
    s.set_multicast_hops_v6(255)?;
    s.set_unicast_hops_v6(255)?;
    s.set_multicast_if_v6(i.index)?;
    s.set_multicast_loop_v6(false)?;
    s.join_multicast_v6(&ALL_ROUTERS, i.index)?;
    crate::net::arrival::ask(&s)?;
    s.set_nonblocking(true)?;
    // tokio has no raw socket type; a datagram socket's recvfrom and
    // sendto are the same system calls.
    UdpSocket::from_std(std::net::UdpSocket::from(s))
}

/// Why a router solicitation (type and code already checked) must be
/// ignored (RFC 4861 6.1.1), if it must: it crossed a router (hop limit
/// other than 255), or it comes from the unspecified address with a
/// source link-layer address option.
fn invalid_solicitation(rs: &[u8], src: &Ipv6Addr, hop_limit: Option<u8>) -> Option<&'static str> {
    if hop_limit.is_some_and(|h| h != 255) {
        return Some("hop_limit");
    }
    // The options after the 8-byte header: type, length in 8-byte units.
    let mut opts = rs.get(8..).unwrap_or_default();
    while let [kind, len, ..] = opts {
        let bytes = usize::from(*len) * 8;
        if bytes == 0 || bytes > opts.len() {
            return Some("malformed");
        }
        if *kind == 1 && src.is_unspecified() {
            return Some("unspecified_with_lladdr");
        }
        opts = &opts[bytes..];
    }
    None
}

/// Sends router advertisements on `iface_name` until `stop`.
pub(crate) async fn run(
    state: State,
    config: Arc<Config>,
    stats: Arc<Stats>,
    iface_name: String,
    stop: CancellationToken,
) {
    let Some(first) = iface::by_name(&iface_name) else {
        tracing::warn!(iface = %iface_name, "no such interface; no router advertisements");
        return;
    };
    let socket = match bind(&first) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(iface = %iface_name, error = %Report(&e), "cannot open the ICMPv6 socket; no router advertisements");
            return;
        }
    };
    let max = Duration::from_secs(u64::from(config.dhcp.ra_interval));
    let mut sent_initial = 0u32;
    let mut next = Instant::now();
    let mut last_multicast: Option<Instant> = None;
    let mut solicited: Option<(Instant, Ipv6Addr)> = None;
    let mut buf = vec![0u8; 1500];
    loop {
        let wake = solicited.map_or(next, |(at, _)| at.min(next));
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep_until(wake) => {}
            r = crate::net::arrival::recv(&socket, &mut buf) => {
                if let Ok(arrived) = r {
                    let src = arrived.src;
                    let len = arrived.len;
                    if len >= 8 && buf[0] == ROUTER_SOLICITATION && buf[1] == 0 {
                        // RFC 4861 6.1.1: one that crossed a router (hop
                        // limit below 255) is not from this link.
                        if let Some(reason) = invalid_solicitation(&buf[..len], src.ip(), arrived.hop_limit) {
                            stats.ra_dropped.count(reason);
                            tracing::debug!(iface = %iface_name, %src, reason, "router solicitation dropped");
                            continue;
                        }
                        bump(&stats.ra_solicits);
                        let delay = rand::rng().random_range(Duration::ZERO..=MAX_RA_DELAY);
                        let mut at = Instant::now() + delay;
                        let mut to = if src.ip().is_unspecified() { ALL_NODES } else { *src.ip() };
                        // A second host asking before the first is answered:
                        // one multicast answer serves both.
                        if let Some((pending, other)) = solicited {
                            at = at.min(pending);
                            if other != to {
                                to = ALL_NODES;
                            }
                        }
                        if to == ALL_NODES {
                            if let Some(last) = last_multicast {
                                at = at.max(last + MIN_DELAY_BETWEEN_RAS);
                            }
                        }
                        solicited = Some((at, to));
                    }
                }
                continue;
            }
        }
        let now = Instant::now();
        let to = match solicited {
            Some((at, to)) if at <= now => {
                solicited = None;
                to
            }
            _ if next <= now => {
                sent_initial += 1;
                next = now
                    + if sent_initial < INITIAL_COUNT {
                        INITIAL_INTERVAL.min(max)
                    } else {
                        rand::rng().random_range(max.mul_f64(0.33)..=max)
                    };
                ALL_NODES
            }
            _ => continue,
        };
        let Some(i) = iface::by_name(&iface_name) else { continue };
        let Some(advert) = advert_for(&state.snapshot(), &config, &i) else { continue };
        let dest = SocketAddrV6::new(to, 0, 0, i.index);
        match socket.send_to(&encode(&advert), dest).await {
            Ok(_) => {
                bump(&stats.ra_sent);
                if to == ALL_NODES {
                    last_multicast = Some(now);
                }
                tracing::debug!(iface = %iface_name, %to, prefix = ?advert.prefix, "router advertisement");
            }
            Err(e) => tracing::debug!(iface = %iface_name, error = %Report(&e), "router advertisement not sent"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn solicitations_from_off_the_link_or_malformed_are_ignored() {
        let link_local: Ipv6Addr = "fe80::1".parse().unwrap();
        let bare = [133u8, 0, 0, 0, 0, 0, 0, 0];
        let with_lladdr = [&bare[..], &[1, 1, 0x52, 0x54, 0, 0, 0, 1]].concat();
        assert_eq!(invalid_solicitation(&bare, &link_local, Some(255)), None);
        assert_eq!(invalid_solicitation(&with_lladdr, &link_local, Some(255)), None);
        assert_eq!(invalid_solicitation(&with_lladdr, &link_local, None), None, "the kernel did not say");
        assert_eq!(invalid_solicitation(&bare, &link_local, Some(64)), Some("hop_limit"));
        assert_eq!(
            invalid_solicitation(&with_lladdr, &Ipv6Addr::UNSPECIFIED, Some(255)),
            Some("unspecified_with_lladdr")
        );
        assert_eq!(invalid_solicitation(&bare, &Ipv6Addr::UNSPECIFIED, Some(255)), None);
        let zero_len = [&bare[..], &[1, 0, 0, 0, 0, 0, 0, 0]].concat();
        assert_eq!(invalid_solicitation(&zero_len, &link_local, Some(255)), Some("malformed"));
        let cut = [&bare[..], &[1, 2, 0, 0, 0, 0, 0, 0]].concat();
        assert_eq!(invalid_solicitation(&cut, &link_local, Some(255)), Some("malformed"));
    }

    #[test]
    fn the_advertisement_on_the_wire() {
        let a = Advert {
            prefix: Some("fd12:3456:789a:1::".parse().unwrap()),
            slaac: false,
            router: false,
            mtu: 1500,
            mac: Some(Mac([0x52, 0x54, 0, 0, 0, 1])),
            dns: Some(("fd12:3456:789a:1::1".parse().unwrap(), 1800)),
            domain: "lab.test".into(),
        };
        let b = encode(&a);
        assert_eq!(&b[..8], &[134, 0, 0, 0, 64, 0xc0, 0, 0], "M and O set, router lifetime 0");
        assert_eq!(&b[16..24], &[1, 1, 0x52, 0x54, 0, 0, 0, 1], "source link-layer address");
        assert_eq!(&b[24..32], &[5, 1, 0, 0, 0, 0, 0x05, 0xdc], "MTU");
        assert_eq!(&b[32..36], &[3, 4, 64, 0x80], "prefix on-link, not autonomous");
        assert_eq!(&b[48..64], &a.prefix.unwrap().octets());
        assert_eq!(&b[64..66], &[25, 3], "RDNSS with one server");
        assert_eq!(&b[88..90], &[31, 3], "DNSSL");
        assert_eq!(b.len(), 112);
        assert_eq!(b.len() % 8, 0);
        let slaac = encode(&Advert { slaac: true, router: true, dns: None, ..a.clone() });
        assert_eq!(&slaac[6..8], &ROUTER_LIFETIME.to_be_bytes());
        assert_eq!(slaac[35], 0xc0, "autonomous when the network asks for SLAAC");
        assert_eq!(slaac.len(), 64);
        // No prefix: no flags, no prefix option, nothing to configure.
        let none = encode(&Advert { prefix: None, dns: None, ..a });
        assert_eq!(&none[..8], &[134, 0, 0, 0, 64, 0, 0, 0]);
        assert_eq!(none.len(), 32, "header, link-layer address, MTU");
    }
}
