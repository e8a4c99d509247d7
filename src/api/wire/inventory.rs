//! Wire types of networks, nodes, bootenvs, leases and discovery.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};

use crate::dhcp::duid::{Duid, NodeDuid};
use crate::dhcp::firmware::BootClient;
use crate::dhcp::lease::{ClientId, Lease};
use crate::dhcp::lease6::Lease6;
use crate::engine::bulk::{Done, Imported, Planned, Skipped};
use crate::inventory::bootenv::Bootenv;
use crate::inventory::facts::Facts;
use crate::inventory::lifecycle::ProvisionState;
use crate::inventory::network::{DhcpMode, Network, NetworkChange, NetworkSpec, RaMode, UnknownClients, V6Prefix};
use crate::inventory::node::{AwaitBoot, Node, NodeChange, NodeSpec};
use crate::inventory::trace::{BootTrace, TraceEvent};
use crate::state::World;
use crate::types::mac::Mac;
use crate::types::port::SwitchPort;
use crate::types::power::{BootDevice, PowerAction, PowerSpec, PowerState};
use crate::types::probe::AliveCheck;
use crate::types::range::Range;
use crate::types::secret::{Handover, Secret};

/// `POST /api/v1/networks`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "lab", "subnet": "10.20.0.0/24", "router": "10.20.0.1", "static": {"start": "10.20.0.10", "end": "10.20.0.99"}, "dynamic": {"start": "10.20.0.100", "end": "10.20.0.200"}, "domain": "lab.example", "v6prefix": "auto"}))]
pub(crate) struct NewNetwork {
    #[schema(pattern = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")]
    pub(crate) name: String,
    pub(crate) subnet: Ipv4Net,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) router: Option<Ipv4Addr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) dynamic: Option<Range>,
    #[serde(rename = "static")]
    pub(crate) static_range: Range,
    #[schema(pattern = r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$")]
    pub(crate) domain: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) dns_servers: Vec<Ipv4Addr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) v6prefix: Option<V6Prefix>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) ra: Option<RaMode>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) slaac: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) authoritative: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) unknown_clients: Option<UnknownClients>,
    /// `full` (the default) or `proxy` (another server owns the addresses).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) dhcp: Option<DhcpMode>,
    /// The x64 UEFI loader on this network (default: `dhcp.uefi_x64_loader`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) uefi_loader: Option<String>,
    /// The BIOS loader on this network (default: `dhcp.bios_loader`);
    /// `lpxelinux.0` or `pxelinux.0` boot PXELINUX, whose config is
    /// rendered from the bootenv.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) bios_loader: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) interface: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) server: Option<Ipv4Addr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) lease_seconds: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) mtu: Option<u16>,
}

impl From<NewNetwork> for NetworkSpec {
    fn from(n: NewNetwork) -> NetworkSpec {
        NetworkSpec {
            name: n.name,
            subnet: n.subnet,
            router: n.router,
            dynamic: n.dynamic,
            static_range: n.static_range,
            domain: n.domain,
            dns_servers: n.dns_servers,
            v6prefix: n.v6prefix,
            ra: n.ra,
            slaac: n.slaac,
            authoritative: n.authoritative,
            unknown_clients: n.unknown_clients,
            dhcp: n.dhcp,
            uefi_loader: n.uefi_loader,
            bios_loader: n.bios_loader,
            interface: n.interface,
            server: n.server,
            lease_seconds: n.lease_seconds,
            mtu: n.mtu,
        }
    }
}

/// `PATCH /api/v1/networks/{name}`: the settings that can change without
/// renumbering nodes.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"lease_seconds": 7200, "unknown_clients": "discovery"}))]
pub(crate) struct NetworkPatch {
    pub(crate) router: Option<Ipv4Addr>,
    /// A dynamic range; `null` removes it (unknown clients then get none).
    #[serde(default, deserialize_with = "present")]
    pub(crate) dynamic: Option<Option<Range>>,
    pub(crate) dns_servers: Option<Vec<Ipv4Addr>>,
    pub(crate) interface: Option<String>,
    pub(crate) server: Option<Ipv4Addr>,
    pub(crate) lease_seconds: Option<u32>,
    pub(crate) mtu: Option<u16>,
    pub(crate) ra: Option<RaMode>,
    pub(crate) slaac: Option<bool>,
    pub(crate) authoritative: Option<bool>,
    pub(crate) unknown_clients: Option<UnknownClients>,
    pub(crate) dhcp: Option<DhcpMode>,
    /// `null`: the configured loader again.
    #[serde(default, deserialize_with = "present")]
    pub(crate) uefi_loader: Option<Option<String>>,
    /// `null`: the configured loader again.
    #[serde(default, deserialize_with = "present")]
    pub(crate) bios_loader: Option<Option<String>>,
}

