//! The typed records Fulcrum keeps: networks, nodes, boot environments and
//! DHCP leases. Each is a plain serde value; the store persists it as JSON
//! under its key and the in-memory [`World`](super::World) indexes it.

use std::collections::BTreeMap;
use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use ipnet::{Ipv4Net, Ipv6Net};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::lifecycle::ProvisionState;
use crate::net::mac::Mac;
use crate::net::ula::{self, GlobalId};

/// Which collection a record belongs to; also the name of its table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Meta,
    Network,
    Node,
    Bootenv,
    Lease,
    Role,
    Deployment,
    #[serde(rename = "noderole")]
    NodeRole,
    Run,
}

impl Kind {
    /// Every kind, in load order (what a record refers to loads first).
    pub const ALL: [Kind; 9] = [
        Kind::Meta,
        Kind::Network,
        Kind::Bootenv,
        Kind::Node,
        Kind::Lease,
        Kind::Role,
        Kind::Deployment,
        Kind::NodeRole,
        Kind::Run,
    ];

    /// The redb table that holds records of this kind.
    pub fn table(self) -> &'static str {
        match self {
            Kind::Meta => "meta",
            Kind::Network => "networks",
            Kind::Node => "nodes",
            Kind::Bootenv => "bootenvs",
            Kind::Lease => "leases",
            Kind::Role => "roles",
            Kind::Deployment => "deployments",
            Kind::NodeRole => "noderoles",
            Kind::Run => "runs",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Kind::Meta => "meta",
            Kind::Network => "network",
            Kind::Node => "node",
            Kind::Bootenv => "bootenv",
            Kind::Lease => "lease",
            Kind::Role => "role",
            Kind::Deployment => "deployment",
            Kind::NodeRole => "noderole",
            Kind::Run => "run",
        })
    }
}

/// An inclusive IPv4 address range.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Range {
    pub start: Ipv4Addr,
    pub end: Ipv4Addr,
}

impl Range {
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        self.start <= ip && ip <= self.end
    }

    pub fn overlaps(&self, other: &Range) -> bool {
        self.start <= other.end && other.start <= self.end
    }

    /// Every address of the range, in order.
    pub fn iter(&self) -> impl Iterator<Item = Ipv4Addr> {
        (u32::from(self.start)..=u32::from(self.end)).map(Ipv4Addr::from)
    }
}

/// A network's IPv6 prefix setting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum V6Prefix {
    /// `fd` + the cluster's Global ID + the network's 16-bit id.
    Auto,
    /// An operator-chosen /64.
    Explicit(Ipv6Net),
}

impl FromStr for V6Prefix {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if s == "auto" {
            return Ok(V6Prefix::Auto);
        }
        let net: Ipv6Net =
            s.parse().map_err(|_| format!("`{s}` is neither \"auto\" nor an IPv6 prefix like fd00:1::/64"))?;
        if net.prefix_len() != 64 {
            return Err(format!("`{s}` must be a /64"));
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

/// An L2 segment Fulcrum serves: v4 subnet and ranges, DNS domain, optional
/// IPv6 prefix.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Network {
    pub name: String,
    /// Small stable number; the 16-bit subnet ID of an `auto` v6 prefix.
    pub id: u16,
    pub subnet: Ipv4Net,
    #[serde(default)]
    pub router: Option<Ipv4Addr>,
    /// Addresses for unknown clients (dynamic leases).
    #[serde(default)]
    pub dynamic: Option<Range>,
    /// Addresses handed to registered nodes, one each, for good.
    #[serde(rename = "static")]
    pub static_range: Range,
    pub domain: String,
    #[serde(default)]
    pub dns_servers: Vec<Ipv4Addr>,
    #[serde(default)]
    pub v6prefix: Option<V6Prefix>,
    /// The admin node's interface on this segment (DHCP replies go out there).
    #[serde(default)]
    pub interface: Option<String>,
    /// The admin node's own address on this segment: next-server, option 54
    /// and the host of boot URLs. Found from the interfaces when unset.
    #[serde(default)]
    pub server: Option<Ipv4Addr>,
    pub lease_seconds: u32,
    pub mtu: u16,
}

impl Network {
    /// The network's /64, if it has IPv6.
    pub fn v6_prefix(&self, gid: GlobalId) -> Option<Ipv6Addr> {
        match self.v6prefix? {
            V6Prefix::Auto => Some(gid.prefix64(self.id)),
            V6Prefix::Explicit(net) => Some(net.network()),
        }
    }

    /// A node's IPv6 address on this network: prefix + md5(FQDN) tail.
    pub fn v6_address(&self, gid: GlobalId, fqdn: &str) -> Option<Ipv6Addr> {
        self.v6_prefix(gid).map(|p| ula::node_address(p, fqdn))
    }
}

/// A machine Fulcrum knows by its MAC addresses.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Node {
    /// Fully qualified, lower-case, no trailing dot.
    pub name: String,
    pub macs: Vec<Mac>,
    /// The network its static address comes from.
    #[serde(default)]
    pub network: Option<String>,
    #[serde(default)]
    pub ipv4: Option<Ipv4Addr>,
    pub bootenv: String,
    /// Framework-owned: the node is reachable / has reported in.
    pub alive: bool,
    /// Operator-owned: the engine may act on this node.
    pub available: bool,
    pub provision_state: ProvisionState,
    /// How its power is controlled, if at all.
    #[serde(default)]
    pub power: Option<crate::power::PowerSpec>,
    /// Secret the node presents when it reports in (`Authorization: Bearer`).
    #[serde(default)]
    pub token: String,
    pub created_at: u64,
    pub updated_at: u64,
}

/// Whether a boot environment boots from the network or the local disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum BootKind {
    #[default]
    Network,
    Local,
}

/// A boot environment: what a node's next network boot runs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bootenv {
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub os: String,
    #[serde(default)]
    pub kind: BootKind,
    /// Kernel: a path under the data dir's `files/` or an http(s) URL.
    #[serde(default)]
    pub kernel: Option<String>,
    #[serde(default)]
    pub initrds: Vec<String>,
    /// minijinja template for the kernel command line.
    #[serde(default)]
    pub kernel_params: String,
    /// minijinja template of the iPXE script; empty means the default
    /// kernel+initrd script (`ipxe/netboot.ipxe.j2`).
    #[serde(default)]
    pub ipxe: String,
    /// Unattended-install templates served at `/boot/templates/{mac}/{name}`.
    #[serde(default)]
    pub templates: BTreeMap<String, String>,
}

/// A DHCPv4 lease: one address held by one client.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    pub ip: Ipv4Addr,
    pub mac: Mac,
    pub network: String,
    #[serde(default)]
    pub hostname: Option<String>,
    /// Unix seconds.
    pub expires_at: u64,
}

/// Seconds since the Unix epoch.
pub fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}
