//! "Why did this machine boot that?": what DHCP, TFTP and HTTP would
//! answer a machine now, for each kind of firmware (BIOS PXE, UEFI PXE,
//! UEFI HTTP boot, arm64, iPXE; and over DHCPv6 iPXE, UEFI HTTP and PXE), which node, network, bootenv, lifecycle
//! state and rule produced each answer, and what would change it.
//!
//! The answers are not re-implemented: each comes from the code the
//! services run, on the current snapshot — the DHCPv4 decision on the
//! DISCOVER that firmware sends, the DHCPv6 decision on its SOLICIT, the TFTP root's confinement for the file
//! it names, the iPXE script renderer for the script iPXE then fetches.
//! The `because` lines restate the rules in words, beside those answers.
//! Nothing is sent and nothing is written: a scratch offer table takes
//! the offer (so an address another client holds an offer for right now
//! may be shown). The node's token, which its own scripts carry, is
//! replaced by `<node token>`.

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::sync::Arc;

use dhcproto::v4::{Architecture, DhcpOption, Message, MessageType, OptionCode};
use serde::{Deserialize, Serialize};

use crate::boot::render;
use crate::boot::tftp::{Chain, RootHandler, Target};
use crate::boot::{grub, pxelinux};
use crate::config::Config;
use crate::dhcp::pxe::{self, Firmware};
use crate::dhcp::v4::handler::{Arrival, Ctx, Decision};
use crate::dhcp::v4::offers::Offers;
use crate::dhcp::v4::reply;
use crate::inventory::bootenv::{BootKind, Bootenv};
use crate::inventory::network::{DhcpMode, Network, UnknownClients};
use crate::inventory::node::{Node, Params};
use crate::inventory::readiness::BootFiles;
use crate::net::iface;
use crate::state::World;
use crate::types::mac::Mac;
use crate::types::time::now;

/// Whom to explain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Who {
    /// A MAC, and how it was written (a node may be named so).
    Mac(Mac, String),
    Node(String),
}

impl Who {
    /// A MAC in any spelling, else a node name; a name that also reads as
    /// a MAC is resolved when explained (the node first).
    pub(crate) fn parse(s: &str) -> Who {
        s.parse().map_or_else(|_| Who::Node(s.to_string()), |m| Who::Mac(m, s.to_string()))
    }
}

/// Why there is nothing to explain.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(crate) enum ExplainError {
    #[error("no node `{0}` (give a node's name or any MAC)")]
    NoSuchNode(String),
    #[error("node `{0}` has no MAC: no firmware can ask for it")]
    NoMac(String),
    #[error("no network `{0}`")]
    NoSuchNetwork(String),
    #[error("which network is the machine on? there are {0} networks; name one")]
    WhichNetwork(usize),
    #[error("no network is configured: nothing answers this machine")]
    NoNetworks,
}

/// The node the MAC belongs to, as far as booting goes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub(crate) struct NodeFacts {
    pub(crate) name: String,
    pub(crate) ipv4: Option<Ipv4Addr>,
    pub(crate) bootenv: String,
    pub(crate) provision_state: String,
    pub(crate) protected: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) uefi_loader: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) bios_loader: Option<String>,
}

/// The network the answers are for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub(crate) struct NetworkFacts {
    pub(crate) name: String,
    /// How a request from the machine reaches it.
    pub(crate) reached: String,
    pub(crate) dhcp: String,
    pub(crate) unknown_clients: String,
    pub(crate) authoritative: bool,
}

/// What one kind of firmware would be answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub(crate) struct FirmwareAnswer {
    /// `bios`, `uefi-x64-pxe`, `uefi-x64-http`, `uefi-arm64-pxe`, `ipxe`.
    pub(crate) firmware: String,
    /// The request explained: `DISCOVER from UEFI x64 PXE (arch 7)`.
    pub(crate) request: String,
    /// The DHCP answer: `OFFER 10.0.0.5, boot file snponly.efi from 10.0.0.1`, or `no answer: why`.
    pub(crate) dhcp: String,
    pub(crate) address: Option<Ipv4Addr>,
    pub(crate) boot_file: Option<String>,
    /// What fetching the boot file would give (TFTP or HTTP).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) fetch: Option<String>,
    /// The rules that made this answer.
    pub(crate) because: Vec<String>,
}