impl NetworkPatch {
    /// The changes the patch asks for.
    pub(crate) fn changes(self) -> Vec<NetworkChange> {
        let Self {
            router,
            dynamic,
            dns_servers,
            interface,
            server,
            lease_seconds,
            mtu,
            ra,
            slaac,
            authoritative,
            unknown_clients,
            dhcp,
            uefi_loader,
            bios_loader,
        } = self;
        let mut c = Vec::new();
        c.extend(router.map(NetworkChange::Router));
        c.extend(dynamic.map(NetworkChange::Dynamic));
        c.extend(dns_servers.map(NetworkChange::DnsServers));
        c.extend(interface.map(NetworkChange::Interface));
        c.extend(server.map(NetworkChange::Server));
        c.extend(lease_seconds.map(NetworkChange::LeaseSeconds));
        c.extend(mtu.map(NetworkChange::Mtu));
        c.extend(ra.map(NetworkChange::Ra));
        c.extend(slaac.map(NetworkChange::Slaac));
        c.extend(authoritative.map(NetworkChange::Authoritative));
        c.extend(unknown_clients.map(NetworkChange::UnknownClients));
        c.extend(dhcp.map(NetworkChange::Dhcp));
        c.extend(uefi_loader.map(NetworkChange::UefiLoader));
        c.extend(bios_loader.map(NetworkChange::BiosLoader));
        c
    }
}

/// A network as the API shows it: the record and the /64 its `v6prefix`
/// works out to.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub(crate) struct NetworkView {
    #[serde(flatten)]
    pub(crate) network: Network,
    pub(crate) v6_network: Option<String>,
}

impl NetworkView {
    pub(crate) fn new(w: &World, n: &Network) -> NetworkView {
        NetworkView { network: n.clone(), v6_network: n.v6_prefix(w.global_id()).map(|p| format!("{p}/64")) }
    }
}

/// `POST /api/v1/nodes`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "n1.lab.example", "macs": ["52:54:00:12:34:56"], "bootenv": "discovery"}))]
pub(crate) struct NewNode {
    #[schema(pattern = r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)+$")]
    pub(crate) name: String,
    pub(crate) macs: Vec<Mac>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) bootenv: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) network: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) address: Option<Ipv4Addr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) available: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) power: Option<PowerSpec>,
    /// The switch port it is reserved on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) port: Option<SwitchPort>,
    /// Its x64 UEFI loader (default: its network's, else the configured one).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) uefi_loader: Option<String>,
    /// Its BIOS loader (default: its network's, else the configured one).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) bios_loader: Option<String>,
    /// Values for its bootenvs' templates (`params.NAME`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub(crate) params: BTreeMap<String, String>,
}

impl From<NewNode> for NodeSpec {
    fn from(n: NewNode) -> NodeSpec {
        NodeSpec {
            name: n.name,
            macs: n.macs,
            bootenv: n.bootenv,
            network: n.network,
            address: n.address,
            available: n.available,
            power: n.power,
            port: n.port,
            uefi_loader: n.uefi_loader,
            bios_loader: n.bios_loader,
            params: n.params,
        }
    }
}

/// `PATCH /api/v1/nodes/{name}`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"available": false, "protected": true}))]
pub(crate) struct NodePatch {
    /// A new name (the node's noderoles, runs and facts follow it).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(pattern = r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)+$")]
    pub(crate) name: Option<String>,
    /// A new static IPv4 address on the node's network.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) address: Option<Ipv4Addr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) alive: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) available: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) bootenv: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) macs: Option<Vec<Mac>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) power: Option<PowerSpec>,
    /// A port reservation; `null` removes it.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "present")]
    pub(crate) port: Option<Option<SwitchPort>>,
    /// Its own x64 UEFI loader; `null`: its network's again.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "present")]
    pub(crate) uefi_loader: Option<Option<String>>,
    /// Its own BIOS loader; `null`: its network's again.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "present")]
    pub(crate) bios_loader: Option<Option<String>>,
    /// Protect it (a production machine) or not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) protected: Option<bool>,
    /// Params to set; a `null` value removes that param, and the ones not
    /// named are kept.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) params: Option<BTreeMap<String, Option<String>>>,
}

