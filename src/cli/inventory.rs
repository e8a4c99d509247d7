//! Client subcommands for the inventory: nodes, networks, bootenvs and
//! leases.

use std::net::Ipv4Addr;

use super::print;
use anyhow::Context;
use clap::Subcommand;
use reqwest::Method;

use super::client::Client;
use super::table;
use crate::api::wire::explain::{Explanation, TraceView};
use crate::api::wire::inventory::{
    BootDeviceRequest, BootenvBody, LeaseView, NetworkView, NewNetwork, NewNode, NodePatch, NodeView, PowerAnswer,
    PowerRequest, PowerTarget, ProvisionRequest, SetBootenv,
};
use crate::api::wire::inventory::{ImportReport, IsoImport};
use crate::types::mac::Mac;
use crate::types::port::{AgentId, SwitchPort};
use crate::types::power::BootDevice;
use crate::types::range::Range;
use crate::types::secret::{Handover, Secret};

/// `fulcrum node ...`
#[derive(Debug, Subcommand)]
pub(crate) enum NodeCmd {
    /// List nodes.
    List,
    /// Show one node.
    Show { name: String },
    /// Register a node.
    Create {
        /// The node's FQDN.
        name: String,
        /// MAC address (repeat for several NICs).
        #[arg(long = "mac", required = true)]
        macs: Vec<String>,
        /// Bootenv of its next network boot (default: the configured one).
        #[arg(long)]
        bootenv: Option<String>,
        /// Network to take its address from.
        #[arg(long)]
        network: Option<String>,
        /// Static IPv4 address instead of the next free one.
        #[arg(long)]
        address: Option<String>,
        /// Reserve it on a switch port: the relay's circuit-id (text, or
        /// `hex:` and colon-separated pairs).
        #[arg(long)]
        circuit_id: Option<String>,
        /// With --circuit-id: only from the relay sending this remote-id.
        #[arg(long, requires = "circuit_id")]
        remote_id: Option<String>,
        /// Its own x64 UEFI loader under the TFTP root (e.g. `ipxe.efi`).
        #[arg(long)]
        uefi_loader: Option<String>,
        /// Its own BIOS loader (e.g. `lpxelinux.0`: PXELINUX, its config
        /// rendered from the bootenv).
        #[arg(long)]
        bios_loader: Option<String>,
    },
    /// Reserve the node on a switch port (the machine a relay reports in
    /// it is this node, whatever its MAC), or with --clear no longer.
    SetPort {
        /// The node's FQDN.
        name: String,
        /// The relay's circuit-id (text, or `hex:` and colon-separated pairs).
        #[arg(long, required_unless_present = "clear", conflicts_with = "clear")]
        circuit_id: Option<String>,
        /// Only from the relay sending this remote-id.
        #[arg(long, requires = "circuit_id")]
        remote_id: Option<String>,
        /// Remove the reservation.
        #[arg(long)]
        clear: bool,
    },
    /// Set the bootenv of the node's next network boot.
    SetBootenv {
        /// The node's FQDN.
        name: String,
        /// The bootenv.
        bootenv: String,
    },
    /// Set or remove params of a node, the values its bootenvs' templates
    /// read as `params.NAME` (a bootenv may require some).
    SetParams {
        /// The node's FQDN.
        name: String,
        /// `NAME=VALUE` to set, `NAME=` to remove.
        #[arg(required = true, value_name = "NAME=VALUE")]
        params: Vec<String>,
    },
    /// Apply a provisioning verb (manage, inspect, provide, deploy,
    /// rebuild, undeploy, rescue, unrescue, adopt, abort) or report a step
    /// (wait, done, fail).
    Provision {
        /// The node's FQDN.
        name: String,
        /// The verb.
        verb: String,
        /// For deploy and rebuild: the bootenv to install.
        #[arg(long)]
        bootenv: Option<String>,
        /// For rescue: root's password in the rescue system (its consoles
        /// offer a login); at least 8 characters.
        #[arg(long, env = "FULCRUM_RESCUE_PASSWORD", hide_env_values = true)]
        rescue_password: Option<String>,
    },
    /// Switch a node's power through its driver (on, off, reboot: a cycle,
    /// or on when it is off, booting from the network) or ask it (status).
    Power {
        /// The node's FQDN.
        name: String,
        /// on, off, reboot or status.
        #[arg(value_parser = ["on", "off", "reboot", "status"])]
        action: String,
    },
    /// Set the device of a node's next boot (once) through its driver.
    BootDevice {
        /// The node's FQDN.
        name: String,
        /// pxe or disk.
        #[arg(value_parser = ["pxe", "disk"])]
        device: String,
    },
    /// Rename a node (its noderoles, runs and facts follow; its DNS names
    /// and IPv6 interface ID change at once).
    Rename {
        /// The node's FQDN now.
        name: String,
        /// Its new FQDN.
        new_name: String,
    },
    /// Delete a node.
    Delete { name: String },
    /// Why does this machine boot that? What DHCP, TFTP and HTTP would
    /// answer it now, for each kind of firmware, and which rule decided.
    Explain {
        /// The node's FQDN, or any MAC (a machine that is no node yet).
        who: String,
        /// The network a stranger's MAC is on, when there are several.
        #[arg(long)]
        network: Option<String>,
    },
    /// What the machine asked the boot services and what it got: DHCP,
    /// TFTP, HTTP and callbacks, oldest first.
    Trace {
        /// The node's FQDN.
        name: String,
    },
    /// Protect a node (a production machine: no verb may reboot it into
    /// another bootenv, and it always boots from its disk), or unprotect it.
    Protect {
        /// The node's FQDN.
        name: String,
        /// Unprotect it.
        #[arg(long)]
        off: bool,
    },
    /// Import nodes from an instackenv.json (TripleO's format) and manage them.
    Import(super::bulk::ImportArgs),
    /// Inspect the selected nodes (only those inspect applies to).
    Inspect(super::bulk::Selection),
    /// Provide the selected nodes: cleaning, then available.
    Provide(super::bulk::Selection),
    /// Deploy the selected nodes (`--bootenv` names what to install).
    Deploy(super::bulk::Selection),
    /// Apply any lifecycle verb to the selected nodes.
    Bulk {
        /// The verb (manage, inspect, provide, deploy, rebuild, undeploy, ...).
        verb: String,
        #[command(flatten)]
        select: super::bulk::Selection,
    },
}

