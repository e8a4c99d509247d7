//! Networks: the L2 segments Fulcrum serves. The record and its IPv6
//! prefix setting, the rules a network must satisfy (ranges inside the
//! subnet, no overlaps, a valid domain...), lookups (by address, by a
//! node's domain, the only network), and the create / update / delete
//! operations. A network in use by a node cannot be deleted.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::str::FromStr;
use std::sync::Arc;

use imbl::HashMap;
use ipnet::{Ipv4Net, Ipv6Net};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::error::InventoryError;
use super::node::Node;
use crate::net::{alloc, ula};
use crate::state::{record, Index, Record, Table, Txn};
use crate::types::field::FieldError;
use crate::types::field::Refuse;
use crate::types::global_id::GlobalId;
use crate::types::names;
use crate::types::range::Range;

/// Lease time of a network created without one.
const DEFAULT_LEASE_SECONDS: u32 = 3600;
/// MTU of a network created without one.
const DEFAULT_MTU: u16 = 1500;

/// A network's IPv6 prefix setting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum V6Prefix {
    /// `fd` + the cluster's Global ID + the network's 16-bit id.
    Auto,
    /// An operator-chosen /64.
    Explicit(Ipv6Net),
}

/// A `v6prefix` that is neither `auto` nor a /64.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum V6PrefixError {
    #[error("`{0}` is neither \"auto\" nor an IPv6 prefix like fd00:1::/64")]
    NotAPrefix(String),
    #[error("`{0}` must be a /64")]
    NotA64(String),
}

impl FromStr for V6Prefix {
    type Err = V6PrefixError;
    fn from_str(s: &str) -> Result<Self, V6PrefixError> {
        if s == "auto" {
            return Ok(V6Prefix::Auto);
        }
        let net: Ipv6Net = s.parse().map_err(|_| V6PrefixError::NotAPrefix(s.to_string()))?;
        if net.prefix_len() != 64 {
            return Err(V6PrefixError::NotA64(s.to_string()));
        }
        Ok(V6Prefix::Explicit(net.trunc()))
    }
}

impl fmt::Display for V6Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            V6Prefix::Auto => f.write_str("auto"),
            V6Prefix::Explicit(n) => write!(f, "{n}"),
        }
    }
}

impl Serialize for V6Prefix {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for V6Prefix {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?.parse().map_err(serde::de::Error::custom)
    }
}

/// What a network does for a client that is no node.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum UnknownClients {
    /// Addresses from the dynamic range for anyone (and the discovery boot
    /// for network-boot firmware).
    #[default]
    Serve,
    /// Only network-boot firmware (PXE, iPXE, UEFI HTTP boot) and the
    /// discovery agent (vendor or user class `fulcrum-discovery`) are
    /// answered: a stranger can be discovered, nothing else gets an address.
    Discovery,
    /// Only nodes are answered.
    Ignore,
}

fn yes() -> bool {
    true
}

/// Who hands out IPv4 addresses on a network.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum DhcpMode {
    /// Fulcrum: addresses, leases and boot answers.
    #[default]
    Full,
    /// Another DHCP server owns the addresses; Fulcrum answers network-boot
    /// clients with the boot part only (proxyDHCP: no address, no lease),
    /// on port 67 and as a PXE boot server on 4011, and serves no DHCPv6
    /// or router advertisements there.
    Proxy,
}

/// Whether Fulcrum sends router advertisements on a network with an
/// IPv6 prefix, and as what.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum RaMode {
    /// A site router already sends them.
    Off,
    /// Sent, with router lifetime 0: hosts learn the prefix and to use
    /// DHCPv6, not a default route.
    #[default]
    On,
    /// Sent as the segment's IPv6 default router.
    Router,
}

