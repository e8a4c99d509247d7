//! Which zones Fulcrum is authoritative for, derived from the networks: a
//! forward zone per network domain, an in-addr.arpa zone per v4 subnet
//! (the subnet itself on an octet boundary, the covering /24s below one
//! octet, the covering /24 for a longer prefix), and an ip6.arpa zone per
//! v6 /64. The [`Catalog`] finds the zone a name is in (the longest apex
//! that is a suffix) and, for a reverse zone, the network behind it.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use ipnet::Ipv4Net;

use crate::inventory::network::Network;
use crate::state::World;

/// Most covering /24 zones one subnet is split into; a wider subnet that
/// is not on an octet boundary gets the covering shorter zone instead.
const MAX_SPLIT: u32 = 64;

/// What a zone holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum ZoneKind {
    /// Names in a domain: the nodes, the admin node, operator records.
    Forward,
    /// PTRs for v4 addresses inside `net`.
    ReverseV4 { net: Ipv4Net },
    /// PTRs for the /64 whose upper half is `prefix`.
    ReverseV6 { prefix: Ipv6Addr },
}

/// One zone: its apex (lower-case, no trailing dot) and what it holds.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Zone {
    pub(crate) apex: String,
    pub(crate) kind: ZoneKind,
    /// The networks behind it (for a forward zone, those with this domain).
    pub(crate) networks: Vec<Arc<Network>>,
}

impl Zone {
    /// The forward zone whose admin name is the zone's primary: for a
    /// forward zone itself, for a reverse zone its network's domain.
    pub(crate) fn primary_domain(&self) -> &str {
        match self.kind {
            ZoneKind::Forward => &self.apex,
            _ => self.networks.first().map_or(self.apex.as_str(), |n| n.domain.as_str()),
        }
    }

    /// Whether `name` is at or below the apex.
    pub(crate) fn contains(&self, name: &str) -> bool {
        in_zone(name, &self.apex)
    }
}

/// Whether `name` is `apex` or below it.
pub(crate) fn in_zone(name: &str, apex: &str) -> bool {
    name == apex
        || (name.len() > apex.len() && name.ends_with(apex) && name.as_bytes()[name.len() - apex.len() - 1] == b'.')
}

/// Every zone, longest apex first.
#[derive(Clone, Debug, Default)]
pub(crate) struct Catalog {
    zones: Vec<Zone>,
}

impl Catalog {
    /// The zones the world's networks make.
    pub(crate) fn of(world: &World) -> Catalog {
        let gid = world.global_id();
        let mut zones: Vec<Zone> = Vec::new();
        let mut add = |apex: String, kind: ZoneKind, net: &Arc<Network>| match zones.iter_mut().find(|z| z.apex == apex)
        {
            Some(z) => {
                if !z.networks.iter().any(|n| n.name == net.name) {
                    z.networks.push(net.clone());
                }
            }
            None => zones.push(Zone { apex, kind, networks: vec![net.clone()] }),
        };
        for net in world.table::<Network>().iter() {
            add(net.domain.clone(), ZoneKind::Forward, net);
            for v4 in reverse_v4_nets(net.subnet) {
                add(reverse_v4_apex(v4), ZoneKind::ReverseV4 { net: v4 }, net);
            }
            if let Some(prefix) = net.v6_prefix(gid) {
                add(reverse_v6_apex(prefix), ZoneKind::ReverseV6 { prefix }, net);
            }
        }
        zones.sort_by(|a, b| b.apex.len().cmp(&a.apex.len()).then_with(|| a.apex.cmp(&b.apex)));
        Catalog { zones }
    }

    /// The zone `name` is in.
    pub(crate) fn find(&self, name: &str) -> Option<&Zone> {
        self.zones.iter().find(|z| z.contains(name))
    }

    /// The zone whose apex is `apex`.
    pub(crate) fn get(&self, apex: &str) -> Option<&Zone> {
        self.zones.iter().find(|z| z.apex == apex)
    }

    /// Every zone.
    pub(crate) fn zones(&self) -> &[Zone] {
        &self.zones
    }
}

/// The reverse zones' networks for a v4 subnet: itself on an octet
/// boundary, else the covering /24s (or the one covering /24 of a longer
/// prefix), or the covering shorter zone when that would be too many.
pub(crate) fn reverse_v4_nets(subnet: Ipv4Net) -> Vec<Ipv4Net> {
    let len = u32::from(subnet.prefix_len());
    if len % 8 == 0 && len > 0 {
        return vec![subnet];
    }
    if len > 24 {
        return Ipv4Net::new(subnet.network(), 24).map(|n| vec![n.trunc()]).unwrap_or_default();
    }
    let up = len.div_ceil(8) * 8;
    if 1u32 << (up - len) <= MAX_SPLIT {
        // Each /up inside the subnet.
        let step = 1u32 << (32 - up);
        let first = u32::from(subnet.network());
        (0..1u32 << (up - len)).filter_map(|i| Ipv4Net::new(Ipv4Addr::from(first + i * step), up as u8).ok()).collect()
    } else {
        let down = (len / 8 * 8).max(8);
        Ipv4Net::new(subnet.network(), down as u8).map(|n| vec![n.trunc()]).unwrap_or_default()
    }
}