/// `fulcrum network ...`
// Parsed once per process; boxing the big variant buys nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub(crate) enum NetworkCmd {
    /// List networks.
    List,
    /// Show one network.
    Show { name: String },
    /// Create a network, e.g. `fulcrum network create admin --subnet 10.0.0.0/24
    /// --router 10.0.0.1 --static 10.0.0.10-10.0.0.99 --dynamic 10.0.0.100-10.0.0.200
    /// --domain cluster.example`.
    Create {
        /// The network's name.
        name: String,
        /// The IPv4 subnet (`10.0.0.0/24`).
        #[arg(long)]
        subnet: String,
        /// START-END of the static (node) range.
        #[arg(long = "static")]
        static_range: String,
        /// START-END of the dynamic range for unknown clients.
        #[arg(long)]
        dynamic: Option<String>,
        /// The DNS domain nodes are named in.
        #[arg(long)]
        domain: String,
        /// The default gateway.
        #[arg(long)]
        router: Option<String>,
        /// `auto` or an explicit /64.
        #[arg(long)]
        v6prefix: Option<String>,
        /// Router advertisements: `on` (the default), `off` (a site router
        /// sends them) or `router` (Fulcrum is the IPv6 default router).
        #[arg(long, value_parser = ["on", "off", "router"])]
        ra: Option<String>,
        /// Let hosts configure addresses themselves too (SLAAC).
        #[arg(long)]
        slaac: bool,
        /// Another DHCP server may hold leases here: stay silent to
        /// requests for addresses Fulcrum has no record of.
        #[arg(long)]
        not_authoritative: bool,
        /// What clients that are no node get: `serve` (the default),
        /// `discovery` (network-boot firmware and the discovery agent only)
        /// or `ignore`.
        #[arg(long, value_parser = ["serve", "discovery", "ignore"])]
        unknown_clients: Option<String>,
        /// `proxy`: another DHCP server hands out the addresses here and
        /// Fulcrum answers network-boot clients with the boot part only.
        #[arg(long, value_parser = ["full", "proxy"])]
        dhcp: Option<String>,
        /// The x64 UEFI loader on this network (e.g. `ipxe.efi`).
        #[arg(long)]
        uefi_loader: Option<String>,
        /// The BIOS loader on this network (e.g. `lpxelinux.0`).
        #[arg(long)]
        bios_loader: Option<String>,
        /// The admin node's own address on this network.
        #[arg(long)]
        server: Option<String>,
        /// The admin node's interface on this network.
        #[arg(long)]
        interface: Option<String>,
        /// DNS server handed to clients (repeat for several).
        #[arg(long = "dns")]
        dns_servers: Vec<String>,
        /// Lease time of dynamic leases.
        #[arg(long)]
        lease_seconds: Option<u32>,
        /// The link's MTU.
        #[arg(long)]
        mtu: Option<u16>,
    },
    /// Delete a network no node uses.
    Delete { name: String },
}