/// An L2 segment Fulcrum serves: v4 subnet and ranges, DNS domain,
/// optional IPv6 prefix.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub(crate) struct Network {
    #[schema(pattern = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")]
    pub(crate) name: String,
    /// Small stable number; the 16-bit subnet ID of an `auto` v6 prefix.
    pub(crate) id: u16,
    pub(crate) subnet: Ipv4Net,
    pub(crate) router: Option<Ipv4Addr>,
    /// Addresses for unknown clients (dynamic leases).
    pub(crate) dynamic: Option<Range>,
    /// Addresses handed to registered nodes, one each, for good.
    #[serde(rename = "static")]
    pub(crate) static_range: Range,
    #[schema(pattern = r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$")]
    pub(crate) domain: String,
    #[serde(default)]
    pub(crate) dns_servers: Vec<Ipv4Addr>,
    pub(crate) v6prefix: Option<V6Prefix>,
    /// Router advertisements on this segment (when it has a v6 prefix).
    #[serde(default)]
    pub(crate) ra: RaMode,
    /// Whether hosts may also configure addresses themselves (SLAAC: the
    /// prefix is advertised autonomous). Off: addresses come from DHCPv6.
    #[serde(default)]
    pub(crate) slaac: bool,
    /// Whether Fulcrum owns the addressing here (RFC 2131 4.3.2): a REQUEST
    /// for an address it has no record of is answered (ACK or NAK) rather
    /// than left to another server.
    #[serde(default = "yes")]
    pub(crate) authoritative: bool,
    /// What clients that are no node get (DHCPv4 and DHCPv6).
    #[serde(default)]
    pub(crate) unknown_clients: UnknownClients,
    /// Whether Fulcrum or another DHCP server hands out addresses here.
    #[serde(default)]
    pub(crate) dhcp: DhcpMode,
    /// The x64 UEFI loader here instead of `dhcp.uefi_x64_loader` (say
    /// `ipxe.efi`, with its own NIC drivers, where a firmware's SNP is poor).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) uefi_loader: Option<String>,
    /// The BIOS loader here instead of `dhcp.bios_loader` (say
    /// `lpxelinux.0`, whose config Fulcrum renders from the bootenv).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) bios_loader: Option<String>,
    /// The admin node's interface on this segment (DHCP replies go out there).
    pub(crate) interface: Option<String>,
    /// The admin node's own address on this segment: next-server, option
    /// 54 and the host of boot URLs. Found from the interfaces when unset.
    pub(crate) server: Option<Ipv4Addr>,
    pub(crate) lease_seconds: u32,
    pub(crate) mtu: u16,
}

impl Network {
    /// The network's /64, if it has IPv6.
    pub(crate) fn v6_prefix(&self, gid: GlobalId) -> Option<Ipv6Addr> {
        match self.v6prefix? {
            V6Prefix::Auto => Some(ula::auto_prefix(gid, self.id)),
            V6Prefix::Explicit(net) => Some(net.network()),
        }
    }

    /// A node's IPv6 address on this network: prefix + md5(FQDN) tail.
    pub(crate) fn v6_address(&self, gid: GlobalId, fqdn: &str) -> Option<Ipv6Addr> {
        self.v6_prefix(gid).map(|p| ula::node_address(p, fqdn))
    }

    /// Whether `ip` can be handed out at all: inside the subnet, not the
    /// network or broadcast address, not the router, not the admin node.
    pub(crate) fn assignable(&self, ip: Ipv4Addr) -> bool {
        self.subnet.contains(&ip)
            && ip != self.subnet.network()
            && ip != self.subnet.broadcast()
            && Some(ip) != self.router
            && Some(ip) != self.server
    }