/// What one kind of firmware would be answered over DHCPv6 (a SOLICIT
/// with its client architecture, option 61, and user or vendor class).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub(crate) struct V6Answer {
    /// `ipxe`, `uefi-x64-http`, `uefi-x64-pxe`, `bios`.
    pub(crate) firmware: String,
    /// The request explained: `SOLICIT from iPXE (arch 7), DUID-LL of the MAC`.
    pub(crate) request: String,
    /// The DHCPv6 answer: `ADVERTISE fd00::5, boot URL http://...`, or `no answer: why`.
    pub(crate) dhcp: String,
    pub(crate) address: Option<std::net::Ipv6Addr>,
    /// Option 59.
    pub(crate) boot_url: Option<String>,
}

/// The iPXE script the machine gets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub(crate) struct ScriptAnswer {
    /// The bootenv the script is rendered from.
    pub(crate) bootenv: String,
    /// Why that one.
    pub(crate) because: String,
    /// The script.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) script: Option<String>,
    /// Why it cannot be rendered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) error: Option<String>,
}

/// Everything Fulcrum would answer the machine now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub(crate) struct Explanation {
    pub(crate) mac: Mac,
    /// `None`: the MAC is no node's.
    pub(crate) node: Option<NodeFacts>,
    pub(crate) network: NetworkFacts,
    pub(crate) answers: Vec<FirmwareAnswer>,
    /// The DHCPv6 answers, on a network with an IPv6 prefix (empty
    /// otherwise, or when DHCPv6 is off: `v6_note` says which).
    #[serde(default)]
    pub(crate) answers_v6: Vec<V6Answer>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) v6_note: Option<String>,
    pub(crate) script: ScriptAnswer,
    /// The GRUB config the machine's GRUB would read now, when one of the
    /// answers is GRUB or the Secure Boot shim.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) grub: Option<ScriptAnswer>,
    /// The PXELINUX config (`pxelinux.cfg/01-<mac>`) the machine's
    /// PXELINUX would read now, when one of the answers is PXELINUX.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) pxelinux: Option<ScriptAnswer>,
    /// What the bootenv the machine boots lacks now (a file not in the
    /// files directory, a param the node does not have): its boot would
    /// fail there. Empty when nothing is missing.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) lacks: Vec<String>,
    /// What an operator could do to change the answers.
    pub(crate) would_change: Vec<String>,
}

/// The firmware kinds explained, as each announces itself in its
/// DISCOVER: option 60, option 93, and iPXE's user class.
const PROBES: [(&str, &str, u16, bool); 5] = [
    ("bios", "PXEClient:Arch:00000:UNDI:002001", 0, false),
    ("uefi-x64-pxe", "PXEClient:Arch:00007:UNDI:003016", 7, false),
    ("uefi-x64-http", "HTTPClient:Arch:00016:UNDI:003001", 0x10, false),
    ("uefi-arm64-pxe", "PXEClient:Arch:00011:UNDI:003016", 0x0b, false),
    ("ipxe", "PXEClient:Arch:00000:UNDI:002001", 0, true),
];

fn discover(mac: Mac, giaddr: Ipv4Addr, vendor: &str, arch: u16, ipxe: bool) -> Message {
    let u = Ipv4Addr::UNSPECIFIED;
    let mut m = Message::new_with_id(0, u, u, u, giaddr, &mac.0);
    let o = m.opts_mut();
    o.insert(DhcpOption::MessageType(MessageType::Discover));
    o.insert(DhcpOption::ClassIdentifier(vendor.as_bytes().to_vec()));
    o.insert(DhcpOption::ClientSystemArchitecture(Architecture::from(arch)));
    o.insert(DhcpOption::ParameterRequestList(vec![
        OptionCode::SubnetMask,
        OptionCode::Router,
        OptionCode::DomainNameServer,
        OptionCode::TFTPServerName,
        OptionCode::BootfileName,
    ]));
    if ipxe {
        o.insert(DhcpOption::UserClass(b"iPXE".to_vec()));
    }
    m
}

/// The firmware kinds explained over DHCPv6: name, client architecture
/// (option 61), user class, vendor class (enterprise 343's text).
const PROBES_V6: [(&str, u16, Option<&str>, Option<&str>); 4] = [
    ("ipxe", 7, Some("iPXE"), None),
    ("uefi-x64-http", 0x10, None, Some("HTTPClient:Arch:00016")),
    ("uefi-x64-pxe", 7, None, Some("PXEClient:Arch:00007")),
    ("bios", 0, None, Some("PXEClient:Arch:00000")),
];