/// `fulcrum bootenv ...`
#[derive(Debug, Subcommand)]
pub(crate) enum BootenvCmd {
    /// List bootenvs.
    List,
    /// Show one bootenv.
    Show { name: String },
    /// Make a bootenv from a distribution's install ISO (Ubuntu
    /// live-server, Debian, Rocky, AlmaLinux): uploaded with a progress
    /// bar, or read where it is on the admin node with --on-server.
    Import {
        /// The ISO.
        file: std::path::PathBuf,
        /// The bootenv's name (default: the distribution's, e.g. `ubuntu-24.04`).
        #[arg(long)]
        name: Option<String>,
        /// The file is on the admin node already: send its path, not its bytes.
        #[arg(long)]
        on_server: bool,
    },
}

/// `fulcrum lease ...`
#[derive(Debug, Subcommand)]
pub(crate) enum LeaseCmd {
    /// List DHCP leases (both families unless one is named).
    List {
        /// 4 or 6.
        #[arg(long, value_parser = ["4", "6"])]
        family: Option<String>,
        #[arg(long)]
        network: Option<String>,
        #[arg(long)]
        node: Option<String>,
        /// active, expired or declined.
        #[arg(long, value_parser = ["active", "expired", "declined"])]
        state: Option<String>,
    },
}

/// Parses `--flag VALUE`, naming the flag when it is wrong.
fn arg<T: std::str::FromStr>(flag: &str, v: &str) -> anyhow::Result<T>
where
    T::Err: std::fmt::Display,
{
    v.parse().map_err(|e| anyhow::anyhow!("--{flag} `{v}`: {e}"))
}

fn range(flag: &str, s: &str) -> anyhow::Result<Range> {
    let (a, b) =
        s.split_once('-').with_context(|| format!("--{flag} `{s}`: expected START-END, e.g. 10.0.0.10-10.0.0.99"))?;
    Ok(Range { start: arg(flag, a.trim())?, end: arg(flag, b.trim())? })
}

pub(crate) fn node_table(nodes: &[NodeView]) -> String {
    table::render(&["NAME", "MACS", "ADDRESSES", "BOOTENV", "ALIVE", "AVAILABLE", "STATE", "PORT"], nodes, |n| {
        vec![
            n.name.clone(),
            table::list(&n.macs),
            table::list(&n.addresses),
            n.bootenv.clone(),
            n.alive.to_string(),
            n.available.to_string(),
            n.provision_state.to_string(),
            table::opt(n.port.as_ref()),
        ]
    })
}

fn network_table(nets: &[NetworkView]) -> String {
    let r = |r: &Option<Range>| r.map_or_else(|| "-".into(), |r| format!("{}-{}", r.start, r.end));
    table::render(&["NAME", "SUBNET", "STATIC", "DYNAMIC", "DOMAIN", "IPV6"], nets, |v| {
        let n = &v.network;
        vec![
            n.name.clone(),
            n.subnet.to_string(),
            r(&Some(n.static_range)),
            r(&n.dynamic),
            n.domain.clone(),
            table::opt(v.v6_network.as_ref()),
        ]
    })
}

