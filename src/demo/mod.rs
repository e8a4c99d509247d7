//! `fulcrum demo`: starts a real Fulcrum server on loopback high ports with
//! a temporary data dir, creates a network, and drives simulated machines
//! through a whole first boot and a re-provisioning, over the real
//! protocols (DHCP through a relay, TFTP, HTTP), printing as it goes:
//!
//! PXE ROM DHCP -> TFTP loader -> iPXE DHCP -> boot script -> kernel and
//! initrd -> discovery registers the node -> operator sets a bootenv ->
//! the next boot follows the new bootenv at once.

mod engine;
pub mod relay;
mod tftp;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::time::Instant;

use anyhow::{bail, Context};
use reqwest::Method;

use crate::api::wire::engine::{Committed, DeploymentView, NewDeployment, NewNodeRole, NodeRoleView};
use crate::api::wire::inventory::{Discover, Discovered, NetworkView, NewNetwork, NodePatch, NodeView, SetBootenv};
use crate::cli::client::{Client, NO_BODY};
use crate::cli::table;
use crate::cli::trust::Trust;
use crate::config::Config;
use crate::engine::model::Attribs;
use crate::server;
use crate::types::mac::Mac;
use crate::types::power::PowerSpec;
use crate::types::range::Range;
use crate::types::secret::Secret;
use relay::{Relay, Stage};

/// The demo network: inside 127.0.0.0/8, so every packet stays on loopback.
const SUBNET: &str = "127.77.0.0/24";
const RELAY: Ipv4Addr = Ipv4Addr::new(127, 77, 0, 1);
const LOADER_BYTES: usize = 96 * 1024;
const KERNEL_BYTES: usize = 2 * 1024 * 1024;

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Writes `len` bytes of a recognisable pattern.
fn write_file(path: &Path, len: usize, tag: &str) -> anyhow::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut data = format!("fulcrum demo stand-in for {tag}\n").into_bytes();
    data.extend((0..len.saturating_sub(data.len())).map(|i| (i % 251) as u8));
    std::fs::write(path, data)?;
    Ok(())
}

fn say(machine: &str, msg: impl AsRef<str>) {
    println!("  [{machine}] {}", msg.as_ref());
}

/// The lines of an iPXE script that name the kernel and initrds.
fn boot_urls(script: &str) -> Vec<String> {
    script
        .lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            match w.next()? {
                "kernel" => w.next().map(str::to_string),
                "initrd" => w.find(|x| x.starts_with("http")).map(str::to_string),
                _ => None,
            }
        })
        .collect()
}

struct Env {
    dir: std::path::PathBuf,
    api: Client,
    base: String,
    dhcp: SocketAddr,
    tftp: SocketAddr,
}

/// The admin token the server wrote at its first start.
fn admin_token(data_dir: &Path) -> anyhow::Result<Option<Secret>> {
    let path = data_dir.join(crate::auth::ADMIN_TOKEN_FILE);
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    Ok(Some(Secret::new(text.trim())))
}