/// A SOLICIT as `mac`'s firmware sends it: a DUID-LL of the MAC, one
/// IA_NA, and the options asked for.
fn solicit(mac: Mac, arch: u16, user: Option<&str>, vendor: Option<&str>) -> dhcproto::v6::Message {
    use dhcproto::v6::{self, DhcpOption as O, DhcpOptions, OptionCode as C};
    let mut m = v6::Message::new_with_id(v6::MessageType::Solicit, [0, 0, 1]);
    let mut duid = vec![0, 3, 0, 1];
    duid.extend_from_slice(&mac.0);
    let o = m.opts_mut();
    o.insert(O::ClientId(duid));
    o.insert(O::IANA(v6::IANA { id: 1, t1: 0, t2: 0, opts: DhcpOptions::new() }));
    o.insert(O::ORO(v6::ORO { opts: vec![C::from(59u16), C::DomainNameServers, C::DomainSearchList] }));
    o.insert(O::ClientArchType(vec![v6::Architecture::from(arch)]));
    if let Some(u) = user {
        o.insert(O::UserClass(v6::UserClass { data: vec![u.as_bytes().to_vec()] }));
    }
    if let Some(v) = vendor {
        o.insert(O::VendorClass(v6::VendorClass { num: 343, data: vec![v.as_bytes().to_vec()] }));
    }
    m
}

/// What the DHCPv6 server would answer each kind of firmware on `net`,
/// from the handler the server runs; or why there is nothing to explain.
fn answers_v6(
    world: &World,
    config: &Config,
    net: &Network,
    mac: Mac,
    ifaces: &[iface::Interface],
) -> Result<Vec<V6Answer>, String> {
    use crate::dhcp::duid::{Duid, ServerDuid};
    use crate::dhcp::v6::handler::{Arrival6, Ctx6, Decision6, OPT_BOOTFILE_URL};
    if !(config.dhcp.enabled && config.dhcp.v6) {
        return Err("DHCPv6 is off (dhcp.enabled or dhcp.v6 is false)".into());
    }
    let Some(prefix) = net.v6_prefix(world.global_id()) else {
        return Err(format!("network {} has no IPv6 prefix (v6prefix): DHCPv6 does not serve it", net.name));
    };
    let local: Vec<std::net::Ipv6Addr> = ifaces.iter().flat_map(|i| i.routable_v6().collect::<Vec<_>>()).collect();
    let on = net.interface.clone().or_else(|| {
        let inside = crate::dhcp::v6::handler::in_prefix(&local, prefix)?;
        ifaces.iter().find(|i| i.v6.iter().any(|(a, _)| *a == inside)).map(|i| i.name.clone())
    });
    let arrival = Arrival6 {
        iface: on.as_deref(),
        local: &local,
        src: Some(crate::net::ula::eui64_link_local(mac)),
        unicast: false,
    };
    let server_duid = world
        .table::<ServerDuid>()
        .get(ServerDuid::NAME)
        .map_or_else(|| Duid::llt(Mac([2, 0, 0, 0, 0, 1]), 0), |s| s.duid.clone());
    let ctx = Ctx6 { world, config, arrival: &arrival, server_duid: &server_duid, now: now() };
    let mut out = Vec::new();
    for (name, arch, user, vendor) in PROBES_V6 {
        let msg = solicit(mac, arch, user, vendor);
        let class = user.map_or_else(|| vendor.unwrap_or_default().to_string(), |u| format!("user class {u}"));
        let request = format!("SOLICIT from {class} (arch {arch}), DUID-LL of {mac}");
        let answer = match ctx.decide(&msg, &[]) {
            Decision6::Reply(m) | Decision6::Write { reply: m, .. } => {
                let address = m.opts().iter().find_map(|o| match o {
                    dhcproto::v6::DhcpOption::IANA(ia) => ia.opts.iter().find_map(|a| match a {
                        dhcproto::v6::DhcpOption::IAAddr(a) if a.valid_life > 0 => Some(a.addr),
                        _ => None,
                    }),
                    _ => None,
                });
                let boot_url = m.opts().iter().find_map(|o| match o {
                    dhcproto::v6::DhcpOption::Unknown(u) if u16::from(u.code()) == OPT_BOOTFILE_URL => {
                        Some(String::from_utf8_lossy(u.data()).into_owned())
                    }
                    _ => None,
                });
                V6Answer {
                    firmware: name.into(),
                    request,
                    dhcp: crate::dhcp::v6::server::summary(&m),
                    address,
                    boot_url,
                }
            }
            Decision6::Ignore(skip) => V6Answer {
                firmware: name.into(),
                request,
                dhcp: format!("no answer: {}", skip.label().replace('_', " ")),
                address: None,
                boot_url: None,
            },
        };
        out.push(answer);
    }
    Ok(out)
}