/// A field that is there, `null` included (`Some(None)`), as opposed to
/// one that is absent (`None`, from `default`).
fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

impl NodePatch {
    /// The new name, the changes to the record, and the operator's `alive`.
    pub(crate) fn changes(self) -> (Option<String>, Vec<NodeChange>, Option<bool>) {
        let Self {
            name,
            address,
            alive,
            available,
            bootenv,
            macs,
            power,
            port,
            uefi_loader,
            bios_loader,
            protected,
            params,
        } = self;
        let mut c = Vec::new();
        c.extend(address.map(NodeChange::Address));
        c.extend(available.map(NodeChange::Available));
        c.extend(bootenv.map(NodeChange::Bootenv));
        c.extend(macs.map(NodeChange::Macs));
        c.extend(power.map(NodeChange::Power));
        c.extend(port.map(NodeChange::Port));
        c.extend(uefi_loader.map(NodeChange::UefiLoader));
        c.extend(bios_loader.map(NodeChange::BiosLoader));
        c.extend(protected.map(NodeChange::Protected));
        c.extend(params.map(NodeChange::Params));
        (name, c, alive)
    }
}

/// `PUT /api/v1/nodes/{name}/bootenv`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"bootenv": "local"}))]
pub(crate) struct SetBootenv {
    pub(crate) bootenv: String,
}

/// `POST /api/v1/nodes/{name}/alive`: an empty body reports alive; a node
/// shutting down sends `{"alive": false}`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct AliveReport {
    pub(crate) alive: bool,
}

/// `PUT /api/v1/nodes/{name}/states/provision`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"target": "manage"}))]
pub(crate) struct ProvisionTarget {
    /// A verb: manage, inspect, provide, deploy, rebuild, undeploy,
    /// rescue, unrescue, adopt, abort; or a report: wait, done, fail.
    pub(crate) target: String,
    /// For deploy and rebuild: the bootenv to install (default: the
    /// node's own, unless that is `local` or the discovery image).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) bootenv: Option<String>,
    /// For rescue: root's password in the rescue system (at least 8
    /// characters), from the rescue until the node leaves it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) rescue_password: Option<Secret>,
}

/// A [`ProvisionTarget`] as a client sends it: the rescue password handed
/// over with its value (a [`Secret`] would send `<redacted>`).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub(crate) struct ProvisionRequest {
    pub(crate) target: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) bootenv: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) rescue_password: Option<Handover>,
}

/// `POST /api/v1/nodes/import`: TripleO's instackenv.json, and which
/// network the nodes' addresses (and short names' domain) come from.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub(crate) struct ImportRequest {
    pub(crate) nodes: Vec<Imported>,
    #[serde(default)]
    pub(crate) network: Option<String>,
}

/// `POST /api/v1/nodes/bulk`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"verb": "provide", "state": "manageable", "dry_run": true}))]
pub(crate) struct BulkRequest {
    /// An operator verb (manage, inspect, provide, deploy, ...).
    pub(crate) verb: String,
    /// Select every node in this state, or (with `nodes`) require it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) state: Option<String>,
    /// Exactly these nodes: the set a preview showed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) nodes: Option<Vec<String>>,
    /// With `nodes`: each must have been in its state since this time (a
    /// planned node's `since`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) since: Option<u64>,
    /// Only say what it would do.
    #[serde(default)]
    pub(crate) dry_run: bool,
    /// For deploy and rebuild: what to install.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) bootenv: Option<String>,
}

/// The answer of a bulk verb: the plan, and with `dry_run` false what
/// happened to each planned node.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub(crate) struct BulkAnswer {
    pub(crate) verb: String,
    pub(crate) dry_run: bool,
    pub(crate) planned: Vec<Planned>,
    pub(crate) skipped: Vec<Skipped>,
    pub(crate) done: Vec<Done>,
}

