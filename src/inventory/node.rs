//! Nodes: the machines Fulcrum knows by their MAC addresses. The record
//! (with its secret token), its indexes by MAC and by address, and the
//! operations the engine builds on: registration (with the node's static
//! IPv4 address allocated in the same transaction), changes, bootenv,
//! provisioning verbs, aliveness, deletion, and registering a machine
//! that booted the discovery image. The rules of a protected node (no verb
//! that reboots it into another bootenv, a bootenv that boots from its
//! disk, no deletion, no MAC dropped) and of a node in a lifecycle step (no
//! power change) are kept here. Hooks are the engine's business: these
//! operations only keep the inventory's own rules.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::sync::Arc;

use imbl::{HashMap, OrdMap};
use serde::{Deserialize, Serialize};

use super::bootenv::{BootKind, Bootenv};
use super::error::InventoryError;
use super::lifecycle::{ProvisionState, Verb};
use super::network::Network;
use crate::net::{alloc, ula};
use crate::state::{record, Index, Record, Table, Txn, World};
use crate::types::field::Refuse;
use crate::types::mac::Mac;
use crate::types::names;
use crate::types::port::{AgentId, SwitchPort};
use crate::types::power::{PowerSpec, PowerState};
use crate::types::probe::AliveCheck;
use crate::types::secret::Secret;
use crate::types::time::now;

/// A node's params: name to value.
pub(crate) type Params = BTreeMap<String, String>;

/// At most this many params on a node.
const MAX_PARAMS: usize = 64;
/// A param's value is at most this long (an SSH key line fits).
const MAX_PARAM_BYTES: usize = 8192;

/// Refuses a bad param name, an oversized value, or too many.
fn check_params(params: &Params) -> Result<(), InventoryError> {
    if params.len() > MAX_PARAMS {
        return Err(InventoryError::invalid("params", format!("at most {MAX_PARAMS} params")));
    }
    for (k, v) in params {
        names::check_param("params", k)?;
        if v.len() > MAX_PARAM_BYTES {
            return Err(InventoryError::invalid(&format!("params.{k}"), format!("at most {MAX_PARAM_BYTES} bytes")));
        }
        // A value lands inside templates' lines (a kickstart's quoted
        // `sshkey`, a preseed's `d-i` line): a line break or other control
        // character would end the line and start a directive of its own.
        if v.chars().any(char::is_control) {
            return Err(InventoryError::invalid(
                &format!("params.{k}"),
                "holds a control character (a line break?): one line of text is taken",
            ));
        }
    }
    Ok(())
}

/// A machine Fulcrum knows by its MAC addresses.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Node {
    /// Fully qualified, lower-case, no trailing dot.
    pub(crate) name: String,
    pub(crate) macs: Vec<Mac>,
    /// The network its static address comes from.
    pub(crate) network: Option<String>,
    pub(crate) ipv4: Option<Ipv4Addr>,
    pub(crate) bootenv: String,
    /// Framework-owned: the node is reachable / has reported in.
    pub(crate) alive: bool,
    /// Framework-owned: what is alive on it is the discovery agent (it
    /// registered, and nothing has rebooted it or spoken for another
    /// system since), which can take the next step without a reboot.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub(crate) in_agent: bool,
    /// Operator-owned: the engine may act on this node.
    pub(crate) available: bool,
    pub(crate) provision_state: ProvisionState,
    /// When it entered `provision_state` (unix seconds); `None` for nodes
    /// stored before this was kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) provision_since: Option<u64>,
    /// How many provision states it has entered: each step's own number,
    /// so the agent's commands name one step exactly (two steps begun in
    /// the same second are still two).
    #[serde(default)]
    pub(crate) provision_step: u64,
    /// Why its last lifecycle step failed (Ironic's `last_error`), until
    /// the next verb.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) last_error: Option<String>,
    /// How its power is controlled, if at all.
    pub(crate) power: Option<PowerSpec>,
    /// The root password its rescue system takes (Ironic's
    /// `rescue_password`), from `rescue` until it leaves rescue.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) rescue_password: Option<Secret>,
    /// The switch port it is reserved on: a machine a relay reports in
    /// this port, with a MAC no node has, is this node (and its MAC is
    /// added to the node's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) port: Option<SwitchPort>,
    /// Its x64 UEFI loader instead of its network's or the configured one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) uefi_loader: Option<String>,
    /// Its BIOS loader instead of its network's or the configured one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) bios_loader: Option<String>,
    /// The operator's values for its bootenvs' templates (`params.NAME`):
    /// an SSH key, a disk, a mirror. A bootenv can require some.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub(crate) params: Params,
    /// What the node presents when it reports in (`Authorization: Bearer`).
    #[serde(default)]
    pub(crate) token: Secret,
    /// Protected (a production machine): every verb that would reboot it
    /// into another bootenv is refused, and its bootenv is always one
    /// that boots from its disk.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub(crate) protected: bool,
    /// Whether it is on, as its power driver last said.
    #[serde(default)]
    pub(crate) power_state: PowerState,
    /// A power action should make it boot from the network: since when,
    /// and how many actions were taken. Its next DHCP request from
    /// firmware clears it; the watchdog repeats the action once, then
    /// fails the step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) awaiting_boot: Option<AwaitBoot>,
    /// The last aliveness probe before a jig acted on it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) alive_check: Option<AliveCheck>,
    pub(crate) created_at: u64,
    pub(crate) updated_at: u64,
}