/// `10.1.168.192.in-addr.arpa`-style apex of an octet-aligned net.
pub(crate) fn reverse_v4_apex(net: Ipv4Net) -> String {
    let octets = net.network().octets();
    let n = usize::from(net.prefix_len() / 8);
    let mut parts: Vec<String> = octets[..n].iter().rev().map(u8::to_string).collect();
    parts.push("in-addr.arpa".into());
    parts.join(".")
}

/// The PTR owner name of a v4 address.
pub(crate) fn reverse_v4_name(ip: Ipv4Addr) -> String {
    let o = ip.octets();
    format!("{}.{}.{}.{}.in-addr.arpa", o[3], o[2], o[1], o[0])
}

/// The nibbles of the upper 64 bits of `prefix`, reversed, under ip6.arpa.
pub(crate) fn reverse_v6_apex(prefix: Ipv6Addr) -> String {
    let hi = (u128::from(prefix) >> 64) as u64;
    let mut s = String::with_capacity(16 * 2 + 8);
    for i in 0..16 {
        let nib = (hi >> (i * 4)) & 0xf;
        s.push(char::from_digit(nib as u32, 16).unwrap_or('0'));
        s.push('.');
    }
    s.push_str("ip6.arpa");
    s
}

/// The PTR owner name of a v6 address.
pub(crate) fn reverse_v6_name(ip: Ipv6Addr) -> String {
    let v = u128::from(ip);
    let mut s = String::with_capacity(32 * 2 + 8);
    for i in 0..32 {
        let nib = (v >> (i * 4)) & 0xf;
        s.push(char::from_digit(nib as u32, 16).unwrap_or('0'));
        s.push('.');
    }
    s.push_str("ip6.arpa");
    s
}

/// The labels of `name` in front of `apex` (`name` must be in the zone),
/// nearest the apex first.
pub(crate) fn labels_below<'n>(name: &'n str, apex: &str) -> Vec<&'n str> {
    if name.len() <= apex.len() {
        return Vec::new();
    }
    name[..name.len() - apex.len() - 1].rsplit('.').collect()
}

/// A reverse v4 name's address, or how many leading octets it names (an
/// empty non-terminal): `(value, octets)` with the octets given in order.
pub(crate) fn parse_reverse_v4(name: &str) -> Option<(u32, usize)> {
    let apex = "in-addr.arpa";
    if !in_zone(name, apex) {
        return None;
    }
    let labels = labels_below(name, apex);
    if labels.len() > 4 {
        return None;
    }
    let mut v = 0u32;
    for l in &labels {
        // Decimal octets only, no leading zeros.
        if l.is_empty() || l.len() > 3 || (l.len() > 1 && l.starts_with('0')) {
            return None;
        }
        let o: u8 = l.parse().ok()?;
        v = (v << 8) | u32::from(o);
    }
    Some((v, labels.len()))
}

/// A reverse v6 name's nibbles: `(value, nibbles)`, most significant first.
pub(crate) fn parse_reverse_v6(name: &str) -> Option<(u128, usize)> {
    let apex = "ip6.arpa";
    if !in_zone(name, apex) {
        return None;
    }
    let labels = labels_below(name, apex);
    if labels.len() > 32 {
        return None;
    }
    let mut v = 0u128;
    for l in &labels {
        let mut c = l.chars();
        let (Some(d), None) = (c.next(), c.next()) else { return None };
        v = (v << 4) | u128::from(d.to_digit(16)?);
    }
    Some((v, labels.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reverse_zones_follow_octet_boundaries() {
        let n = |s: &str| s.parse::<Ipv4Net>().unwrap();
        assert_eq!(reverse_v4_nets(n("192.168.1.0/24")), vec![n("192.168.1.0/24")]);
        assert_eq!(reverse_v4_nets(n("10.0.0.0/16")), vec![n("10.0.0.0/16")]);
        assert_eq!(reverse_v4_nets(n("192.168.1.64/26")), vec![n("192.168.1.0/24")]);
        let split = reverse_v4_nets(n("10.1.0.0/22"));
        assert_eq!(split.len(), 4);
        assert_eq!(split[3], n("10.1.3.0/24"));
        assert_eq!(reverse_v4_nets(n("10.0.0.0/9")), vec![n("10.0.0.0/8")]);
        assert_eq!(reverse_v4_apex(n("192.168.1.0/24")), "1.168.192.in-addr.arpa");
        assert_eq!(reverse_v4_name("192.168.1.7".parse().unwrap()), "7.1.168.192.in-addr.arpa");
    }

    #[test]
    fn reverse_names_parse_back() {
        assert_eq!(parse_reverse_v4("7.1.168.192.in-addr.arpa"), Some((0xc0a8_0107, 4)));
        assert_eq!(parse_reverse_v4("168.192.in-addr.arpa"), Some((0xc0a8, 2)));
        assert_eq!(parse_reverse_v4("07.1.168.192.in-addr.arpa"), None);
        assert_eq!(parse_reverse_v4("256.1.168.192.in-addr.arpa"), None);
        let ip: Ipv6Addr = "fd12:3456:789a:1:7264:46a8:b448:1fa".parse().unwrap();
        assert_eq!(parse_reverse_v6(&reverse_v6_name(ip)), Some((u128::from(ip), 32)));
        assert_eq!(reverse_v6_apex("fd12:3456:789a:1::".parse().unwrap()), "1.0.0.0.a.9.8.7.6.5.4.3.2.1.d.f.ip6.arpa");
        assert!(in_zone("a.example.com", "example.com"));
        assert!(!in_zone("aexample.com", "example.com"));
    }
}