/// `POST /api/v1/discover`, from the discovery image.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"mac": "52:54:00:12:34:57", "macs": ["52:54:00:12:34:57"]}))]
pub(crate) struct Discover {
    /// The MAC it booted from.
    pub(crate) mac: Mac,
    /// Its other NICs' (the agent sends every MAC, the booted one too).
    #[serde(default)]
    pub(crate) macs: Vec<Mac>,
}

impl Discover {
    /// The most NICs one machine reports (a large server has a dozen).
    pub(crate) const MAX_MACS: usize = 32;

    /// Every MAC must be a NIC's own; the list is bounded. Duplicates are
    /// dropped. Names the field that is wrong.
    pub(crate) fn checked(mut self) -> Result<Discover, (String, String)> {
        let bad = |m: &Mac| format!("`{m}` is not a NIC's address (all zeros, or a multicast or broadcast address)");
        if !self.mac.is_station() {
            return Err(("mac".into(), bad(&self.mac)));
        }
        if self.macs.len() > Self::MAX_MACS {
            return Err(("macs".into(), format!("{} MACs; at most {} are taken", self.macs.len(), Self::MAX_MACS)));
        }
        if let Some((i, m)) = self.macs.iter().enumerate().find(|(_, m)| !m.is_station()) {
            return Err((format!("macs[{i}]"), bad(m)));
        }
        let mut seen = std::collections::HashSet::new();
        self.macs.retain(|m| seen.insert(*m));
        Ok(self)
    }
}

/// `PUT /api/v1/nodes/{name}/states/power`: what to do to the machine's
/// power, through its driver (Ironic's targets).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"target": "status"}))]
pub(crate) struct PowerRequest {
    pub(crate) target: PowerTarget,
}

/// A power request's target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub(crate) enum PowerTarget {
    #[serde(rename = "power on")]
    On,
    #[serde(rename = "power off")]
    Off,
    /// Power-cycled (switched on when off), booting from the network.
    #[serde(rename = "reboot", alias = "rebooting")]
    Reboot,
    /// Only asks.
    #[serde(rename = "status")]
    Status,
}

impl PowerTarget {
    pub(crate) fn action(self) -> PowerAction {
        match self {
            PowerTarget::On => PowerAction::On,
            PowerTarget::Off => PowerAction::Off,
            PowerTarget::Reboot => PowerAction::Reboot,
            PowerTarget::Status => PowerAction::Status,
        }
    }
}

/// `PUT /api/v1/nodes/{name}/management/boot_device`: the device of the
/// machine's next boot (once), set through its driver.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"boot_device": "pxe"}))]
pub(crate) struct BootDeviceRequest {
    pub(crate) boot_device: BootDevice,
}

/// The answer to a power request: the node, and what its driver said.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub(crate) struct PowerAnswer {
    #[serde(flatten)]
    pub(crate) node: NodeView,
    pub(crate) driver_said: String,
}

/// `POST /api/v1/nodes/{name}/agent/done`: how the agent's command went.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct AgentDone {
    /// The command's id.
    pub(crate) command: String,
    pub(crate) ok: bool,
    /// What the agent did, or why it failed.
    #[serde(default)]
    pub(crate) detail: String,
}

/// The answer to `GET /api/v1/nodes/{name}/agent/next`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub(crate) struct AgentNext {
    /// What to do; `null`: nothing yet.
    pub(crate) command: Option<crate::types::agent::AgentCommand>,
    /// When to ask again if there is nothing to do.
    pub(crate) poll_seconds: u64,
}

/// `?network=&bootenv=&provision_state=` on `GET /api/v1/nodes`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct NodeFilter {
    pub(crate) network: Option<String>,
    pub(crate) bootenv: Option<String>,
    pub(crate) provision_state: Option<String>,
}