impl Node {
    /// A node with a name, MACs and a bootenv, everything else at its
    /// starting value (enrolled, not alive, available, no address, no
    /// token): what registration and fixtures build on.
    pub(crate) fn bare(name: impl Into<String>, macs: Vec<Mac>, bootenv: impl Into<String>) -> Node {
        Node {
            name: name.into(),
            macs,
            network: None,
            ipv4: None,
            bootenv: bootenv.into(),
            alive: false,
            in_agent: false,
            available: true,
            provision_state: ProvisionState::Enroll,
            provision_since: None,
            provision_step: 0,
            last_error: None,
            rescue_password: None,
            power: None,
            port: None,
            uefi_loader: None,
            bios_loader: None,
            params: Params::new(),
            token: Secret::default(),
            protected: false,
            power_state: PowerState::Unknown,
            awaiting_boot: None,
            alive_check: None,
            created_at: 0,
            updated_at: 0,
        }
    }
}

/// A network boot Fulcrum is waiting for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub(crate) struct AwaitBoot {
    /// When it entered `phase` (unix seconds).
    pub(crate) since: u64,
    /// Power actions taken for this boot (1, then 2 after the retry; 0
    /// while queued).
    pub(crate) attempts: u8,
    #[serde(default)]
    pub(crate) phase: BootPhase,
}

/// Where an awaited network boot is. A node `powered` or `booting` is in
/// early boot: at most `power.early_boot_max` are at once, the rest wait
/// `queued`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum BootPhase {
    /// Waiting for a slot; not powered yet.
    Queued,
    /// Powered on or rebooted; its DHCP request has not come.
    #[default]
    Powered,
    /// Its firmware asked DHCP; its kernel is not fetched yet.
    Booting,
}

impl AwaitBoot {
    /// Whether the node holds one of the early-boot slots.
    pub(crate) fn in_early_boot(&self) -> bool {
        matches!(self.phase, BootPhase::Powered | BootPhase::Booting)
    }
}

/// Node by MAC, by switch port, by static address, by IPv6 interface ID
/// (the md5 tail of its name, the same on every network), and the names
/// below each name.
#[derive(Clone, Default)]
pub(crate) struct NodeIndex {
    by_mac: HashMap<Mac, String>,
    by_port: HashMap<SwitchPort, String>,
    by_ip: OrdMap<Ipv4Addr, String>,
    by_iid: OrdMap<u64, String>,
    below: names::Descendants,
}

impl Index<Node> for NodeIndex {
    fn inserted(&mut self, old: Option<&Node>, new: &Node) {
        // The name is the key: an update keeps it, and what hangs on it.
        let renamed = old.is_none_or(|o| o.name != new.name);
        if let Some(old) = old {
            self.unlink(old);
            if renamed {
                self.unname(old);
            }
        }
        for mac in &new.macs {
            self.by_mac.insert(*mac, new.name.clone());
        }
        if let Some(ip) = new.ipv4 {
            self.by_ip.insert(ip, new.name.clone());
        }
        if let Some(port) = &new.port {
            self.by_port.insert(port.clone(), new.name.clone());
        }
        if renamed {
            self.by_iid.insert(ula::interface_id(&new.name), new.name.clone());
            self.below.add(&new.name);
        }
    }