/// One boot of one machine: returns what it ended up running.
async fn boot(env: &Env, name: &str, mac: Mac) -> anyhow::Result<(Ipv4Addr, String)> {
    let relay = Relay::new(RELAY, env.dhcp)?;
    // The relay is a blocking client; the server runs on this runtime too.
    let rom = tokio::task::block_in_place(|| relay.dora(mac, Stage::BiosRom)).context("PXE ROM DHCP")?;
    let host = rom.hostname.as_deref().map(|h| format!(", hostname {h}")).unwrap_or_default();
    let Some(loader) = rom.file.clone() else {
        say(name, format!("DHCP -> {}{host} (PXE ROM), no boot file: firmware boots the local disk", rom.yiaddr));
        return Ok((rom.yiaddr, "local disk".into()));
    };
    say(name, format!("DHCP -> {}{host} (PXE ROM), next-server {}, file {loader}", rom.yiaddr, rom.siaddr));
    let local = SocketAddr::new(IpAddr::V4(rom.yiaddr), 0);
    let t = Instant::now();
    let dl = tftp::fetch(local, env.tftp, &loader, 1468).await?;
    if dl.tsize != Some(dl.bytes.len() as u64) {
        bail!("tftp tsize {:?} but {} bytes arrived", dl.tsize, dl.bytes.len());
    }
    say(name, format!("TFTP {loader}: {} bytes, blksize {}, {:.0?}", dl.bytes.len(), dl.blksize, t.elapsed()));
    let ipxe = tokio::task::block_in_place(|| relay.dora(mac, Stage::Ipxe)).context("iPXE DHCP")?;
    let script_url = ipxe.file.clone().context("iPXE got no script URL")?;
    say(name, format!("DHCP -> {} (iPXE), script {script_url}", ipxe.yiaddr));
    let http = reqwest::Client::builder().local_address(IpAddr::V4(ipxe.yiaddr)).build()?;
    let script = http.get(&script_url).send().await?.error_for_status()?.text().await?;
    let headline =
        script.lines().find(|l| l.starts_with("echo Fulcrum:")).unwrap_or("").trim_start_matches("echo ").to_string();
    say(name, format!("script: {headline}"));
    for url in boot_urls(&script) {
        let resp = http.get(&url).header("Range", "bytes=0-1023").send().await?;
        let partial = resp.status().as_u16();
        let full = http.get(&url).send().await?.error_for_status()?.bytes().await?;
        say(
            name,
            format!(
                "HTTP {} ({} bytes; ranged request -> {partial})",
                url.rsplit('/').next().unwrap_or(&url),
                full.len()
            ),
        );
    }
    Ok((ipxe.yiaddr, headline))
}

/// Runs the demo with `machines` simulated machines.
pub(crate) async fn run(machines: u8) -> anyhow::Result<()> {
    let started = Instant::now();
    let dir = tempfile::tempdir()?;
    let (http_port, api_port, dhcp_port, tftp_port) = (free_port()?, free_port()?, free_port()?, free_port()?);
    let dns_port = free_port()?;
    let tftp_root = dir.path().join("tftp");
    for loader in ["undionly.kpxe", "snponly.efi"] {
        write_file(&tftp_root.join(loader), LOADER_BYTES, loader)?;
    }
    let files = dir.path().join("files");
    // Stand-ins for what an image build and an ISO import leave there: a
    // node is given a bootenv only when its files are.
    let ubuntu_iso = "ubuntu-24.04/ubuntu-24.04-live-server-amd64.iso";
    for f in ["discovery/vmlinuz", "discovery/initrd.img", "ubuntu-24.04/vmlinuz", "ubuntu-24.04/initrd", ubuntu_iso] {
        write_file(&files.join(f), KERNEL_BYTES, f)?;
    }
    let config_text = format!(
        "data_dir = {data:?}\n[http]\nlisten = \"127.0.0.1:{http_port}\"\n[api]\nlisten = \"127.0.0.1:{api_port}\"\n[dhcp]\nlisten4 = \"127.0.0.1:{dhcp_port}\"\nlisten6 = \"[::1]:0\"\n\
         listen_pxe = \"127.0.0.1:0\"\n[tftp]\nlisten = \"127.0.0.1:{tftp_port}\"\nroot = {root:?}\n[boot]\nfiles_dir = {files:?}\n\
         [dns]\nlisten = [\"127.0.0.1:{dns_port}\"]\n\
         [engine]\nallow_local_scripts = true\n[power]\nallow_commands = true\n",
        data = dir.path().join("data"),
        root = tftp_root,
        files = files,
    );
    let config = Config::parse(&config_text, Path::new("demo.toml"))?;
    println!("Fulcrum demo: one process serving DHCP, TFTP, HTTP boot, DNS and the API on loopback");
    let running = server::start(config).await?;
    println!(
        "  api https://{} (TLS, pinned by the CLI)  boot http://{}  dhcp {:?}  tftp {:?}  dns {:?}",
        running.api, running.http, running.dhcp4, running.tftp, running.dns
    );
    let fingerprint = running.tls.context("the API has no certificate")?;
    let trust = Trust::Pinned { fingerprint, from: "the demo server".into() };
    let env = Env {
        dir: dir.path().to_path_buf(),
        api: Client::new(&format!("https://{}", running.api), admin_token(&dir.path().join("data"))?, &trust)?,
        base: format!("http://{}", running.http),
        dhcp: running.dhcp4.first().copied().context("dhcp not running")?,
        tftp: running.tftp.context("tftp not running")?,
    };
    let result = scenario(&env, machines).await;
    running.shutdown().await;
    result?;
    println!("\nDemo finished in {:.1?}: every boot followed the bootenv set just before it.", started.elapsed());
    Ok(())
}