/// How requests from `net`'s machines reach this host, as the DHCPv4
/// server's sockets see them: with `dhcp.interfaces` empty one unbound
/// socket (no interface to go by), else one socket per listed interface;
/// a network this host has no address in is reached through a relay
/// (giaddr: its router, or its first address), assumed to be one
/// `dhcp.trusted_relays` names. `Err`: no socket hears it.
fn reach(net: &Network, config: &Config, ifaces: &[iface::Interface]) -> Result<(Arrival, Ipv4Addr, String), String> {
    let local_addrs: Vec<Ipv4Addr> = ifaces.iter().flat_map(|i| i.v4.iter().map(|(ip, _)| *ip)).collect();
    let inside: Vec<Ipv4Addr> = local_addrs.iter().copied().filter(|ip| net.subnet.contains(ip)).collect();
    let holder = inside.first().and_then(|ip| ifaces.iter().find(|i| i.v4.iter().any(|(a, _)| a == ip)));
    let on = net.interface.clone().or_else(|| holder.map(|i| i.name.clone()));
    if let Some(name) = on.filter(|_| net.interface.is_some() || !inside.is_empty()) {
        let listed = &config.dhcp.interfaces;
        if listed.is_empty() {
            let how = format!("directly, on {name}, through the unbound DHCP socket (dhcp.interfaces is empty)");
            let arrival = Arrival { iface: None, iface_addrs: vec![], local_addrs, src: None, boot_server: false };
            return Ok((arrival, Ipv4Addr::UNSPECIFIED, how));
        }
        if !listed.contains(&name) {
            return Err(format!("no answer: no DHCP socket on {name} (dhcp.interfaces lists {})", listed.join(", ")));
        }
        let iface_addrs = ifaces.iter().filter(|i| i.name == name).flat_map(|i| i.v4.iter().map(|(ip, _)| *ip));
        let arrival = Arrival {
            iface: Some(name.clone()),
            iface_addrs: iface_addrs.collect(),
            local_addrs,
            src: None,
            boot_server: false,
        };
        return Ok((arrival, Ipv4Addr::UNSPECIFIED, format!("directly, on its interface {name}")));
    }
    let relay = net.router.unwrap_or_else(|| {
        let base = u32::from(net.subnet.network());
        Ipv4Addr::from(base.saturating_add(1))
    });
    // A relay sends from its own address on the server's side: the first
    // trusted one stands for it.
    let from = config.dhcp.trusted_relays.first().map_or(IpAddr::V4(relay), |n| n.addr());
    let how =
        format!("through a DHCP relay for {relay} (this host has no address in {}), sending from {from}", net.subnet);
    let arrival = Arrival { iface: None, iface_addrs: vec![], local_addrs, src: Some(from), boot_server: false };
    Ok((arrival, relay, how))
}