    fn removed(&mut self, old: &Node) {
        self.unlink(old);
        self.unname(old);
    }
}

impl NodeIndex {
    fn unname(&mut self, old: &Node) {
        let iid = ula::interface_id(&old.name);
        if self.by_iid.get(&iid) == Some(&old.name) {
            self.by_iid.remove(&iid);
        }
        self.below.remove(&old.name);
    }

    fn unlink(&mut self, old: &Node) {
        for mac in &old.macs {
            if self.by_mac.get(mac) == Some(&old.name) {
                self.by_mac.remove(mac);
            }
        }
        if let Some(ip) = old.ipv4 {
            if self.by_ip.get(&ip) == Some(&old.name) {
                self.by_ip.remove(&ip);
            }
        }
        if let Some(port) = &old.port {
            if self.by_port.get(port) == Some(&old.name) {
                self.by_port.remove(port);
            }
        }
    }
}

record!(Node, kind = "node", table = "nodes", key = name: String, index = NodeIndex);

impl Table<Node> {
    /// The node that has this MAC.
    pub(crate) fn by_mac(&self, mac: &Mac) -> Option<&Arc<Node>> {
        self.index().by_mac.get(mac).and_then(|n| self.get(n))
    }

    /// The node reserved on the port a relay names: the reservation with
    /// this remote-id, else the one for any remote-id.
    pub(crate) fn by_port(&self, circuit_id: &AgentId, remote_id: Option<&AgentId>) -> Option<&Arc<Node>> {
        let by_port = &self.index().by_port;
        let exact = remote_id
            .and_then(|r| by_port.get(&SwitchPort { circuit_id: circuit_id.clone(), remote_id: Some(r.clone()) }));
        exact
            .or_else(|| by_port.get(&SwitchPort { circuit_id: circuit_id.clone(), remote_id: None }))
            .and_then(|n| self.get(n))
    }

    /// The node reserved on exactly this port.
    fn on_port(&self, port: &SwitchPort) -> Option<&Arc<Node>> {
        self.index().by_port.get(port).and_then(|n| self.get(n))
    }

    /// The node whose static address this is.
    pub(crate) fn by_ip(&self, ip: Ipv4Addr) -> Option<&Arc<Node>> {
        self.index().by_ip.get(&ip).and_then(|n| self.get(n))
    }

    /// The node whose name's md5 tail is `iid` (its IPv6 interface ID).
    pub(crate) fn by_interface_id(&self, iid: u64) -> Option<&Arc<Node>> {
        self.index().by_iid.get(&iid).and_then(|n| self.get(n))
    }

    /// Whether some node has a static address in `lo..=hi`.
    pub(crate) fn any_ip_in(&self, lo: Ipv4Addr, hi: Ipv4Addr) -> bool {
        self.index().by_ip.range(lo..=hi).next().is_some()
    }

    /// The nodes whose interface IDs are in `lo..=hi`.
    pub(crate) fn with_interface_id_in(&self, lo: u64, hi: u64) -> impl Iterator<Item = &Arc<Node>> {
        self.index().by_iid.range(lo..=hi).filter_map(|(_, n)| self.get(n))
    }

    /// Whether some node's name lies below `name`.
    pub(crate) fn any_below(&self, name: &str) -> bool {
        self.index().below.has_below(name)
    }
}

impl Node {
    /// The node's network, if it has one.
    pub(crate) fn network_in<'w>(&self, w: &'w World) -> Option<&'w Arc<Network>> {
        self.network.as_deref().and_then(|n| w.table::<Network>().get(n))
    }

    /// The node's IPv6 address, on a network with a v6 prefix.
    pub(crate) fn ipv6(&self, w: &World) -> Option<std::net::Ipv6Addr> {
        self.network_in(w).and_then(|net| net.v6_address(w.global_id(), &self.name))
    }
}

