//! What Fulcrum's zones hold at a name, read straight from one snapshot:
//! the SOA and NS at each apex, the admin node's A record, each node's A
//! and AAAA (prefix + md5(FQDN) tail, `net::ula`), the PTRs for every
//! node address and the admin node's, and the operator records. The same
//! functions answer queries, fill zone transfers and `fulcrum dns show`,
//! so none of them can disagree with another.

use std::collections::HashMap;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use hickory_proto::rr::rdata::{A, AAAA, CNAME, MX, NS, PTR, SOA, SRV, TXT};
use hickory_proto::rr::{Name, RData, Record, RecordType};

use super::records::{DnsRecord, RecordData};
use super::serial;
use super::zones::{
    in_zone, parse_reverse_v4, parse_reverse_v6, reverse_v4_name, reverse_v6_name, Catalog, Zone, ZoneKind,
};
use crate::inventory::network::Network;
use crate::inventory::node::Node;
use crate::state::World;

/// SOA timers (seconds): refresh, retry, expire.
const SOA_REFRESH: i32 = 3600;
const SOA_RETRY: i32 = 600;
const SOA_EXPIRE: i32 = 1_209_600;

/// What every answer is made with.
#[derive(Clone, Debug)]
pub(crate) struct Settings {
    pub(crate) ttl: u32,
    pub(crate) admin_name: String,
    pub(crate) hostmaster: String,
}

/// The zones and the admin node's addresses, for one version of the
/// networks.
#[derive(Clone, Debug, Default)]
pub(crate) struct Layout {
    pub(crate) catalog: Catalog,
    /// The admin node's v4 address on each network, by network name.
    pub(crate) admin: HashMap<String, Ipv4Addr>,
}

impl Layout {
    /// The zones of `w`; the admin node's address on a network is its
    /// `server`, or the host's own address inside the subnet.
    pub(crate) fn of(w: &World, host: &[Ipv4Addr]) -> Layout {
        let mut admin = HashMap::new();
        for net in w.table::<Network>().iter() {
            if let Some(ip) = net.server.or_else(|| host.iter().copied().find(|ip| net.subnet.contains(ip))) {
                admin.insert(net.name.clone(), ip);
            }
        }
        Layout { catalog: Catalog::of(w), admin }
    }
}

/// One snapshot, read as DNS.
pub(crate) struct View<'a> {
    pub(crate) world: &'a World,
    pub(crate) layout: &'a Layout,
    pub(crate) settings: &'a Settings,
}

/// What is at a name.
#[derive(Debug)]
pub(crate) enum Found {
    /// The name has these records (every type).
    Records(Vec<Record>),
    /// The name has nothing, but names below it exist (NODATA for any type).
    EmptyNonTerminal,
    /// No such name (NXDOMAIN).
    Missing,
}

/// A lower-case name without the trailing dot as a DNS name. Every name
/// given here was checked when it was stored.
pub(crate) fn dns_name(s: &str) -> Name {
    Name::from_ascii(format!("{s}.")).unwrap_or_else(|_| Name::root())
}