/// The boot file, as its fetch would go: over TFTP from the root (the same
/// confinement the TFTP server applies), or an HTTP URL of ours.
fn fetch(config: &Config, base: &str, file: &str) -> String {
    let loader = |name: &str, over: &str| {
        if over == "TFTP" && !config.tftp.enabled {
            return "TFTP is off (tftp.enabled = false): the firmware cannot fetch it".to_string();
        }
        let root = &config.tftp.root;
        let chain = Chain::from_config(config);
        match RootHandler::new(root, Some(chain.clone()), Arc::default(), None).map(|h| h.target(Path::new(name))) {
            Err(e) => format!("the TFTP root {} cannot be read: {e}", root.display()),
            Ok(Err(async_tftp::packet::Error::PermissionDenied)) => {
                format!("refused over {over}: {name} leads out of the TFTP root {}", root.display())
            }
            Ok(Err(_)) if name == grub::SHIM_X64 => format!(
                "missing: {over} would answer file not found (boot.shim_x64 {} is not there: install shim-signed)",
                chain.shim_x64.display()
            ),
            Ok(Err(_)) if pxelinux::is_pxelinux(name) => format!(
                "missing: {over} would answer file not found ({name} is not in boot.pxelinux_dir {}: install pxelinux)",
                chain.pxelinux_dir.display()
            ),
            Ok(Err(_)) => {
                format!("missing: {over} would answer file not found ({name} is not under {})", root.display())
            }
            Ok(Ok(Target::File(path))) => {
                let len = std::fs::metadata(&path).map(|m| m.len()).unwrap_or_default();
                let then = if name == grub::SHIM_X64 {
                    match &chain.grub_x64 {
                        g if g.is_file() => format!("; shim then loads {} as {}", g.display(), grub::GRUB_X64),
                        g => format!(
                            "; but shim's next stage, boot.grub_x64 {}, is missing: install grub-efi-amd64-signed",
                            g.display()
                        ),
                    }
                } else if pxelinux::is_pxelinux(name) {
                    match chain.syslinux_modules.join("ldlinux.c32") {
                        m if m.is_file() => format!("; PXELINUX then loads {} as ldlinux.c32", m.display()),
                        m => format!(
                            "; but PXELINUX's first module, {}, is missing: install syslinux-common",
                            m.display()
                        ),
                    }
                } else {
                    String::new()
                };
                format!("{over} serves {} ({len} bytes){then}", path.display())
            }
            Ok(Ok(_)) => format!("{over} serves text Fulcrum renders"),
        }
    };
    if let Some(rest) = file.strip_prefix(base) {
        if let Some(name) = rest.strip_prefix("/boot/loaders/") {
            return loader(name, "HTTP");
        }
        if rest.starts_with("/boot/ipxe") {
            return "HTTP serves the iPXE script below".into();
        }
        return format!("HTTP {rest}");
    }
    if file.contains("://") {
        return format!("{file} is not one of Fulcrum's URLs");
    }
    loader(file, "TFTP")
}

/// Which bootenv the node's script comes from, and why.
fn script_bootenv<'w>(world: &'w World, config: &'w Config, node: Option<&'w Node>) -> (String, String) {
    let discovery = config.boot.discovery_bootenv.as_str();
    let Some(n) = node else {
        return (
            discovery.into(),
            format!("the MAC is no node's: strangers boot {discovery} (boot.discovery_bootenv)"),
        );
    };
    let env = world.table::<Bootenv>().get(&n.bootenv);
    if n.protected && env.is_none_or(|e| e.kind != BootKind::Local) {
        return (
            "local".into(),
            format!("the node is protected: it boots from its disk, not its bootenv {}", n.bootenv),
        );
    }
    match env {
        Some(e) if e.kind == BootKind::Image => (
            discovery.into(),
            format!("bootenv {} deploys an image: the discovery image boots to write it to the disk", n.bootenv),
        ),
        _ => {
            (n.bootenv.clone(), format!("the node's bootenv is {} (provision state {})", n.bootenv, n.provision_state))
        }
    }
}