/// What registering a node takes.
#[derive(Debug, Clone)]
pub(crate) struct NodeSpec {
    pub(crate) name: String,
    pub(crate) macs: Vec<Mac>,
    /// Default: the configured default bootenv.
    pub(crate) bootenv: Option<String>,
    /// Network to take the address from; by default the network whose
    /// domain the name is in, or the only network.
    pub(crate) network: Option<String>,
    /// A chosen static address instead of the next free one.
    pub(crate) address: Option<Ipv4Addr>,
    pub(crate) available: Option<bool>,
    pub(crate) power: Option<PowerSpec>,
    pub(crate) port: Option<SwitchPort>,
    pub(crate) uefi_loader: Option<String>,
    pub(crate) bios_loader: Option<String>,
    pub(crate) params: Params,
}

/// A change to one of the fields of a node its owner may set (aliveness
/// is the engine's: it has consequences).
#[derive(Debug, Clone)]
pub(crate) enum NodeChange {
    /// A new static address on the node's network (its DHCP lease moves
    /// at its next request: the old address is NAKed).
    Address(Ipv4Addr),
    Available(bool),
    Bootenv(String),
    Macs(Vec<Mac>),
    Power(PowerSpec),
    /// A port reservation, or none.
    Port(Option<SwitchPort>),
    /// Its own x64 UEFI loader, or none.
    UefiLoader(Option<String>),
    BiosLoader(Option<String>),
    /// Protected, or not.
    Protected(bool),
    /// Params set (`Some`) or removed (`None`); the others are kept.
    Params(BTreeMap<String, Option<String>>),
}

/// The node as it is in this transaction, to change.
pub(crate) fn get(w: &World, name: &str) -> Result<Node, InventoryError> {
    w.table::<Node>().get(name).map(|n| (**n).clone()).ok_or_else(|| InventoryError::not_found(Node::KIND, name))
}

/// Stores a node, refusing a MAC or address another node has, or a
/// bootenv that does not exist.
pub(crate) fn put(txn: &mut Txn<'_>, node: Node) -> Result<Arc<Node>, InventoryError> {
    let nodes = txn.world().table::<Node>();
    for mac in &node.macs {
        if let Some(other) = nodes.by_mac(mac).filter(|o| o.name != node.name) {
            return Err(InventoryError::conflict("macs", format!("MAC {mac} belongs to node `{}`", other.name)));
        }
    }
    if let Some(ip) = node.ipv4 {
        if let Some(other) = nodes.by_ip(ip).filter(|o| o.name != node.name) {
            return Err(InventoryError::conflict("address", format!("{ip} belongs to node `{}`", other.name)));
        }
    }
    if let Some(l) = &node.uefi_loader {
        names::check_loader("uefi_loader", l)?;
    }
    if let Some(l) = &node.bios_loader {
        names::check_loader("bios_loader", l)?;
    }
    check_params(&node.params)?;
    if let Some(port) = &node.port {
        if let Some(other) = nodes.on_port(port).filter(|o| o.name != node.name) {
            return Err(InventoryError::conflict("port", format!("{port} is reserved for node `{}`", other.name)));
        }
    }
    let Some(env) = txn.world().table::<Bootenv>().get(&node.bootenv) else {
        return Err(InventoryError::invalid("bootenv", format!("no bootenv named `{}`", node.bootenv)));
    };
    if node.protected && env.kind != BootKind::Local {
        return Err(InventoryError::conflict(
            "protected",
            format!(
                "node `{}` is protected: its bootenv must boot from its disk, and `{}` does not (unprotect it first)",
                node.name, node.bootenv
            ),
        ));
    }
    Ok(txn.put(node)?)
}

/// The network a node named `name` belongs on.
fn pick_network<'w>(
    w: &'w World,
    name: &str,
    explicit: Option<&str>,
) -> Result<Option<&'w Arc<Network>>, InventoryError> {
    let nets = w.table::<Network>();
    match explicit {
        Some(net) => nets
            .get(net)
            .map(Some)
            .ok_or_else(|| InventoryError::invalid("network", format!("no network named `{net}`"))),
        None => Ok(nets.for_fqdn(name).or_else(|| nets.sole())),
    }
}

/// `ip`, when it may be a node's static address on `net`.
fn static_address(net: &Network, ip: Ipv4Addr) -> Result<Ipv4Addr, InventoryError> {
    if !net.static_range.contains(ip) || !net.assignable(ip) {
        return Err(InventoryError::invalid(
            "address",
            format!(
                "{ip} is not in network `{}`'s static range {}-{}",
                net.name, net.static_range.start, net.static_range.end
            ),
        ));
    }
    Ok(ip)
}