/// An explanation for a person.
fn explanation(e: &Explanation) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    match &e.node {
        Some(n) => {
            let ip = n.ipv4.map(|ip| format!(" ({ip})")).unwrap_or_default();
            let protected = if n.protected { ", protected" } else { "" };
            let _ = writeln!(
                out,
                "{}: node {}{ip}, bootenv {}, provision state {}{protected}",
                e.mac, n.name, n.bootenv, n.provision_state
            );
        }
        None => {
            let _ = writeln!(out, "{}: no node has this MAC", e.mac);
        }
    }
    let net = &e.network;
    let _ = writeln!(
        out,
        "network {}: reached {}; dhcp {}; strangers: {}",
        net.name, net.reached, net.dhcp, net.unknown_clients
    );
    for a in &e.answers {
        let _ = writeln!(out, "\n{:<15} {}", a.firmware, a.request);
        let _ = writeln!(out, "{:<15} DHCP  {}", "", a.dhcp);
        if let Some(f) = &a.fetch {
            let _ = writeln!(out, "{:<15} fetch {f}", "");
        }
        for why in &a.because {
            let _ = writeln!(out, "{:<15} - {why}", "");
        }
    }
    if let Some(note) = &e.v6_note {
        let _ = writeln!(out, "\nDHCPv6: {note}");
    }
    for a in &e.answers_v6 {
        let _ = writeln!(out, "\n{:<15} {}", format!("{} v6", a.firmware), a.request);
        let _ = writeln!(out, "{:<15} DHCPv6 {}", "", a.dhcp);
    }
    let s = &e.script;
    let _ = writeln!(out, "\niPXE script: bootenv {} ({})", s.bootenv, s.because);
    for l in s.script.iter().flat_map(|t| t.lines()) {
        let _ = writeln!(out, "  | {l}");
    }
    if let Some(why) = &s.error {
        let _ = writeln!(out, "  cannot be rendered: {why}");
    }
    let dashed = e.mac.to_string().replace(':', "-");
    let configs = [
        (&e.grub, format!("GRUB config (grub/fulcrum/{}.cfg)", e.mac)),
        (&e.pxelinux, format!("PXELINUX config (pxelinux.cfg/01-{dashed})")),
    ];
    for (config, title) in configs {
        let Some(g) = config else { continue };
        let _ = writeln!(out, "\n{title}: bootenv {}", g.bootenv);
        for l in g.script.iter().flat_map(|t| t.lines()) {
            let _ = writeln!(out, "  | {l}");
        }
        if let Some(why) = &g.error {
            let _ = writeln!(out, "  cannot be rendered: {why}");
        }
    }
    if !e.lacks.is_empty() {
        let _ = writeln!(out, "\nbootenv {} lacks (its boot would fail):", s.bootenv);
        for l in &e.lacks {
            let _ = writeln!(out, "  - {l}");
        }
    }
    let _ = writeln!(out, "\nto change it:");
    for w in &e.would_change {
        let _ = writeln!(out, "  - {w}");
    }
    out
}

/// An import for a person.
fn import_summary(r: &ImportReport) -> String {
    let verb = if r.created { "created" } else { "updated" };
    let mut out = format!("bootenv {} {verb}: {} from {}\n", r.bootenv, r.distro.label, r.source);
    for f in &r.files {
        out += &format!("  {:<40} {:>12} bytes  sha256 {}\n", format!("{}{}", r.directory, f.path), f.bytes, f.sha256);
    }
    if r.tree_files > 0 {
        out += &format!("  {}tree/: {} files, {} bytes\n", r.directory, r.tree_files, r.tree_bytes);
    }
    out
}

/// Unix milliseconds as RFC 3339 UTC.
fn when(ms: u64) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms);
    humantime::format_rfc3339_millis(t).to_string()
}