impl View<'_> {
    fn record(&self, name: &str, ttl: Option<u32>, data: RData) -> Record {
        Record::from_rdata(dns_name(name), ttl.unwrap_or(self.settings.ttl), data)
    }

    /// `admin.<domain>`: the admin node's name in a forward zone.
    pub(crate) fn admin_fqdn(&self, domain: &str) -> String {
        format!("{}.{domain}", self.settings.admin_name)
    }

    /// The zone's SOA record.
    pub(crate) fn soa(&self, zone: &Zone) -> Record {
        let primary = self.admin_fqdn(zone.primary_domain());
        let rname = if self.settings.hostmaster.contains('.') {
            self.settings.hostmaster.clone()
        } else {
            format!("{}.{}", self.settings.hostmaster, zone.primary_domain())
        };
        let soa = SOA::new(
            dns_name(&primary),
            dns_name(&rname),
            serial::of(self.world, &zone.apex),
            SOA_REFRESH,
            SOA_RETRY,
            SOA_EXPIRE,
            self.settings.ttl,
        );
        self.record(&zone.apex, None, RData::SOA(soa))
    }

    /// The TTL of a negative answer (RFC 2308: the SOA's minimum).
    pub(crate) fn negative_soa(&self, zone: &Zone) -> Record {
        self.soa(zone)
    }

    fn ns(&self, zone: &Zone) -> Record {
        self.record(&zone.apex, None, RData::NS(NS(dns_name(&self.admin_fqdn(zone.primary_domain())))))
    }

    /// The admin node's addresses on the networks of a forward zone.
    fn admin_addrs<'z>(&'z self, zone: &'z Zone) -> impl Iterator<Item = Ipv4Addr> + 'z {
        zone.networks.iter().filter_map(|n| self.layout.admin.get(&n.name).copied())
    }

    /// The node's records at its own name (A, AAAA).
    fn node_records(&self, node: &Node, out: &mut Vec<Record>) {
        if let Some(ip) = node.ipv4 {
            out.push(self.record(&node.name, None, RData::A(A(ip))));
        }
        if let Some(ip) = node.ipv6(self.world) {
            out.push(self.record(&node.name, None, RData::AAAA(AAAA(ip))));
        }
    }

    fn operator_record(&self, r: &DnsRecord) -> Record {
        let data = match &r.data {
            RecordData::A { address } => RData::A(A(*address)),
            RecordData::Aaaa { address } => RData::AAAA(AAAA(*address)),
            RecordData::Cname { target } => RData::CNAME(CNAME(dns_name(target))),
            RecordData::Srv { priority, weight, port, target } => {
                RData::SRV(SRV::new(*priority, *weight, *port, dns_name(target)))
            }
            RecordData::Txt { text } => RData::TXT(TXT::new(text.clone())),
            RecordData::Mx { preference, exchange } => RData::MX(MX::new(*preference, dns_name(exchange))),
        };
        self.record(&r.name, r.ttl, data)
    }

    /// An alias someone added before a node or the admin node took the
    /// name: their own records win (a CNAME cannot sit beside them).
    fn hidden(r: &DnsRecord, name_has_own_records: bool) -> bool {
        name_has_own_records && matches!(r.data, RecordData::Cname { .. })
    }

    /// The node named `name`, if its records live in `zone`.
    fn node_in<'w>(&'w self, zone: &Zone, name: &str) -> Option<&'w Arc<Node>> {
        let node = self.world.table::<Node>().get(name)?;
        // A node's records live in the deepest zone that holds its name.
        (self.layout.catalog.find(name).map(|z| &z.apex) == Some(&zone.apex)).then_some(node)
    }

    /// Everything at `name` in `zone` (`name` must be in it).
    pub(crate) fn at(&self, zone: &Zone, name: &str) -> Found {
        match &zone.kind {
            ZoneKind::Forward => self.forward_at(zone, name),
            ZoneKind::ReverseV4 { net } => self.reverse_v4_at(zone, *net, name),
            ZoneKind::ReverseV6 { prefix } => self.reverse_v6_at(zone, *prefix, name),
        }
    }

    fn forward_at(&self, zone: &Zone, name: &str) -> Found {
        let mut out = Vec::new();
        if name == zone.apex {
            out.push(self.soa(zone));
            out.push(self.ns(zone));
        }
        let is_admin = name == self.admin_fqdn(&zone.apex);
        if is_admin {
            for ip in self.admin_addrs(zone) {
                out.push(self.record(name, None, RData::A(A(ip))));
            }
        }
        let node = if is_admin { None } else { self.node_in(zone, name) };
        if let Some(node) = node {
            self.node_records(node, &mut out);
        }
        let records = self.world.table::<DnsRecord>();
        let own = !out.is_empty();
        for r in records.at(name) {
            if !Self::hidden(r, own) {
                out.push(self.operator_record(r));
            }
        }
        if !out.is_empty() {
            return Found::Records(out);
        }
        let below = self.world.table::<Node>().any_below(name)
            || records.any_below(name)
            || in_zone(&self.admin_fqdn(&zone.apex), name);
        if below {
            Found::EmptyNonTerminal
        } else {
            Found::Missing
        }
    }

    fn reverse_v4_at(&self, zone: &Zone, net: ipnet::Ipv4Net, name: &str) -> Found {
        let mut out = Vec::new();
        if name == zone.apex {
            out.push(self.soa(zone));
            out.push(self.ns(zone));
            return Found::Records(out);
        }
        let Some((value, octets)) = parse_reverse_v4(name) else { return Found::Missing };
        let shift = 32 - 8 * octets as u32;
        let lo = Ipv4Addr::from(value.checked_shl(shift).unwrap_or(0));
        let hi = Ipv4Addr::from(u32::from(lo) | (u32::MAX.checked_shr(8 * octets as u32).unwrap_or(0)));
        let overlaps = net.contains(&lo) || net.contains(&hi) || (net.network() >= lo && net.broadcast() <= hi);
        if !overlaps {
            return Found::Missing;
        }
        let admin: Vec<(Ipv4Addr, &str)> = zone
            .networks
            .iter()
            .filter_map(|n| self.layout.admin.get(&n.name).map(|ip| (*ip, n.domain.as_str())))
            .collect();
        if octets == 4 {
            let ip = lo;
            if let Some((_, domain)) = admin.iter().find(|(a, _)| *a == ip) {
                out.push(self.record(name, None, RData::PTR(PTR(dns_name(&self.admin_fqdn(domain))))));
            } else if let Some(node) = self.world.table::<Node>().by_ip(ip) {
                out.push(self.record(name, None, RData::PTR(PTR(dns_name(&node.name)))));
            }
            return if out.is_empty() { Found::Missing } else { Found::Records(out) };
        }
        let any = self.world.table::<Node>().any_ip_in(lo, hi) || admin.iter().any(|(a, _)| (lo..=hi).contains(a));
        if any {
            Found::EmptyNonTerminal
        } else {
            Found::Missing
        }
    }

    /// The node whose address on the /64 `prefix` is `ip`.
    fn node_at_v6(&self, ip: Ipv6Addr) -> Option<&Arc<Node>> {
        let node = self.world.table::<Node>().by_interface_id(u128::from(ip) as u64)?;
        (node.ipv6(self.world) == Some(ip)).then_some(node)
    }

    fn reverse_v6_at(&self, zone: &Zone, prefix: Ipv6Addr, name: &str) -> Found {
        if name == zone.apex {
            return Found::Records(vec![self.soa(zone), self.ns(zone)]);
        }
        let Some((value, nibbles)) = parse_reverse_v6(name) else { return Found::Missing };
        if nibbles <= 16 {
            return Found::Missing;
        }
        if nibbles == 32 {
            let ip = Ipv6Addr::from(value);
            return match self.node_at_v6(ip) {
                Some(node) => Found::Records(vec![self.record(name, None, RData::PTR(PTR(dns_name(&node.name))))]),
                None => Found::Missing,
            };
        }
        // Some interface IDs start with these nibbles, on a node of this prefix?
        let known = (nibbles - 16) as u32;
        let head = (value as u64) << (64 - 4 * known);
        let hi = head | (u64::MAX >> (4 * known));
        let upper = u128::from(prefix) >> 64;
        let any = self
            .world
            .table::<Node>()
            .with_interface_id_in(head, hi)
            .any(|n| n.ipv6(self.world).is_some_and(|ip| u128::from(ip) >> 64 == upper));
        if any {
            Found::EmptyNonTerminal
        } else {
            Found::Missing
        }
    }

    /// Every record of `zone`, its SOA first (not repeated at the end).
    pub(crate) fn zone_records(&self, zone: &Zone) -> Vec<Record> {
        let mut out = vec![self.soa(zone), self.ns(zone)];
        match &zone.kind {
            ZoneKind::Forward => {
                let admin = self.admin_fqdn(&zone.apex);
                for ip in self.admin_addrs(zone) {
                    out.push(self.record(&admin, None, RData::A(A(ip))));
                }
                for node in self.world.table::<Node>().iter() {
                    if node.name != admin && in_zone(&node.name, &zone.apex) && self.node_in(zone, &node.name).is_some()
                    {
                        self.node_records(node, &mut out);
                    }
                }
                for r in self.world.table::<DnsRecord>().iter() {
                    if self.layout.catalog.find(&r.name).map(|z| &z.apex) != Some(&zone.apex) {
                        continue;
                    }
                    let own = r.name == zone.apex || r.name == admin || self.node_in(zone, &r.name).is_some();
                    if !Self::hidden(r, own) {
                        out.push(self.operator_record(r));
                    }
                }
            }
            ZoneKind::ReverseV4 { net } => {
                let mut admin_ips = Vec::new();
                for n in &zone.networks {
                    if let Some(ip) = self.layout.admin.get(&n.name).filter(|ip| net.contains(*ip)) {
                        admin_ips.push(*ip);
                        out.push(self.record(
                            &reverse_v4_name(*ip),
                            None,
                            RData::PTR(PTR(dns_name(&self.admin_fqdn(&n.domain)))),
                        ));
                    }
                }
                for node in self.world.table::<Node>().iter() {
                    if let Some(ip) = node.ipv4.filter(|ip| net.contains(ip) && !admin_ips.contains(ip)) {
                        out.push(self.record(&reverse_v4_name(ip), None, RData::PTR(PTR(dns_name(&node.name)))));
                    }
                }
            }
            ZoneKind::ReverseV6 { prefix } => {
                let upper = u128::from(*prefix) >> 64;
                for node in self.world.table::<Node>().iter() {
                    if let Some(ip) = node.ipv6(self.world).filter(|ip| u128::from(*ip) >> 64 == upper) {
                        out.push(self.record(&reverse_v6_name(ip), None, RData::PTR(PTR(dns_name(&node.name)))));
                    }
                }
            }
        }
        out
    }

    /// The record types that need addresses of their targets in the
    /// additional section: the names to look up.
    pub(crate) fn glue_targets(records: &[Record]) -> Vec<Name> {
        records
            .iter()
            .filter_map(|r| match &r.data {
                RData::NS(ns) => Some(ns.0.clone()),
                RData::MX(mx) => Some(mx.exchange.clone()),
                RData::SRV(srv) => Some(srv.target.clone()),
                _ => None,
            })
            .collect()
    }

    /// The A and AAAA records of `name`, if it is in one of the zones.
    pub(crate) fn addresses_of(&self, name: &str) -> Vec<Record> {
        let Some(zone) = self.layout.catalog.find(name) else { return Vec::new() };
        match self.at(zone, name) {
            Found::Records(rs) => {
                rs.into_iter().filter(|r| matches!(r.record_type(), RecordType::A | RecordType::AAAA)).collect()
            }
            _ => Vec::new(),
        }
    }
}