/// The next free static address of `net`, from its allocation cursor.
fn next_static(w: &World, net: &Network) -> Option<Ipv4Addr> {
    let nodes = w.table::<Node>();
    let cursor = w.table::<Network>().index().static_cursor(&net.name);
    // A static address is taken only by a node: leases in the static range
    // are the nodes' own (unknown clients are leased only from the dynamic
    // range, which may not overlap it), and deleting a node deletes its.
    alloc::search(&net.static_range, cursor, |ip| net.assignable(ip) && nodes.by_ip(ip).is_none())
}

/// Registers a node. Address allocation and uniqueness are checked against
/// this transaction's own view, so two registrations at once can never get
/// the same address.
pub(crate) fn create(txn: &mut Txn<'_>, spec: NodeSpec, default_bootenv: &str) -> Result<Arc<Node>, InventoryError> {
    names::check_fqdn("name", &spec.name)?;
    if spec.macs.is_empty() {
        return Err(InventoryError::invalid("macs", "at least one MAC address is required"));
    }
    if txn.world().table::<Node>().contains(&spec.name) {
        return Err(InventoryError::conflict("name", format!("node `{}` already exists", spec.name)));
    }
    let net = pick_network(txn.world(), &spec.name, spec.network.as_deref())?.cloned();
    let ipv4 = match (&net, spec.address) {
        (Some(net), Some(ip)) => Some(static_address(net, ip)?),
        (None, Some(_)) => return Err(InventoryError::invalid("address", "an address needs a network")),
        (Some(net), None) => {
            let ip = next_static(txn.world(), net).ok_or_else(|| {
                InventoryError::conflict("network", format!("network `{}` has no free static address", net.name))
            })?;
            txn.index_mut::<Network>().advance(&net.name, ip);
            Some(ip)
        }
        (None, None) => None,
    };
    let t = now();
    put(
        txn,
        Node {
            network: net.map(|n| n.name.clone()),
            ipv4,
            available: spec.available.unwrap_or(true),
            power: spec.power,
            port: spec.port,
            uefi_loader: spec.uefi_loader,
            bios_loader: spec.bios_loader,
            params: spec.params,
            token: Secret::random_token(),
            provision_since: Some(t),
            created_at: t,
            updated_at: t,
            ..Node::bare(spec.name, spec.macs, spec.bootenv.unwrap_or_else(|| default_bootenv.to_string()))
        },
    )
}

/// Registers a machine that booted the discovery image as
/// `d<mac>.<domain>` on the network its request came from (or the only
/// network), with the discovery bootenv. `None` if the MAC is known.
pub(crate) fn register_discovered(
    txn: &mut Txn<'_>,
    mac: Mac,
    source: Option<std::net::IpAddr>,
    discovery_bootenv: &str,
) -> Result<Option<Arc<Node>>, InventoryError> {
    if txn.world().table::<Node>().by_mac(&mac).is_some() {
        return Ok(None);
    }
    let nets = txn.world().table::<Network>();
    let gid = txn.world().global_id();
    let by_source = |ip: std::net::IpAddr| match ip {
        std::net::IpAddr::V4(v4) => nets.containing(v4),
        std::net::IpAddr::V6(v6) => {
            nets.iter().find(|n| n.v6_prefix(gid).is_some_and(|p| u128::from(p) >> 64 == u128::from(v6) >> 64))
        }
    };
    let net = source
        .and_then(by_source)
        .or_else(|| nets.sole())
        .ok_or_else(|| InventoryError::invalid("mac", "no network to register this machine on"))?;
    let spec = NodeSpec {
        name: format!("d{}.{}", mac.dashed(), net.domain),
        macs: vec![mac],
        bootenv: Some(discovery_bootenv.to_string()),
        network: Some(net.name.clone()),
        address: None,
        available: None,
        power: None,
        port: None,
        uefi_loader: None,
        bios_loader: None,
        params: Params::new(),
    };
    create(txn, spec, discovery_bootenv).map(Some)
}