fn trace_table(t: &TraceView) -> String {
    if t.events.is_empty() {
        return format!("{}: nothing traced yet (no DHCP, TFTP, HTTP or callback from its machine)\n", t.node);
    }
    table::render(&["TIME", "SERVICE", "CLIENT", "REQUEST", "ANSWER"], &t.events, |e| {
        vec![when(e.at_ms), table::word(&e.service), table::opt(e.client), e.request.clone(), e.answer.clone()]
    })
}

fn bootenv_table(envs: &[BootenvBody]) -> String {
    table::render(&["NAME", "KIND", "OS", "KERNEL", "DESCRIPTION"], envs, |b| {
        vec![b.name.clone(), table::word(&b.kind), b.os.clone(), table::opt(b.kernel.as_ref()), b.description.clone()]
    })
}

/// The port `--circuit-id` and `--remote-id` name.
fn switch_port(circuit: &str, remote: Option<&str>) -> anyhow::Result<SwitchPort> {
    let id = |flag: &str, v: &str| AgentId::parse(v).with_context(|| format!("--{flag} `{v}`"));
    Ok(SwitchPort {
        circuit_id: id("circuit-id", circuit)?,
        remote_id: remote.map(|r| id("remote-id", r)).transpose()?,
    })
}

/// Runs `fulcrum node ...`.
pub(crate) async fn node(c: &Client, json_out: bool, cmd: NodeCmd) -> anyhow::Result<()> {
    let one = |n: &NodeView| node_table(std::slice::from_ref(n));
    match cmd {
        NodeCmd::List => print(json_out, &c.get::<Vec<NodeView>>("/api/v1/nodes").await?, |v| node_table(v)),
        NodeCmd::Show { name } => print(json_out, &c.get::<NodeView>(&format!("/api/v1/nodes/{name}")).await?, one),
        NodeCmd::Explain { who, network } => {
            let query = network.map(|n| format!("?network={n}")).unwrap_or_default();
            print(json_out, &c.get::<Explanation>(&format!("/api/v1/explain/{who}{query}")).await?, explanation)
        }
        NodeCmd::Trace { name } => {
            print(json_out, &c.get::<TraceView>(&format!("/api/v1/nodes/{name}/trace")).await?, trace_table)
        }
        NodeCmd::Create { name, macs, bootenv, network, address, circuit_id, remote_id, uefi_loader, bios_loader } => {
            let body = NewNode {
                name,
                macs: macs.iter().map(|m| arg::<Mac>("mac", m)).collect::<anyhow::Result<_>>()?,
                bootenv,
                network,
                address: address.as_deref().map(|a| arg::<Ipv4Addr>("address", a)).transpose()?,
                available: None,
                power: None,
                port: circuit_id.map(|circuit| switch_port(&circuit, remote_id.as_deref())).transpose()?,
                uefi_loader,
                bios_loader,
                params: Default::default(),
            };
            print(json_out, &c.send::<_, NodeView>(Method::POST, "/api/v1/nodes", Some(&body)).await?, one)
        }
        NodeCmd::SetPort { name, circuit_id, remote_id, clear: _ } => {
            let port = circuit_id.map(|circuit| switch_port(&circuit, remote_id.as_deref())).transpose()?;
            let body = NodePatch { port: Some(port), ..NodePatch::default() };
            let path = format!("/api/v1/nodes/{name}");
            print(json_out, &c.send::<_, NodeView>(Method::PATCH, &path, Some(&body)).await?, one)
        }
        NodeCmd::SetBootenv { name, bootenv } => {
            let path = format!("/api/v1/nodes/{name}/bootenv");
            print(json_out, &c.send::<_, NodeView>(Method::PUT, &path, Some(&SetBootenv { bootenv })).await?, one)
        }
        NodeCmd::SetParams { name, params } => {
            let mut changes = std::collections::BTreeMap::new();
            for p in params {
                let Some((k, v)) = p.split_once('=') else {
                    anyhow::bail!("`{p}`: expected NAME=VALUE (NAME= removes it)");
                };
                changes.insert(k.to_string(), (!v.is_empty()).then(|| v.to_string()));
            }
            let body = NodePatch { params: Some(changes), ..NodePatch::default() };
            let path = format!("/api/v1/nodes/{name}");
            print(json_out, &c.send::<_, NodeView>(Method::PATCH, &path, Some(&body)).await?, one)
        }
        NodeCmd::Provision { name, verb, bootenv, rescue_password } => {
            let path = format!("/api/v1/nodes/{name}/states/provision");
            let rescue_password = rescue_password.map(|p| Handover::of(&Secret::new(p)));
            let body = ProvisionRequest { target: verb, bootenv, rescue_password };
            print(json_out, &c.send::<_, NodeView>(Method::PUT, &path, Some(&body)).await?, one)
        }
        NodeCmd::Power { name, action } => {
            let target = match action.as_str() {
                "on" => PowerTarget::On,
                "off" => PowerTarget::Off,
                "reboot" => PowerTarget::Reboot,
                _ => PowerTarget::Status,
            };
            let path = format!("/api/v1/nodes/{name}/states/power");
            let answer = c.send::<_, PowerAnswer>(Method::PUT, &path, Some(&PowerRequest { target })).await?;
            print(json_out, &answer, |a| format!("{}: {}\n", a.node.name, a.driver_said))
        }
        NodeCmd::BootDevice { name, device } => {
            let boot_device = if device == "disk" { BootDevice::Disk } else { BootDevice::Pxe };
            let path = format!("/api/v1/nodes/{name}/management/boot_device");
            let answer = c.send::<_, PowerAnswer>(Method::PUT, &path, Some(&BootDeviceRequest { boot_device })).await?;
            print(json_out, &answer, |a| format!("{}: {}\n", a.node.name, a.driver_said))
        }
        NodeCmd::Rename { name, new_name } => {
            let body = NodePatch { name: Some(new_name), ..NodePatch::default() };
            print(
                json_out,
                &c.send::<_, NodeView>(Method::PATCH, &format!("/api/v1/nodes/{name}"), Some(&body)).await?,
                one,
            )
        }
        NodeCmd::Protect { name, off } => {
            let body = NodePatch { protected: Some(!off), ..NodePatch::default() };
            let path = format!("/api/v1/nodes/{name}");
            print(json_out, &c.send::<_, NodeView>(Method::PATCH, &path, Some(&body)).await?, one)
        }
        NodeCmd::Import(args) => super::bulk::import(c, json_out, &args).await?,
        NodeCmd::Inspect(sel) => super::bulk::run(c, json_out, "inspect", &sel).await?,
        NodeCmd::Provide(sel) => super::bulk::run(c, json_out, "provide", &sel).await?,
        NodeCmd::Deploy(sel) => super::bulk::run(c, json_out, "deploy", &sel).await?,
        NodeCmd::Bulk { verb, select } => super::bulk::run(c, json_out, &verb, &select).await?,
        NodeCmd::Delete { name } => {
            c.send_empty(Method::DELETE, &format!("/api/v1/nodes/{name}")).await?;
            if !json_out {
                println!("deleted node {name}");
            }
        }
    }
    Ok(())
}