/// A node as the API shows it: the record (never its token) and its
/// derived addresses.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub(crate) struct NodeView {
    #[schema(pattern = r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)+$")]
    pub(crate) name: String,
    pub(crate) macs: Vec<Mac>,
    pub(crate) network: Option<String>,
    pub(crate) ipv4: Option<Ipv4Addr>,
    /// The network's /64 and the last 64 bits of md5(name).
    pub(crate) ipv6: Option<Ipv6Addr>,
    pub(crate) addresses: Vec<IpAddr>,
    pub(crate) bootenv: String,
    pub(crate) alive: bool,
    /// The discovery agent is what runs on it now (it can take a step
    /// without a reboot).
    #[serde(default)]
    pub(crate) in_agent: bool,
    pub(crate) available: bool,
    pub(crate) provision_state: ProvisionState,
    /// When it entered that state (unix seconds).
    #[serde(default)]
    pub(crate) provision_since: Option<u64>,
    /// Why its last lifecycle step failed, until the next verb.
    #[serde(default)]
    pub(crate) last_error: Option<String>,
    pub(crate) power: Option<PowerSpec>,
    /// The switch port it is reserved on.
    #[serde(default)]
    pub(crate) port: Option<SwitchPort>,
    /// Its own x64 UEFI loader, if it has one.
    #[serde(default)]
    pub(crate) uefi_loader: Option<String>,
    /// Its own BIOS loader, if it has one.
    #[serde(default)]
    pub(crate) bios_loader: Option<String>,
    /// The last aliveness probe (ping and SSH) before a jig acted on it.
    #[serde(default)]
    pub(crate) alive_check: Option<AliveCheck>,
    /// Protected: no verb reboots it into another bootenv.
    #[serde(default)]
    pub(crate) protected: bool,
    /// Values for its bootenvs' templates.
    #[serde(default)]
    pub(crate) params: BTreeMap<String, String>,
    /// on / off / unknown, as its power driver last said.
    #[serde(default)]
    pub(crate) power_state: PowerState,
    /// A network boot Fulcrum waits for after a power action.
    #[serde(default)]
    pub(crate) awaiting_boot: Option<AwaitBoot>,
    /// The DUIDs its DHCPv6 clients presented.
    #[serde(default)]
    pub(crate) duids: Vec<Duid>,
    /// What its network-boot firmware said at its last boot: machine UUID
    /// (option 97) and architecture (option 93).
    #[serde(default)]
    pub(crate) firmware: Option<FirmwareView>,
    /// When its last hardware report came (unix seconds), if any.
    #[serde(default)]
    pub(crate) inventory_at: Option<u64>,
    /// The newest event of its boot trace: what its machine last asked.
    #[serde(default)]
    pub(crate) last_traced: Option<TraceEvent>,
    pub(crate) created_at: u64,
    pub(crate) updated_at: u64,
}

impl NodeView {
    pub(crate) fn new(w: &World, n: &Node) -> NodeView {
        let ipv6 = n.ipv6(w);
        let addresses = n.ipv4.map(IpAddr::V4).into_iter().chain(ipv6.map(IpAddr::V6)).collect();
        NodeView {
            name: n.name.clone(),
            macs: n.macs.clone(),
            network: n.network.clone(),
            ipv4: n.ipv4,
            ipv6,
            addresses,
            bootenv: n.bootenv.clone(),
            alive: n.alive,
            in_agent: n.in_agent,
            available: n.available,
            provision_state: n.provision_state,
            provision_since: n.provision_since,
            last_error: n.last_error.clone(),
            power: n.power.clone(),
            port: n.port.clone(),
            uefi_loader: n.uefi_loader.clone(),
            bios_loader: n.bios_loader.clone(),
            alive_check: n.alive_check.clone(),
            protected: n.protected,
            params: n.params.clone(),
            power_state: n.power_state,
            awaiting_boot: n.awaiting_boot,
            duids: w.table::<NodeDuid>().of_node(&n.name).to_vec(),
            firmware: w.table::<BootClient>().get(&n.name).map(|b| FirmwareView {
                uuid: b.uuid.clone(),
                arch: b.arch,
                seen_at: b.seen_at,
            }),
            inventory_at: w.table::<Facts>().get(&n.name).map(|f| f.reported_at),
            last_traced: w.table::<BootTrace>().get(&n.name).and_then(|t| t.events.back().cloned()),
            created_at: n.created_at,
            updated_at: n.updated_at,
        }
    }
}

/// A node's firmware as its last network boot described it.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub(crate) struct FirmwareView {
    pub(crate) uuid: Option<String>,
    pub(crate) arch: Option<u16>,
    pub(crate) seen_at: u64,
}

/// The discover answer: the machine's node and, for the machine itself,
/// the token it reports in with.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub(crate) struct Discovered {
    #[serde(flatten)]
    pub(crate) node: NodeView,
    pub(crate) token: Handover,
}