/// Gives the node a new token: whatever held the old one no longer speaks
/// for it (a machine registering again, a re-provisioning).
pub(crate) fn rotate_token(txn: &mut Txn<'_>, name: &str) -> Result<Arc<Node>, InventoryError> {
    let mut node = get(txn.world(), name)?;
    node.token = Secret::random_token();
    node.updated_at = now();
    put(txn, node)
}

/// Applies changes (all of them, or none if the result breaks a rule).
pub(crate) fn update(txn: &mut Txn<'_>, name: &str, changes: Vec<NodeChange>) -> Result<Arc<Node>, InventoryError> {
    let mut node = get(txn.world(), name)?;
    let (was_protected, old_macs, busy) = (node.protected, node.macs.clone(), node.provision_state.in_progress());
    for change in changes {
        match change {
            NodeChange::Available(a) => node.available = a,
            NodeChange::Bootenv(b) => node.bootenv = b,
            NodeChange::Macs(macs) if macs.is_empty() => {
                return Err(InventoryError::invalid("macs", "at least one MAC address is required"));
            }
            NodeChange::Macs(macs) => node.macs = macs,
            // A step in progress may be using the credentials (verifying
            // checks the ones it started with).
            NodeChange::Power(_) if busy => {
                return Err(InventoryError::conflict(
                    "power",
                    format!("node `{name}` is {}: change its power driver once the step ends", node.provision_state),
                ));
            }
            NodeChange::Power(p) => node.power = Some(p),
            NodeChange::Port(p) => node.port = p,
            NodeChange::UefiLoader(l) => node.uefi_loader = l,
            NodeChange::BiosLoader(l) => node.bios_loader = l,
            NodeChange::Protected(p) => node.protected = p,
            NodeChange::Params(changes) => {
                for (k, v) in changes {
                    match v {
                        Some(v) => node.params.insert(k, v),
                        None => node.params.remove(&k),
                    };
                }
            }
            NodeChange::Address(ip) => {
                let net = node
                    .network
                    .as_deref()
                    .and_then(|n| txn.world().table::<Network>().get(n))
                    .ok_or_else(|| InventoryError::invalid("address", "an address needs a network"))?;
                node.ipv4 = Some(static_address(net, ip)?);
            }
        }
    }
    // A protected machine stays recognisable: dropping one of its MACs
    // would make it an unknown client, which gets the discovery image.
    if was_protected && node.protected && old_macs.iter().any(|m| !node.macs.contains(m)) {
        return Err(InventoryError::conflict(
            "protected",
            format!("node `{name}` is protected: its MACs can be added to, not removed (unprotect it first)"),
        ));
    }
    node.updated_at = now();
    put(txn, node)
}

/// Renames a node: the same record (MACs, addresses, token, state) under
/// `new`; the kinds that refer to nodes by name follow through their
/// rekey hooks. Its IPv6 interface ID (md5 of the name) changes with it.
pub(crate) fn rename(txn: &mut Txn<'_>, old: &str, new: &str) -> Result<Arc<Node>, InventoryError> {
    names::check_fqdn("name", new)?;
    let mut node = get(txn.world(), old)?;
    if old == new {
        return Ok(Arc::new(node));
    }
    if txn.world().table::<Node>().contains(new) {
        return Err(InventoryError::conflict("name", format!("node `{new}` already exists")));
    }
    // A machine in these states calls back by the name it booted with
    // (its install's `installed` report, the agent's steps).
    if node.provision_state.in_progress() {
        return Err(InventoryError::conflict(
            "name",
            format!("node `{old}` is {}: it reports back under its current name", node.provision_state),
        ));
    }
    // Its address stays on its network: the name stays in that network's
    // domain when another network serves the new one.
    if let Some(other) = txn.world().table::<Network>().for_fqdn(new).filter(|n| node.network.as_ref() != Some(&n.name))
    {
        return Err(InventoryError::invalid(
            "name",
            format!(
                "`{new}` is in network `{}`'s domain, but the node's address is on {}",
                other.name,
                node.network.as_deref().unwrap_or("no network")
            ),
        ));
    }
    node.name = new.to_string();
    node.updated_at = now();
    txn.rekey::<Node, _>(old, node)?.ok_or_else(|| InventoryError::not_found(Node::KIND, old))
}