    fn check_range(&self, field: &str, r: &Range) -> Result<(), FieldError> {
        r.check(field)?;
        for (end, ip) in [("start", r.start), ("end", r.end)] {
            if !self.assignable(ip) {
                return Err(FieldError::new(
                    format!("{field}.{end}"),
                    format!(
                        "{ip} is not a usable host address of {} (network, broadcast, router or server)",
                        self.subnet
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Checks the network's own consistency, naming the field at fault.
    /// (Its name is checked once, at creation: a network kept from an
    /// older, looser rule can still be changed.)
    pub(crate) fn check(&self) -> Result<(), FieldError> {
        if self.subnet.prefix_len() > 30 {
            return Err(FieldError::new("subnet", format!("{} is too small; use /30 or larger", self.subnet)));
        }
        if self.subnet.network() != self.subnet.addr() {
            return Err(FieldError::new(
                "subnet",
                format!("{} has host bits set; did you mean {}?", self.subnet, self.subnet.trunc()),
            ));
        }
        if let Some(r) = self.router {
            if !self.subnet.contains(&r) || r == self.subnet.network() || r == self.subnet.broadcast() {
                return Err(FieldError::new("router", format!("{r} is not a host address of {}", self.subnet)));
            }
        }
        self.check_range("static", &self.static_range)?;
        if self.dhcp == DhcpMode::Proxy && self.dynamic.is_some() {
            return Err(FieldError::new(
                "dynamic",
                "a proxy network hands out no addresses (the site's DHCP server does): leave `dynamic` out",
            ));
        }
        if let Some(d) = &self.dynamic {
            self.check_range("dynamic", d)?;
            if d.overlaps(&self.static_range) {
                return Err(FieldError::new("dynamic", "dynamic and static ranges overlap"));
            }
        }
        names::check_domain("domain", &self.domain)?;
        if self.lease_seconds < 60 {
            return Err(FieldError::new("lease_seconds", "must be at least 60"));
        }
        if !(576..=9216).contains(&self.mtu) {
            return Err(FieldError::new("mtu", format!("{} is outside 576..=9216", self.mtu)));
        }
        if let Some(i) = &self.interface {
            names::check_interface("interface", i)?;
        }
        if let Some(l) = &self.uefi_loader {
            names::check_loader("uefi_loader", l)?;
        }
        if let Some(l) = &self.bios_loader {
            names::check_loader("bios_loader", l)?;
        }
        Ok(())
    }
}

/// In-memory bookkeeping over networks: where the next static-address
/// search starts on each (not persisted: after a restart a search starts
/// at the range's beginning once).
#[derive(Clone, Default)]
pub(crate) struct NetworkIndex {
    static_cursor: HashMap<String, Ipv4Addr>,
}

impl Index<Network> for NetworkIndex {
    fn inserted(&mut self, _: Option<&Network>, _: &Network) {}
    fn removed(&mut self, old: &Network) {
        self.static_cursor.remove(&old.name);
    }
}

impl NetworkIndex {
    /// Where the next static-address search on `network` starts.
    pub(crate) fn static_cursor(&self, network: &str) -> Option<Ipv4Addr> {
        self.static_cursor.get(network).copied()
    }

    /// `ip` was just allocated on `network`.
    pub(crate) fn advance(&mut self, network: &str, ip: Ipv4Addr) {
        self.static_cursor.insert(network.to_string(), alloc::cursor_after(ip));
    }
}

record!(Network, kind = "network", table = "networks", key = name: String, index = NetworkIndex);

impl Table<Network> {
    /// The network whose subnet holds `ip`.
    pub(crate) fn containing(&self, ip: Ipv4Addr) -> Option<&Arc<Network>> {
        self.iter().find(|n| n.subnet.contains(&ip))
    }

    /// The only network, when there is exactly one: the fallback wherever
    /// nothing else says which network is meant.
    pub(crate) fn sole(&self) -> Option<&Arc<Network>> {
        match self.len() {
            1 => self.iter().next(),
            _ => None,
        }
    }

    /// The network whose domain `fqdn` is in (the longest such domain).
    pub(crate) fn for_fqdn(&self, fqdn: &str) -> Option<&Arc<Network>> {
        self.iter()
            .filter(|n| fqdn.strip_suffix(n.domain.as_str()).is_some_and(|host| host.ends_with('.')))
            .max_by_key(|n| n.domain.len())
    }

    /// Whether `client` may use the machine-facing services: loopback (the
    /// admin node), an address in a served network's subnet or /64 (`gid`
    /// works out `auto` prefixes), or in `extra`.
    pub(crate) fn serves_client(&self, gid: GlobalId, client: std::net::IpAddr, extra: &[ipnet::IpNet]) -> bool {
        let client = match client {
            std::net::IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(std::net::IpAddr::V6(v6), std::net::IpAddr::V4),
            v4 => v4,
        };
        let in_network = match client {
            std::net::IpAddr::V4(v4) => self.containing(v4).is_some(),
            std::net::IpAddr::V6(v6) => {
                self.iter().any(|n| n.v6_prefix(gid).is_some_and(|p| u128::from(p) >> 64 == u128::from(v6) >> 64))
            }
        };
        client.is_loopback() || in_network || extra.iter().any(|n| n.contains(&client))
    }

    /// The network served on interface `iface`.
    pub(crate) fn on_interface(&self, iface: &str) -> Option<&Arc<Network>> {
        self.iter().find(|n| n.interface.as_deref() == Some(iface))
    }

    fn next_id(&self) -> u16 {
        self.iter().map(|n| n.id).max().map_or(1, |m| m.wrapping_add(1).max(1))
    }
}

/// What creating a network takes.
#[derive(Debug, Clone)]
pub(crate) struct NetworkSpec {
    pub(crate) name: String,
    pub(crate) subnet: Ipv4Net,
    pub(crate) router: Option<Ipv4Addr>,
    pub(crate) dynamic: Option<Range>,
    pub(crate) static_range: Range,
    pub(crate) domain: String,
    pub(crate) dns_servers: Vec<Ipv4Addr>,
    pub(crate) v6prefix: Option<V6Prefix>,
    pub(crate) ra: Option<RaMode>,
    pub(crate) slaac: Option<bool>,
    pub(crate) authoritative: Option<bool>,
    pub(crate) unknown_clients: Option<UnknownClients>,
    pub(crate) dhcp: Option<DhcpMode>,
    pub(crate) uefi_loader: Option<String>,
    pub(crate) bios_loader: Option<String>,
    pub(crate) interface: Option<String>,
    pub(crate) server: Option<Ipv4Addr>,
    pub(crate) lease_seconds: Option<u32>,
    pub(crate) mtu: Option<u16>,
}

/// A change to one of the settings of a network that can change without
/// renumbering its nodes.
#[derive(Debug, Clone)]
pub(crate) enum NetworkChange {
    Router(Ipv4Addr),
    /// A dynamic range, or none.
    Dynamic(Option<Range>),
    DnsServers(Vec<Ipv4Addr>),
    Interface(String),
    Server(Ipv4Addr),
    LeaseSeconds(u32),
    Mtu(u16),
    Ra(RaMode),
    Slaac(bool),
    Authoritative(bool),
    UnknownClients(UnknownClients),
    Dhcp(DhcpMode),
    /// The network's own x64 UEFI loader, or the configured one.
    UefiLoader(Option<String>),
    BiosLoader(Option<String>),
}

/// Stores a network that passed its checks, refusing one whose subnet
/// overlaps another's or whose id is taken.
fn put(txn: &mut Txn<'_>, net: Network) -> Result<Arc<Network>, InventoryError> {
    net.check()?;
    let nets = txn.world().table::<Network>();
    let overlapping = nets.iter().find(|n| {
        n.name != net.name && (n.subnet.contains(&net.subnet.network()) || net.subnet.contains(&n.subnet.network()))
    });
    if let Some(other) = overlapping {
        return Err(InventoryError::conflict(
            "subnet",
            format!("{} overlaps network `{}` ({})", net.subnet, other.name, other.subnet),
        ));
    }
    if let Some(other) = nets.iter().find(|n| n.name != net.name && n.id == net.id) {
        return Err(InventoryError::conflict("id", format!("network id {} is used by `{}`", net.id, other.name)));
    }
    Ok(txn.put(net)?)
}

/// Creates a network.
pub(crate) fn create(txn: &mut Txn<'_>, spec: NetworkSpec) -> Result<Arc<Network>, InventoryError> {
    names::check_name("name", &spec.name)?;
    let nets = txn.world().table::<Network>();
    if nets.contains(&spec.name) {
        return Err(InventoryError::conflict("name", format!("network `{}` already exists", spec.name)));
    }
    let net = Network {
        id: nets.next_id(),
        name: spec.name,
        subnet: spec.subnet,
        router: spec.router,
        dynamic: spec.dynamic,
        static_range: spec.static_range,
        domain: spec.domain.trim_end_matches('.').to_ascii_lowercase(),
        dns_servers: spec.dns_servers,
        v6prefix: spec.v6prefix,
        ra: spec.ra.unwrap_or_default(),
        slaac: spec.slaac.unwrap_or(false),
        authoritative: spec.authoritative.unwrap_or(true),
        unknown_clients: spec.unknown_clients.unwrap_or_default(),
        dhcp: spec.dhcp.unwrap_or_default(),
        uefi_loader: spec.uefi_loader,
        bios_loader: spec.bios_loader,
        interface: spec.interface,
        server: spec.server,
        lease_seconds: spec.lease_seconds.unwrap_or(DEFAULT_LEASE_SECONDS),
        mtu: spec.mtu.unwrap_or(DEFAULT_MTU),
    };
    put(txn, net)
}

impl Network {
    /// The BIOS loader chosen for `node` (or a stranger) on this network:
    /// the node's, else this network's. None when neither chose one, or for
    /// a protected node: those get the configured loader (`dhcp.bios_loader`).
    pub(crate) fn chosen_bios_loader<'a>(&'a self, node: Option<&'a super::node::Node>) -> Option<&'a str> {
        if node.is_some_and(|n| n.protected) {
            return None;
        }
        node.and_then(|n| n.bios_loader.as_deref()).or(self.bios_loader.as_deref())
    }
}

/// Changes a network's settings (all of them, or none if the result
/// breaks a rule).
pub(crate) fn update(
    txn: &mut Txn<'_>,
    name: &str,
    changes: Vec<NetworkChange>,
) -> Result<Arc<Network>, InventoryError> {
    let mut net = txn
        .world()
        .table::<Network>()
        .get(name)
        .map(|n| (**n).clone())
        .ok_or_else(|| InventoryError::not_found(Network::KIND, name))?;
    for change in changes {
        match change {
            NetworkChange::Router(r) => net.router = Some(r),
            NetworkChange::Dynamic(d) => net.dynamic = d,
            NetworkChange::DnsServers(d) => net.dns_servers = d,
            NetworkChange::Interface(i) => net.interface = Some(i),
            NetworkChange::Server(s) => net.server = Some(s),
            NetworkChange::LeaseSeconds(l) => net.lease_seconds = l,
            NetworkChange::Mtu(m) => net.mtu = m,
            NetworkChange::Ra(r) => net.ra = r,
            NetworkChange::Slaac(s) => net.slaac = s,
            NetworkChange::Authoritative(a) => net.authoritative = a,
            NetworkChange::UnknownClients(u) => net.unknown_clients = u,
            NetworkChange::Dhcp(m) => net.dhcp = m,
            NetworkChange::UefiLoader(l) => net.uefi_loader = l,
            NetworkChange::BiosLoader(l) => net.bios_loader = l,
        }
    }
    put(txn, net)
}

/// Deletes a network that no node uses (what refers to it otherwise is
/// cleaned up by the cascades its dependents registered).
pub(crate) fn delete(txn: &mut Txn<'_>, name: &str) -> Result<Arc<Network>, InventoryError> {
    if !txn.world().table::<Network>().contains(name) {
        return Err(InventoryError::not_found(Network::KIND, name));
    }
    if let Some(node) = txn.world().table::<Node>().iter().find(|n| n.network.as_deref() == Some(name)) {
        return Err(InventoryError::conflict("name", format!("network `{name}` is used by node `{}`", node.name)));
    }
    txn.delete::<Network, _>(name)?.ok_or_else(|| InventoryError::not_found(Network::KIND, name))
}

crate::types::schema::string_valued!(
    V6Prefix,
    "`auto` (the cluster's RFC 4193 prefix for this network) or an IPv6 /64 (`fd00:1::/64`).",
    None
);