/// Runs `fulcrum network ...`.
pub(crate) async fn network(c: &Client, json_out: bool, cmd: NetworkCmd) -> anyhow::Result<()> {
    let one = |n: &NetworkView| network_table(std::slice::from_ref(n));
    match cmd {
        NetworkCmd::List => {
            print(json_out, &c.get::<Vec<NetworkView>>("/api/v1/networks").await?, |v| network_table(v))
        }
        NetworkCmd::Show { name } => {
            print(json_out, &c.get::<NetworkView>(&format!("/api/v1/networks/{name}")).await?, one)
        }
        NetworkCmd::Create {
            name,
            subnet,
            static_range,
            dynamic,
            domain,
            router,
            v6prefix,
            ra,
            slaac,
            not_authoritative,
            unknown_clients,
            dhcp,
            uefi_loader,
            bios_loader,
            server,
            interface,
            dns_servers,
            lease_seconds,
            mtu,
        } => {
            let body = NewNetwork {
                name,
                subnet: arg("subnet", &subnet)?,
                router: router.as_deref().map(|r| arg("router", r)).transpose()?,
                dynamic: dynamic.as_deref().map(|d| range("dynamic", d)).transpose()?,
                static_range: range("static", &static_range)?,
                domain,
                dns_servers: dns_servers.iter().map(|d| arg("dns", d)).collect::<anyhow::Result<_>>()?,
                v6prefix: v6prefix.as_deref().map(|p| arg("v6prefix", p)).transpose()?,
                ra: ra.as_deref().map(|r| serde_json::from_value(serde_json::Value::from(r))).transpose()?,
                slaac: slaac.then_some(true),
                authoritative: not_authoritative.then_some(false),
                unknown_clients: unknown_clients
                    .as_deref()
                    .map(|u| serde_json::from_value(serde_json::Value::from(u)))
                    .transpose()?,
                dhcp: dhcp.as_deref().map(|m| serde_json::from_value(serde_json::Value::from(m))).transpose()?,
                uefi_loader,
                bios_loader,
                interface,
                server: server.as_deref().map(|s| arg("server", s)).transpose()?,
                lease_seconds,
                mtu,
            };
            print(json_out, &c.send::<_, NetworkView>(Method::POST, "/api/v1/networks", Some(&body)).await?, one)
        }
        NetworkCmd::Delete { name } => {
            c.send_empty(Method::DELETE, &format!("/api/v1/networks/{name}")).await?;
            if !json_out {
                println!("deleted network {name}");
            }
        }
    }
    Ok(())
}