/// The most MACs a node keeps when it learns them in its port: past this
/// the oldest goes (a port sees one machine's NIC at a time).
pub(crate) const MAX_LEARNED_MACS: usize = 16;

/// Adds `mac`, seen in the node's reserved port, to the node's MACs: the
/// machine now in that port (a replaced motherboard, a new NIC) boots as
/// this node from here on, by MAC too (its boot script, its DHCPv6).
pub(crate) fn learn_mac(txn: &mut Txn<'_>, name: &str, mac: Mac) -> Result<Arc<Node>, InventoryError> {
    let mut node = get(txn.world(), name)?;
    if node.macs.contains(&mac) {
        return Ok(Arc::new(node));
    }
    node.macs.push(mac);
    if node.macs.len() > MAX_LEARNED_MACS {
        node.macs.remove(0);
    }
    node.updated_at = now();
    put(txn, node)
}

/// Sets the bootenv the node's next network boot runs.
pub(crate) fn set_bootenv(txn: &mut Txn<'_>, name: &str, bootenv: String) -> Result<Arc<Node>, InventoryError> {
    update(txn, name, vec![NodeChange::Bootenv(bootenv)])
}

/// A power action that should make the node boot from the network was
/// asked for (`attempts` so far), or (`Queued`) waits for a slot.
pub(crate) fn expect_boot(
    txn: &mut Txn<'_>,
    name: &str,
    attempts: u8,
    phase: BootPhase,
) -> Result<Arc<Node>, InventoryError> {
    let mut node = get(txn.world(), name)?;
    node.awaiting_boot = Some(AwaitBoot { since: now(), attempts, phase });
    put(txn, node)
}

/// How many nodes are in early boot (powered for a network boot, kernel
/// not fetched yet).
pub(crate) fn in_early_boot(w: &World) -> usize {
    w.table::<Node>().iter().filter(|n| n.awaiting_boot.is_some_and(|a| a.in_early_boot())).count()
}

/// The node's firmware asked DHCP for its boot: the power action worked.
/// A node booting from its disk is done; one booting a kernel stays in
/// early boot until it fetches it. Returns whether it was awaited.
pub(crate) fn booted(txn: &mut Txn<'_>, name: &str) -> Result<bool, InventoryError> {
    let mut node = get(txn.world(), name)?;
    let Some(wait) = node.awaiting_boot.filter(|a| a.phase == BootPhase::Powered) else {
        return Ok(false);
    };
    let local = txn.world().table::<Bootenv>().get(&node.bootenv).is_some_and(|e| e.kind == BootKind::Local);
    node.awaiting_boot = (!local).then_some(AwaitBoot { since: now(), phase: BootPhase::Booting, ..wait });
    node.power_state = PowerState::On;
    put(txn, node)?;
    Ok(true)
}

/// The node fetched its kernel: its early boot is over.
pub(crate) fn kernel_fetched(txn: &mut Txn<'_>, name: &str) -> Result<bool, InventoryError> {
    let mut node = get(txn.world(), name)?;
    if !node.awaiting_boot.is_some_and(|a| a.in_early_boot()) {
        return Ok(false);
    }
    node.awaiting_boot = None;
    node.power_state = PowerState::On;
    put(txn, node)?;
    Ok(true)
}

/// A queued node gets its early-boot slot: powered now, and its step's
/// clock starts now (time in the queue does not count against it).
pub(crate) fn powered_from_queue(txn: &mut Txn<'_>, name: &str) -> Result<Arc<Node>, InventoryError> {
    let mut node = get(txn.world(), name)?;
    let t = now();
    node.awaiting_boot = Some(AwaitBoot { since: t, attempts: 1, phase: BootPhase::Powered });
    node.provision_since = Some(t);
    put(txn, node)
}

/// Gives up waiting for a network boot.
pub(crate) fn stop_awaiting(txn: &mut Txn<'_>, name: &str) -> Result<Arc<Node>, InventoryError> {
    let mut node = get(txn.world(), name)?;
    node.awaiting_boot = None;
    put(txn, node)
}

/// Records what the power driver said about the machine.
pub(crate) fn record_power(txn: &mut Txn<'_>, name: &str, state: PowerState) -> Result<Arc<Node>, InventoryError> {
    let mut node = get(txn.world(), name)?;
    if node.power_state == state {
        return Ok(Arc::new(node));
    }
    node.power_state = state;
    put(txn, node)
}