/// A bootenv: what `POST /api/v1/bootenvs` takes and `GET` shows. Like a
/// role, a bootenv is a document whose format the shipped files, the store
/// and the API share: the wire type is the record itself.
pub(crate) type BootenvBody = Bootenv;

/// `?family=&network=&node=&state=` on `GET /api/v1/leases`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct LeaseFilter {
    /// 4 or 6.
    pub(crate) family: Option<u8>,
    pub(crate) network: Option<String>,
    pub(crate) node: Option<String>,
    /// `active`, `expired` or `declined`.
    pub(crate) state: Option<LeaseState>,
}

/// Where a lease stands now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum LeaseState {
    Active,
    Expired,
    /// Quarantined after a DECLINE, held by nobody.
    Declined,
}

impl LeaseState {
    /// Its word, as the API and the metrics write it.
    pub(crate) fn name(self) -> &'static str {
        match self {
            LeaseState::Active => "active",
            LeaseState::Expired => "expired",
            LeaseState::Declined => "declined",
        }
    }

    pub(crate) fn of(declined: bool, expires_at: u64, now: u64) -> LeaseState {
        match (declined, expires_at > now) {
            (true, _) => LeaseState::Declined,
            (false, true) => LeaseState::Active,
            (false, false) => LeaseState::Expired,
        }
    }
}

/// A DHCPv4 or DHCPv6 lease as the API shows it.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub(crate) struct LeaseView {
    pub(crate) family: u8,
    pub(crate) ip: IpAddr,
    pub(crate) state: LeaseState,
    /// DHCPv4: the client's MAC, and its client identifier (option 61)
    /// when it sent one (the lease is then the identifier's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) mac: Option<Mac>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) client_id: Option<ClientId>,
    /// DHCPv6: the client's DUID and identity association.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) duid: Option<Duid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) iaid: Option<u32>,
    pub(crate) network: String,
    /// DHCPv4: the node's name or the client's own hostname.
    pub(crate) hostname: Option<String>,
    /// The node the client was recognised as.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) node: Option<String>,
    /// The switch port its relay named (circuit-id and remote-id, or
    /// DHCPv6 interface-id and remote-id): what a port reservation names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) port: Option<SwitchPort>,
    /// Unix seconds.
    pub(crate) expires_at: u64,
}

impl LeaseView {
    pub(crate) fn v4(w: &World, l: &Lease, now: u64) -> LeaseView {
        let declined = l.mac == crate::dhcp::lease::DECLINED;
        LeaseView {
            family: 4,
            ip: IpAddr::V4(l.ip),
            state: LeaseState::of(declined, l.expires_at, now),
            mac: (!declined).then_some(l.mac),
            client_id: l.client_id.clone(),
            duid: None,
            iaid: None,
            network: l.network.clone(),
            hostname: l.hostname.clone(),
            node: w.table::<Node>().by_mac(&l.mac).map(|n| n.name.clone()),
            port: l.port.clone(),
            expires_at: l.expires_at,
        }
    }

    pub(crate) fn v6(l: &Lease6, now: u64) -> LeaseView {
        LeaseView {
            family: 6,
            ip: IpAddr::V6(l.addr),
            state: LeaseState::of(l.duid.is_none(), l.expires_at, now),
            mac: None,
            client_id: None,
            duid: l.duid.clone(),
            iaid: l.duid.as_ref().map(|_| l.iaid),
            network: l.network.clone(),
            hostname: l.node.clone(),
            node: l.node.clone(),
            port: l.port.clone(),
            expires_at: l.expires_at,
        }
    }
}

/// `POST /api/v1/bootenvs/import`: an ISO on the admin node.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"path": "/srv/iso/debian-12.iso"}))]
pub(crate) struct IsoImport {
    /// Its absolute path.
    pub(crate) path: String,
    /// The bootenv's name (default: the distribution's, `ubuntu-24.04`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) name: Option<String>,
}

/// `POST /api/v1/bootenvs/import/upload?filename=&name=`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct UploadQuery {
    /// The ISO's file name (Ubuntu's installer fetches it by this name).
    pub(crate) filename: Option<String>,
    pub(crate) name: Option<String>,
}

/// What an import did, as the API answers it.
pub(crate) use crate::distro::ImportReport;