/// The rules behind one firmware's answer.
fn rules(world: &World, config: &Config, net: &Network, node: Option<&Node>, fw: Firmware, uefi: bool) -> Vec<String> {
    let mut why = Vec::new();
    match node {
        Some(n) => {
            why.push(format!("the MAC is node {}'s", n.name));
            if n.network.as_deref() != Some(net.name.as_str()) {
                why.push(format!("the node's address is not on network {}: it is answered as a stranger", net.name));
            }
        }
        None => why.push(format!("the MAC is no node's; network {} answers strangers: {}", net.name, policy(net))),
    }
    if net.dhcp == DhcpMode::Proxy {
        why.push(format!(
            "network {} is proxy: another server gives the address, Fulcrum only the boot part",
            net.name
        ));
    }
    // DHCP answers a node whose address is not on this network as a
    // stranger: so do the rules below.
    let node = node.filter(|n| n.ipv4.is_some_and(|ip| net.subnet.contains(&ip)));
    let kind = node.and_then(|n| world.table::<Bootenv>().get(&n.bootenv)).map(|e| e.kind);
    let protected = node.is_some_and(|n| n.protected);
    let from_disk = protected || kind == Some(BootKind::Local);
    let (chosen, by) = match (node.and_then(|n| n.uefi_loader.as_deref()), &net.uefi_loader) {
        (Some(l), _) => (l.to_string(), "the node's uefi_loader".to_string()),
        (None, Some(l)) => (l.clone(), format!("network {}'s uefi_loader", net.name)),
        _ => (config.dhcp.uefi_x64_loader.clone(), "dhcp.uefi_x64_loader".to_string()),
    };
    let (chosen, by) = match protected && chosen != grub::SHIM_X64 {
        true => (config.dhcp.uefi_x64_loader.clone(), "dhcp.uefi_x64_loader".to_string()),
        false => (chosen, by),
    };
    let shim = chosen == grub::SHIM_X64;
    let (bios, bios_by) = match (node.and_then(|n| n.bios_loader.as_deref()), &net.bios_loader) {
        _ if protected => (config.dhcp.bios_loader.clone(), "dhcp.bios_loader".to_string()),
        (Some(l), _) => (l.to_string(), "the node's bios_loader".to_string()),
        (None, Some(l)) => (l.clone(), format!("network {}'s bios_loader", net.name)),
        _ => (config.dhcp.bios_loader.clone(), "dhcp.bios_loader".to_string()),
    };
    let pxelinux_rule = || {
        format!(
            "{bios} is PXELINUX: it reads pxelinux.cfg/01-<mac>, rendered from the node's bootenv when it asks{}",
            if bios == pxelinux::LPXELINUX {
                ", and fetches kernel and initrds over HTTP"
            } else {
                ", and fetches kernel and initrds over TFTP"
            }
        )
    };
    // UEFI PXE booting from its disk: GRUB chainloads the disk's loader.
    let x64_pxe = matches!(fw, Firmware::Pxe { arch: 7 | 9 });
    let grub_to_disk = from_disk && x64_pxe && !shim && config.boot.has_grub();
    let uefi_from_disk = if shim && x64_pxe {
        "the Secure Boot shim loads GRUB, whose local config chainloads the disk's own loader"
    } else if grub_to_disk {
        "UEFI PXE firmware gets GRUB (boot.grub_x64), whose local config chainloads the disk's own loader at once"
    } else {
        "UEFI firmware still gets iPXE (left without a boot file it retries the network for minutes); its local script exits to the firmware's next boot entry, the disk"
    };
    if protected {
        why.push(if uefi {
            format!("the node is protected: it boots from its disk ({uefi_from_disk})")
        } else {
            "the node is protected: BIOS firmware gets no boot file and goes on to its disk".into()
        });
    } else if kind == Some(BootKind::Local) {
        let env = node.map_or("", |n| n.bootenv.as_str());
        if uefi {
            why.push(format!("bootenv {env} is local: {uefi_from_disk}"));
        } else {
            why.push(format!("bootenv {env} is local: BIOS firmware gets no boot file and goes on to its disk"));
        }
    }
    if from_disk && !uefi {
        return why;
    }
    match fw {
        Firmware::Pxe { arch: 7 | 9 } if grub_to_disk => {}
        Firmware::Pxe { arch: 7 | 9 } | Firmware::HttpBoot { arch: 0x10 } => {
            why.push(format!("the x64 UEFI loader is {chosen} ({by})"));
            if shim {
                why.push("shimx64.efi is the Secure Boot chain: shim, then Debian's signed GRUB, then the GRUB config rendered from the node's bootenv".into());
            }
            if matches!(fw, Firmware::HttpBoot { .. }) && crate::dhcp::pxe::is_grub_chain(&chosen) {
                why.push("UEFI HTTP boot gets no boot URL: the chain's GRUB (2.06) reads no config when it is HTTP-booted and would stop at its prompt; the firmware moves on to PXE, where the chain boots over TFTP".into());
            }
        }
        Firmware::Pxe { arch: 0 } => {
            why.push(format!("the BIOS loader is {bios} ({bios_by})"));
            if pxelinux::is_pxelinux(&bios) {
                why.push(pxelinux_rule());
            }
        }
        Firmware::Pxe { arch: 0x0b } => {
            why.push(format!("the arm64 UEFI loader is {} (dhcp.uefi_arm64_loader)", config.dhcp.uefi_arm64_loader))
        }
        Firmware::Ipxe if !uefi && pxelinux::is_pxelinux(&bios) => {
            why.push(format!(
                "iPXE on BIOS gets {bios} ({bios_by}) as PXE firmware would: PXELINUX runs on iPXE's PXE stack and asks DHCP nothing, so no chainload loop forms"
            ));
            why.push(pxelinux_rule());
        }
        Firmware::Ipxe => why.push("iPXE gets the URL of its script, rendered when it asks".into()),
        _ => {}
    }
    why
}