/// Records the outcome of an aliveness probe (not a change its node hooks
/// hear of: aliveness itself changes only through [`set_alive`]).
pub(crate) fn record_probe(txn: &mut Txn<'_>, name: &str, check: AliveCheck) -> Result<Arc<Node>, InventoryError> {
    let mut node = get(txn.world(), name)?;
    node.alive_check = Some(check);
    put(txn, node)
}

/// Sets whether the node is alive; returns the node and whether it was.
pub(crate) fn set_alive(txn: &mut Txn<'_>, name: &str, alive: bool) -> Result<(Arc<Node>, bool), InventoryError> {
    let mut node = get(txn.world(), name)?;
    let was = node.alive;
    node.alive = alive;
    // Whatever runs on a dead machine, it is not a live agent.
    node.in_agent &= alive;
    node.updated_at = now();
    Ok((put(txn, node)?, was))
}

/// Sets the password the node's rescue system takes, or forgets it (once
/// the rescue system has taken it).
pub(crate) fn set_rescue_password(
    txn: &mut Txn<'_>,
    name: &str,
    password: Option<Secret>,
) -> Result<Arc<Node>, InventoryError> {
    let mut node = get(txn.world(), name)?;
    if node.rescue_password.is_none() && password.is_none() {
        return Ok(Arc::new(node));
    }
    node.rescue_password = password;
    put(txn, node)
}

/// Records whether the discovery agent is what runs on the node now.
pub(crate) fn set_in_agent(txn: &mut Txn<'_>, name: &str, in_agent: bool) -> Result<Arc<Node>, InventoryError> {
    let mut node = get(txn.world(), name)?;
    if node.in_agent == in_agent {
        return Ok(Arc::new(node));
    }
    node.in_agent = in_agent;
    put(txn, node)
}

/// Moves a node through the provisioning state machine.
pub(crate) fn provision(txn: &mut Txn<'_>, name: &str, verb: Verb) -> Result<Arc<Node>, InventoryError> {
    let mut node = get(txn.world(), name)?;
    if node.protected && verb.reboots_into_another_bootenv() {
        return Err(InventoryError::conflict(
            "protected",
            format!("node `{name}` is protected: {verb} would reboot it into another bootenv (unprotect it first)"),
        ));
    }
    let to = node.provision_state.apply(verb)?;
    // Re-provisioning (deploying, cleaning) gives the machine a new token:
    // whatever held the old one no longer speaks for it.
    if matches!(to, ProvisionState::Deploying | ProvisionState::Cleaning | ProvisionState::Rescuing) {
        node.token = Secret::random_token();
    }
    let t = now();
    if to != node.provision_state {
        node.provision_since = Some(t);
        node.provision_step += 1;
    }
    // An operator's verb starts afresh; a failure keeps its reason (see
    // `fail_step`).
    if verb.is_operator() {
        node.last_error = None;
    }
    // The rescue password lives only as long as the rescue.
    if !matches!(to, ProvisionState::Rescuing | ProvisionState::RescueWait | ProvisionState::Rescue) {
        node.rescue_password = None;
    }
    node.provision_state = to;
    node.updated_at = t;
    put(txn, node)
}

/// The node's in-progress step failed for `reason`: it goes to that
/// step's failed state, with the reason kept as its `last_error`.
pub(crate) fn fail_step(txn: &mut Txn<'_>, name: &str, reason: String) -> Result<Arc<Node>, InventoryError> {
    provision(txn, name, Verb::Fail)?;
    let mut node = get(txn.world(), name)?;
    node.last_error = Some(reason);
    put(txn, node)
}

/// Deletes a node (its dependents' cascades run in the same transaction);
/// refused for a protected node.
pub(crate) fn delete(txn: &mut Txn<'_>, name: &str) -> Result<Arc<Node>, InventoryError> {
    if txn.world().table::<Node>().get(name).is_some_and(|n| n.protected) {
        return Err(InventoryError::conflict(
            "protected",
            format!(
                "node `{name}` is protected: deleting it would make the machine an unknown client (unprotect it first)"
            ),
        ));
    }
    txn.delete::<Node, _>(name)?.ok_or_else(|| InventoryError::not_found(Node::KIND, name))
}