/// Runs `fulcrum bootenv ...`.
pub(crate) async fn bootenv(c: &Client, json_out: bool, cmd: BootenvCmd) -> anyhow::Result<()> {
    match cmd {
        BootenvCmd::List => {
            print(json_out, &c.get::<Vec<BootenvBody>>("/api/v1/bootenvs").await?, |v| bootenv_table(v))
        }
        BootenvCmd::Show { name } => {
            let env = c.get::<BootenvBody>(&format!("/api/v1/bootenvs/{name}")).await?;
            print(json_out, &env, |b| bootenv_table(std::slice::from_ref(b)))
        }
        BootenvCmd::Import { file, name, on_server } => {
            let report: ImportReport = if on_server {
                let path = std::fs::canonicalize(&file).with_context(|| format!("{}", file.display()))?;
                let body = IsoImport { path: path.display().to_string(), name };
                c.send(Method::POST, "/api/v1/bootenvs/import", Some(&body)).await?
            } else {
                super::upload::iso(c, &file, name.as_deref()).await?
            };
            print(json_out, &report, import_summary)
        }
    }
    Ok(())
}

/// Runs `fulcrum lease ...`.
pub(crate) async fn lease(c: &Client, json_out: bool, cmd: LeaseCmd) -> anyhow::Result<()> {
    match cmd {
        LeaseCmd::List { family, network, node, state } => {
            let query: Vec<String> = [("family", family), ("network", network), ("node", node), ("state", state)]
                .into_iter()
                .filter_map(|(k, v)| {
                    v.map(|v| {
                        format!("{k}={}", percent_encoding::utf8_percent_encode(&v, percent_encoding::NON_ALPHANUMERIC))
                    })
                })
                .collect();
            let path = if query.is_empty() {
                "/api/v1/leases".to_string()
            } else {
                format!("/api/v1/leases?{}", query.join("&"))
            };
            print(json_out, &c.get::<Vec<LeaseView>>(&path).await?, |v| {
                table::render(&["IP", "STATE", "CLIENT", "NETWORK", "NODE", "PORT", "EXPIRES"], v, |l| {
                    let client = match (&l.mac, &l.duid) {
                        (Some(mac), _) => mac.to_string(),
                        (None, Some(duid)) => format!("{duid} iaid {}", l.iaid.unwrap_or_default()),
                        (None, None) => "-".into(),
                    };
                    vec![
                        l.ip.to_string(),
                        format!("{:?}", l.state).to_lowercase(),
                        client,
                        l.network.clone(),
                        table::opt(l.node.as_ref().or(l.hostname.as_ref())),
                        table::opt(l.port.as_ref()),
                        l.expires_at.to_string(),
                    ]
                })
            })
        }
    }
    Ok(())
}