fn policy(net: &Network) -> &'static str {
    match net.unknown_clients {
        UnknownClients::Serve => "serve (an address from the dynamic range, and the discovery boot)",
        UnknownClients::Discovery => "discovery (network-boot firmware and the discovery agent only)",
        UnknownClients::Ignore => "ignore (only nodes are answered)",
    }
}

/// Explains boot answers under one configuration.
#[derive(Debug, Clone)]
pub(crate) struct Explainer {
    config: Arc<Config>,
}

impl Explainer {
    pub(crate) fn new(config: Arc<Config>) -> Explainer {
        Explainer { config }
    }

    /// Explains what `who` gets now, in `world`. `network`: the network a
    /// stranger's MAC is on, when there are several.
    pub(crate) fn explain(&self, world: &World, who: &Who, network: Option<&str>) -> Result<Explanation, ExplainError> {
        explain(world, &self.config, who, network)
    }
}

fn explain(world: &World, config: &Config, who: &Who, network: Option<&str>) -> Result<Explanation, ExplainError> {
    let nodes = world.table::<Node>();
    let (mac, node) = match who {
        Who::Mac(_, spelled) if nodes.contains(spelled.as_str()) => {
            let n = nodes.get(spelled.as_str()).ok_or_else(|| ExplainError::NoSuchNode(spelled.clone()))?;
            (*n.macs.first().ok_or_else(|| ExplainError::NoMac(spelled.clone()))?, Some(&**n))
        }
        Who::Mac(m, _) => (*m, nodes.by_mac(m).map(|n| &**n)),
        Who::Node(name) => {
            let n = nodes.get(name.as_str()).ok_or_else(|| ExplainError::NoSuchNode(name.clone()))?;
            (*n.macs.first().ok_or_else(|| ExplainError::NoMac(name.clone()))?, Some(&**n))
        }
    };
    let nets = world.table::<Network>();
    let net = match (network, node.and_then(|n| n.network.as_deref())) {
        (Some(name), _) | (None, Some(name)) => {
            nets.get(name).ok_or_else(|| ExplainError::NoSuchNetwork(name.to_string()))?
        }
        (None, None) => match nets.len() {
            0 => return Err(ExplainError::NoNetworks),
            1 => nets.iter().next().ok_or(ExplainError::NoNetworks)?,
            n => return Err(ExplainError::WhichNetwork(n)),
        },
    };
    let ifaces = iface::list();
    let heard = if config.dhcp.enabled {
        reach(net, config, &ifaces)
    } else {
        Err("no answer: DHCP is off (dhcp.enabled = false)".to_string())
    };
    let (arrival, giaddr, reached, silent) = match heard {
        Ok((a, g, how)) => (a, g, how, None),
        Err(why) => (
            Arrival {
                local_addrs: ifaces.iter().flat_map(|i| i.v4.iter().map(|(ip, _)| *ip)).collect(),
                ..Arrival::default()
            },
            Ipv4Addr::UNSPECIFIED,
            why.clone(),
            Some(why),
        ),
    };
    let offers = Offers::default();
    let ctx = Ctx { world, config, offers: &offers, arrival: &arrival, now: now() };
    let server = net.server.or_else(|| arrival.local_addrs.iter().copied().find(|ip| net.subnet.contains(ip)));
    let base = config.base_url(IpAddr::V4(server.unwrap_or(Ipv4Addr::UNSPECIFIED)));
    let mut answers = Vec::new();
    for (name, vendor, arch, ipxe) in PROBES {
        let msg = discover(mac, giaddr, vendor, arch, ipxe);
        let fw = pxe::classify(msg.opts());
        let uefi = pxe::is_uefi(fw, msg.opts());
        let request = format!("DISCOVER from {}", pxe::describe(msg.opts()));
        let reply = match (&silent, || ctx.decide(&msg)) {
            (Some(why), _) => Err(why.clone()),
            (None, decide) => match decide() {
                Decision::Reply(m) => Ok(m),
                Decision::Commit(c) => Ok(c.ack),
                Decision::Ignore(skip) => Err(format!("no answer: {}", skip.why())),
                Decision::Release { .. } | Decision::Decline { .. } => Err("no answer".into()),
            },
        };
        let because = rules(world, config, net, node, fw, uefi);
        let answer = match reply {
            Ok(m) => {
                let boot_file = reply::boot_file(&m);
                FirmwareAnswer {
                    firmware: name.into(),
                    request,
                    dhcp: reply::summary(&m),
                    address: Some(m.yiaddr()).filter(|a| !a.is_unspecified()),
                    fetch: boot_file.as_deref().map(|f| fetch(config, &base, f)),
                    boot_file,
                    because,
                }
            }
            Err(dhcp) => FirmwareAnswer {
                firmware: name.into(),
                request,
                dhcp,
                address: None,
                boot_file: None,
                fetch: None,
                because,
            },
        };
        answers.push(answer);
    }
    let (answers_v6, v6_note) = match answers_v6(world, config, net, mac, &ifaces) {
        Ok(a) => (a, None),
        Err(why) => (Vec::new(), Some(why)),
    };
    let (bootenv, because) = script_bootenv(world, config, node);
    let files = BootFiles::new(config.files_dir(), config.boot.discovery_bootenv.clone());
    let lacks = world
        .table::<Bootenv>()
        .get(&bootenv)
        .map(|env| files.all_unmet(env, node.map_or(&Params::new(), |n| &n.params)))
        .unwrap_or_default()
        .iter()
        .map(ToString::to_string)
        .collect();
    let token = node.map(|n| n.token.expose()).filter(|t| !t.is_empty());
    let hidden = |s: String| match token {
        Some(t) => s.replace(t, "<node token>"),
        None => s,
    };
    let script = render::ipxe_script(world, &config.boot.discovery_bootenv, &base, mac).map_err(|e| e.to_string());
    let script = script.map(hidden);
    let via_grub = answers.iter().any(|a| matches!(a.boot_file.as_deref(), Some(grub::SHIM_X64 | grub::GRUB_X64)));
    let grub = via_grub.then(|| {
        let config = render::grub_config(world, &config.boot.discovery_bootenv, &base, mac).map_err(|e| e.to_string());
        let config = config.map(hidden);
        ScriptAnswer {
            bootenv: bootenv.clone(),
            because: because.clone(),
            error: config.as_ref().err().cloned(),
            script: config.ok(),
        }
    });
    let via_pxelinux = answers.iter().any(|a| a.boot_file.as_deref().is_some_and(pxelinux::is_pxelinux));
    let pxelinux = via_pxelinux.then(|| {
        let http = answers.iter().any(|a| a.boot_file.as_deref() == Some(pxelinux::LPXELINUX));
        let text = render::pxelinux_config(world, &config.boot.discovery_bootenv, &base, mac, http);
        let text = text.map_err(|e| e.to_string()).map(hidden);
        ScriptAnswer {
            bootenv: bootenv.clone(),
            because: because.clone(),
            error: text.as_ref().err().cloned(),
            script: text.ok(),
        }
    });
    let would_change = match node {
        Some(n) => {
            let mut w = vec![
                format!("fulcrum node set-bootenv {} ENV: the next script (and DHCP answer) comes from ENV", n.name),
                format!("a lifecycle verb (fulcrum node provision {} VERB) moves it and sets its bootenv", n.name),
            ];
            if n.protected {
                w.insert(0, format!("fulcrum node protect {} --off: until then it boots only from its disk", n.name));
            }
            w.push("the node's or the network's uefi_loader picks another x64 UEFI loader".into());
            w.push("the node's or the network's bios_loader picks another BIOS loader (lpxelinux.0: PXELINUX)".into());
            w
        }
        None => vec![
            format!("fulcrum node create NAME --mac {mac}: it becomes a node and boots that node's bootenv"),
            format!(
                "booting the discovery image registers it as a node on its own (bootenv {})",
                config.boot.discovery_bootenv
            ),
            format!("network {}'s unknown_clients policy decides whether strangers are answered", net.name),
        ],
    };
    Ok(Explanation {
        mac,
        node: node.map(|n| NodeFacts {
            name: n.name.clone(),
            ipv4: n.ipv4,
            bootenv: n.bootenv.clone(),
            provision_state: n.provision_state.to_string(),
            protected: n.protected,
            uefi_loader: n.uefi_loader.clone(),
            bios_loader: n.bios_loader.clone(),
        }),
        network: NetworkFacts {
            name: net.name.clone(),
            reached,
            dhcp: match net.dhcp {
                DhcpMode::Full => "full".into(),
                DhcpMode::Proxy => "proxy".into(),
            },
            unknown_clients: policy(net).into(),
            authoritative: net.authoritative,
        },
        answers,
        answers_v6,
        v6_note,
        script: ScriptAnswer { bootenv, because, error: script.as_ref().err().cloned(), script: script.ok() },
        grub,
        pxelinux,
        lacks,
        would_change,
    })
}