async fn scenario(env: &Env, machines: u8) -> anyhow::Result<()> {
    println!("\n1. Operator creates the network (static range for nodes, dynamic range for unknown machines)");
    let network = NewNetwork {
        name: "demo".into(),
        subnet: SUBNET.parse()?,
        router: Some(RELAY),
        dynamic: Some(Range { start: Ipv4Addr::new(127, 77, 0, 100), end: Ipv4Addr::new(127, 77, 0, 200) }),
        static_range: Range { start: Ipv4Addr::new(127, 77, 0, 10), end: Ipv4Addr::new(127, 77, 0, 99) },
        domain: "demo.fulcrum.test".into(),
        dns_servers: Vec::new(),
        v6prefix: Some("auto".parse()?),
        ra: None,
        slaac: None,
        authoritative: None,
        unknown_clients: None,
        dhcp: None,
        uefi_loader: None,
        bios_loader: None,
        interface: None,
        server: Some(Ipv4Addr::LOCALHOST),
        lease_seconds: None,
        mtu: None,
    };
    let net: NetworkView = env.api.send(Method::POST, "/api/v1/networks", Some(&network)).await?;
    println!("   network demo {} with IPv6 {}", net.network.subnet, table::opt(net.v6_network.as_ref()));
    let macs: Vec<Mac> = (1..=machines).map(|i| Mac([0x52, 0x54, 0x00, 0xde, 0x00, i])).collect();

    println!("\n2. {machines} unknown machines power on and network-boot the discovery image");
    let mut nodes = Vec::new();
    for mac in &macs {
        let tag = format!("machine {mac}");
        let (ip, _) = boot(env, &tag, *mac).await?;
        // What the discovery image does once Linux is up: report in.
        let http = reqwest::Client::builder().local_address(IpAddr::V4(ip)).build()?;
        let resp = http
            .post(format!("{}/api/v1/discover", env.base))
            .json(&Discover { mac: *mac, macs: Vec::new() })
            .send()
            .await?;
        let status = resp.status().as_u16();
        let found: Discovered = resp.error_for_status()?.json().await?;
        let name = found.node.name.clone();
        say(
            &tag,
            format!("discovery image registered it ({status}): {name} -> {}", table::list(&found.node.addresses)),
        );
        // Then its hardware, with the node's own token.
        let facts = serde_json::json!({
            "cpus": 2, "memory_mib": 4096,
            "disks": [{"name": "vda", "bytes": 34_359_738_368u64}],
            "nics": [{"mac": mac.to_string(), "driver": "virtio_net"}],
        });
        let resp = http
            .post(format!("{}/api/v1/nodes/{name}/inventory", env.base))
            .bearer_auth(found.token.expose())
            .json(&facts)
            .send()
            .await?;
        say(
            &tag,
            format!("it posted its inventory with its own token ({})", resp.error_for_status()?.status().as_u16()),
        );
        nodes.push((name, *mac, found.token.expose().to_string()));
    }

    println!("\n3. Even machines get the provisioner-os-install role (Ubuntu 24.04); odd ones boot from disk");
    let power_log = env.dir.join("power.log");
    let power = PowerSpec::Command {
        command: format!("echo \"$FULCRUM_POWER_ACTION $FULCRUM_NODE\" >> {}", power_log.display()),
    };
    let install = NewDeployment {
        name: "install".into(),
        parent: None,
        attribs: Attribs::from([("os".to_string(), "ubuntu-24.04".into())]),
    };
    env.api.send::<_, DeploymentView>(Method::POST, "/api/v1/deployments", Some(&install)).await?;
    for (i, (name, _, _)) in nodes.iter().enumerate() {
        let patch = NodePatch { power: Some(power.clone()), ..NodePatch::default() };
        env.api.send::<_, NodeView>(Method::PATCH, &format!("/api/v1/nodes/{name}"), Some(&patch)).await?;
        if i % 2 == 0 {
            let bind = NewNodeRole {
                deployment: "install".into(),
                role: "provisioner-os-install".into(),
                node: name.clone(),
                attribs: Attribs::new(),
            };
            env.api.send::<_, NodeRoleView>(Method::POST, "/api/v1/noderoles", Some(&bind)).await?;
            println!("   {name}: provisioner-os-install bound (proposed)");
        } else {
            let local = SetBootenv { bootenv: "local".into() };
            env.api.send::<_, NodeView>(Method::PUT, &format!("/api/v1/nodes/{name}/bootenv"), Some(&local)).await?;
            println!("   {name}: bootenv local");
        }
    }
    println!("   committing deployment `install`; the annealer runs the role, whose on_active hook sets the");
    println!("   install bootenv and marks the node not alive in ONE transaction; the reboot comes after the commit");
    env.api.send::<_, Committed>(Method::POST, "/api/v1/deployments/install/commit", NO_BODY).await?;
    for (name, _, _) in nodes.iter().step_by(2) {
        let node = engine::wait_node(env, name, |n| !n.alive).await?;
        println!(
            "   {name}: bootenv {}, alive {} (the install role ran; its node is down until it reports in)",
            node.bootenv, node.alive
        );
    }
    engine::show_power_log(&power_log).await;

    println!("\n4. The machines reboot: the very next DHCP and boot-script answers follow the new bootenv");
    let mut summary = Vec::new();
    for (name, mac, _) in &nodes {
        let (_, outcome) = boot(env, name, *mac).await?;
        let node: NodeView = env.api.get(&format!("/api/v1/nodes/{name}")).await?;
        let want = node.bootenv.as_str();
        let followed = match want {
            "local" => outcome == "local disk",
            other => outcome.contains(other),
        };
        if !followed {
            bail!("{name} has bootenv {want} but booted {outcome:?}");
        }
        if want == "ubuntu-24.04" {
            let user_data = reqwest::get(format!("{}/boot/templates/{mac}/user-data", env.base))
                .await?
                .error_for_status()?
                .text()
                .await?;
            let host =
                user_data.lines().find(|l| l.trim_start().starts_with("hostname:")).unwrap_or("").trim().to_string();
            say(name, format!("autoinstall user-data rendered for it ({host})"));
        }
        summary.push([name.clone(), mac.to_string(), table::list(&node.addresses), want.to_string(), outcome]);
    }
    println!("\n{}", table::render(&["NODE", "MAC", "ADDRESSES", "BOOTENV", "SECOND BOOT"], &summary, |r| r.to_vec()));
    let metrics = env.api.text("/metrics").await?;
    let counters: Vec<String> = metrics
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| ["dhcp4_offers", "dhcp4_acks", "tftp_requests", "boot_scripts"].iter().any(|k| l.contains(k)))
        .map(|l| l.trim_start_matches("fulcrum_").replace(' ', "="))
        .collect();
    println!("Counters: {}", counters.join("  "));

    let installed: Vec<(String, String)> =
        nodes.iter().enumerate().filter(|(i, _)| i % 2 == 0).map(|(_, (n, _, t))| (n.clone(), t.clone())).collect();
    engine::installers_finish(env, &installed).await?;
    let names: Vec<String> = nodes.iter().map(|(n, _, _)| n.clone()).collect();
    engine::seed_004(env, &names).await
}
