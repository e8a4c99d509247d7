//! Configuration: the TOML file of `fulcrum serve --config FILE`, its
//! defaults (fit for a real admin node), and validation. Parsing is strict:
//! an unknown key or a bad value stops start-up with an error naming the
//! key. Each room reads its own section.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::types::names;

/// A configuration problem, always naming the key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file cannot be read.
    #[error("cannot read {path}")]
    Read {
        /// The config file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A key is unknown, or its value is wrong.
    #[error("{path}: key `{key}`: {message}")]
    Key {
        /// The config file.
        path: PathBuf,
        /// The key, with its section (`tftp.listen`).
        key: String,
        /// What is wrong with it.
        message: String,
    },
    /// The file is not TOML.
    #[error("{path}: {message}")]
    Syntax {
        /// The config file.
        path: PathBuf,
        /// The parser's message.
        message: String,
    },
}

/// The whole configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Where the store, boot files and state live.
    pub data_dir: PathBuf,
    /// `[http]`: the plain-HTTP boot listener.
    pub http: HttpConfig,
    /// `[api]`: the operator API's listener (HTTPS).
    pub api: ApiConfig,
    /// `[dhcp]`: the DHCP servers.
    pub dhcp: DhcpConfig,
    /// `[tftp]`: the TFTP server.
    pub tftp: TftpConfig,
    /// `[dns]`: the DNS server.
    pub dns: DnsConfig,
    /// `[boot]`: bootenvs and boot files.
    pub boot: BootConfig,
    /// `[engine]`: the noderole engine.
    pub engine: EngineConfig,
    /// `[power]`: power drivers.
    pub power: PowerConfig,
    /// `[lifecycle]`: the node lifecycle's watchdogs.
    pub lifecycle: LifecycleConfig,
    /// `[log]`: how `fulcrum serve` writes its log.
    pub log: LogConfig,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data_dir: PathBuf::from("/var/lib/fulcrum"),
            http: HttpConfig::default(),
            api: ApiConfig::default(),
            dhcp: DhcpConfig::default(),
            tftp: TftpConfig::default(),
            dns: DnsConfig::default(),
            boot: BootConfig::default(),
            engine: EngineConfig::default(),
            power: PowerConfig::default(),
            lifecycle: LifecycleConfig::default(),
            log: LogConfig::default(),
        }
    }
}

/// How the log is written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// `auto` (journald's native protocol when stderr is the journal, as
    /// under systemd; else text, coloured only on a terminal), `text`,
    /// `json` (one object per line), or `journald`.
    pub format: LogFormat,
}

/// A log format: see [`LogConfig::format`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    /// journald when stderr is the journal, else text.
    #[default]
    Auto,
    /// Lines for people, coloured only on a terminal.
    Text,
    /// One JSON object per line.
    Json,
    /// journald's native protocol.
    Journald,
}

/// The plain-HTTP listener machines boot from: boot scripts, files,
/// templates, loaders, and the machines' own reports (discovery, alive,
/// installed). Firmware cannot do TLS with an unknown certificate.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// Address and port of the listener.
    pub listen: SocketAddr,
    /// Base URL nodes use to reach this server (`http://10.0.0.1:8080`).
    /// Default: `http://<network's server address>:<listen port>`.
    pub public_url: Option<String>,
    /// Subnets whose machines may use the machine-facing routes (boot
    /// files, scripts, templates, discovery) and TFTP besides the served
    /// networks' own subnets and loopback, e.g. relayed segments.
    pub boot_clients: Vec<ipnet::IpNet>,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig { listen: SocketAddr::from(([0, 0, 0, 0], 80)), public_url: None, boot_clients: Vec::new() }
    }
}

/// The operator API's listener: every API route, `/metrics`, and the
/// machines' reports too; HTTPS unless `tls = false`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApiConfig {
    /// Address and port of the listener.
    pub listen: SocketAddr,
    /// HTTPS (the default). `false` serves plain HTTP, for a listener
    /// behind a TLS-terminating proxy on the same host only.
    pub tls: bool,
    /// PEM certificate chain. Default: a self-signed certificate made at
    /// first start in `{data_dir}/tls/`.
    pub cert: Option<PathBuf>,
    /// PEM private key of `cert`.
    pub key: Option<PathBuf>,
    /// How many audit log entries are kept, newest first (each is about
    /// 300 bytes in memory and on disk).
    pub audit_keep: usize,
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            listen: SocketAddr::from(([0, 0, 0, 0], 443)),
            tls: true,
            cert: None,
            key: None,
            audit_keep: 100_000,
        }
    }
}

/// The DHCP servers.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DhcpConfig {
    /// Whether DHCP is served.
    pub enabled: bool,
    /// The DHCPv4 socket's address.
    pub listen4: SocketAddr,
    /// The DHCPv6 socket's address. With `interfaces`, one socket per
    /// interface joins ff02::1:2 there; without, one socket serves relays.
    pub listen6: SocketAddr,
    /// Whether DHCPv6 and router advertisements are served (on networks
    /// with a `v6prefix`).
    pub v6: bool,
    /// Seconds a declined address (DHCPv4 or v6) stays out of the pool.
    pub decline_seconds: u64,
    /// MaxRtrAdvInterval (RFC 4861): the longest time between unsolicited
    /// router advertisements, 4..=1800 s.
    pub ra_interval: u32,
    /// The most DHCPv6 leases clients that are no node may hold on one
    /// network (a flood of made-up DUIDs stops there; nodes are never
    /// refused). Expired leases are deleted a minute after they expire.
    pub unknown_leases6: u32,
    /// Interfaces to serve on (one socket each, replies leave through them).
    /// Empty: one socket on `listen4`, for relayed and loopback use.
    pub interfaces: Vec<String>,
    /// Loader for BIOS PXE ROMs (option 93 = 0).
    pub bios_loader: String,
    /// Loader for x64 UEFI PXE (option 93 = 7 or 9).
    pub uefi_x64_loader: String,
    /// Loader for arm64 UEFI PXE (option 93 = 11).
    pub uefi_arm64_loader: String,
    /// Seconds an offered address is held for the client that was offered it.
    pub offer_seconds: u32,
    /// Datagrams a second one client (DHCPv4: its MAC; DHCPv6: its DUID)
    /// may send (a burst of twice that); more are dropped and counted. 0: no
    /// limit.
    pub rate_per_mac: u32,
    /// Datagrams a second one source address (a relay, a client renewing)
    /// may send; `0.0.0.0` is exempt. 0: no limit.
    pub rate_per_source: u32,
    /// Whether the PXE boot server answers on `listen_pxe` (UEFI PXE asks
    /// there for its boot file after a proxyDHCP answer, or after any answer
    /// with option 60 `PXEClient` and no discovery control).
    pub boot_server: bool,
    /// The PXE boot server's socket (port 4011).
    pub listen_pxe: SocketAddr,
    /// The relays (addresses or prefixes, either family) Fulcrum believes.
    /// When set, relayed requests (DHCPv4 with giaddr, DHCPv6 RELAY-FORW)
    /// from any other source are dropped, and only a datagram from one of
    /// these finds a node by its switch-port reservation (a node's MAC is
    /// then learned from it). Empty: relayed requests are taken from
    /// anyone, and port reservations are not honoured.
    #[serde(deserialize_with = "prefixes_or_addresses")]
    pub trusted_relays: Vec<ipnet::IpNet>,
}

/// A list of prefixes (`10.72.0.0/24`) or plain addresses (`10.72.0.2`,
/// a prefix of one).
fn prefixes_or_addresses<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<ipnet::IpNet>, D::Error> {
    Vec::<String>::deserialize(d)?
        .iter()
        .map(|s| {
            s.parse::<ipnet::IpNet>().or_else(|_| s.parse::<std::net::IpAddr>().map(ipnet::IpNet::from)).map_err(|_| {
                serde::de::Error::custom(format!("`{s}` is neither an address nor a prefix like 10.72.0.0/24"))
            })
        })
        .collect()
}

impl DhcpConfig {
    /// Whether a datagram from `src` may name a client's switch port.
    pub(crate) fn trusts_relay(&self, src: Option<std::net::IpAddr>) -> bool {
        src.is_some_and(|ip| self.trusted_relays.iter().any(|net| net.contains(&ip)))
    }
}

impl Default for DhcpConfig {
    fn default() -> Self {
        DhcpConfig {
            enabled: true,
            listen4: SocketAddr::from(([0, 0, 0, 0], 67)),
            listen6: "[::]:547".parse().unwrap_or(SocketAddr::from(([0; 16], 547))),
            v6: true,
            decline_seconds: 600,
            ra_interval: 600,
            unknown_leases6: 65_536,
            interfaces: Vec::new(),
            bios_loader: "undionly.kpxe".into(),
            uefi_x64_loader: "snponly.efi".into(),
            uefi_arm64_loader: "snponly-arm64.efi".into(),
            offer_seconds: 30,
            rate_per_mac: 20,
            rate_per_source: 20_000,
            boot_server: true,
            listen_pxe: SocketAddr::from(([0, 0, 0, 0], 4011)),
            trusted_relays: Vec::new(),
        }
    }
}

/// The TFTP server for first-stage loaders.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TftpConfig {
    /// Whether TFTP is served.
    pub enabled: bool,
    /// The TFTP socket's address.
    pub listen: SocketAddr,
    /// Directory served read-only (Debian's `ipxe` package by default).
    pub root: PathBuf,
    /// Largest blksize granted (MTU 1500 - 32 by default).
    pub max_blksize: u16,
    /// Largest windowsize granted (RFC 7440): blocks sent before an ACK.
    pub max_windowsize: u16,
}

impl Default for TftpConfig {
    fn default() -> Self {
        TftpConfig {
            enabled: true,
            listen: SocketAddr::from(([0, 0, 0, 0], 69)),
            root: PathBuf::from("/usr/lib/ipxe"),
            max_blksize: 1468,
            max_windowsize: 16,
        }
    }
}

/// The authoritative DNS server: the cluster's zones from live state,
/// transfers to the site's secondaries, forwarding for the nodes.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DnsConfig {
    /// Whether DNS is served.
    pub enabled: bool,
    /// Addresses served on UDP and TCP (port 53 on every address by
    /// default).
    pub listen: Vec<SocketAddr>,
    /// TTL of every answer from the zones (seconds).
    pub ttl: u32,
    /// The admin node's host label in every forward zone (its A record,
    /// the NS and the SOA's primary name): `admin.cluster.example`.
    pub admin_name: String,
    /// The SOA's responsible-person mailbox, as a name
    /// (`hostmaster` -> `hostmaster.<zone>`; a dotted name is taken whole).
    pub hostmaster: String,
    /// Secondaries: sent a NOTIFY on every change and allowed to transfer
    /// the zones (with the TSIG key, when one is set).
    pub secondaries: Vec<SocketAddr>,
    /// The key transfers and NOTIFYs are signed with (RFC 8945). When set,
    /// a transfer without a valid signature is refused.
    pub tsig: Option<TsigConfig>,
    /// Upstream resolvers for names outside the cluster's zones, asked on
    /// behalf of clients on the served networks (and loopback) only. Empty:
    /// such names are REFUSED.
    pub forwarders: Vec<SocketAddr>,
    /// How long an upstream may take to answer (milliseconds).
    pub forward_timeout_ms: u64,
    /// Most answers the forwarding cache holds.
    pub forward_cache: usize,
    /// Most encoded answers each UDP receive loop keeps for repeated
    /// questions (0: none). The cache is emptied by every committed change
    /// to nodes, networks, operator records or zone serials, so it never
    /// serves a stale answer; a full one (or one over 32 MiB) starts again.
    pub answer_cache: usize,
}

impl Default for DnsConfig {
    fn default() -> Self {
        DnsConfig {
            enabled: true,
            listen: vec![SocketAddr::from(([0, 0, 0, 0], 53))],
            ttl: 300,
            admin_name: "admin".into(),
            hostmaster: "hostmaster".into(),
            secondaries: Vec::new(),
            tsig: None,
            forwarders: Vec::new(),
            forward_timeout_ms: 2000,
            forward_cache: 10_000,
            answer_cache: 65_536,
        }
    }
}

/// A TSIG key shared with the secondaries.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TsigConfig {
    /// The key's name, as the secondaries know it (`fulcrum-xfr`).
    pub name: String,
    /// `hmac-sha256` (the default), `hmac-sha384` or `hmac-sha512`.
    #[serde(default = "default_tsig_algorithm")]
    pub algorithm: String,
    /// The key, base64 (`tsig-keygen` / `keymgr -t` print one).
    pub secret: KeySecret,
}

fn default_tsig_algorithm() -> String {
    "hmac-sha256".into()
}

/// Key material from the config: never printed.
#[derive(Clone, Deserialize)]
#[serde(transparent)]
pub struct KeySecret(String);

impl KeySecret {
    /// The value, for the one room that signs with it.
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for KeySecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Boot environments and boot files.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BootConfig {
    /// Directory of kernels/initrds served at `/boot/files/` (default
    /// `<data_dir>/files`).
    pub files_dir: Option<PathBuf>,
    /// Bootenv of nodes created without one.
    pub default_bootenv: String,
    /// Bootenv served to unknown MACs.
    pub discovery_bootenv: String,
    /// The signed shim served as `shimx64.efi` (TFTP and
    /// `/boot/loaders/`): the first stage of the Secure Boot chain, which
    /// a network or node selects with `uefi_loader = "shimx64.efi"`.
    /// Debian's `shim-signed` by default.
    pub shim_x64: PathBuf,
    /// The signed GRUB served as `grubx64.efi`, which shim loads next.
    /// Debian's `grub-efi-amd64-signed` network image by default.
    pub grub_x64: PathBuf,
    /// Where `pxelinux.0` and `lpxelinux.0` are (Debian's `pxelinux`),
    /// served at those names when a network or node picks one with
    /// `bios_loader`.
    pub pxelinux_dir: PathBuf,
    /// Where PXELINUX's modules are (`ldlinux.c32`, which it loads first;
    /// Debian's `syslinux-common`), served at the TFTP root as `NAME.c32`.
    pub syslinux_modules: PathBuf,
}

impl BootConfig {
    /// The name `shim_x64` is served as (TFTP and `/boot/loaders/`).
    pub const SHIM_X64: &'static str = "shimx64.efi";
    /// The name `grub_x64` is served as: what shim loads next.
    pub const GRUB_X64: &'static str = "grubx64.efi";
    /// PXELINUX reading over TFTP only (in `pxelinux_dir`).
    pub const PXELINUX: &'static str = "pxelinux.0";
    /// PXELINUX with its own TCP stack, reading http:// too.
    pub const LPXELINUX: &'static str = "lpxelinux.0";

    /// Whether `loader` is one of PXELINUX's: such a loader runs on the
    /// PXE stack it was loaded by and asks DHCP nothing.
    pub fn is_pxelinux(loader: &str) -> bool {
        loader == Self::PXELINUX || loader == Self::LPXELINUX
    }

    /// Whether the signed GRUB is there to be served: then UEFI PXE
    /// firmware booting from its disk gets GRUB, which chainloads the
    /// disk's own loader at once.
    pub fn has_grub(&self) -> bool {
        self.grub_x64.is_file()
    }
}

impl Default for BootConfig {
    fn default() -> Self {
        BootConfig {
            files_dir: None,
            default_bootenv: "local".into(),
            discovery_bootenv: "discovery".into(),
            shim_x64: PathBuf::from("/usr/lib/shim/shimx64.efi.signed"),
            grub_x64: PathBuf::from("/usr/lib/grub/x86_64-efi-signed/grubnetx64.efi.signed"),
            pxelinux_dir: PathBuf::from("/usr/lib/PXELINUX"),
            syslinux_modules: PathBuf::from("/usr/lib/syslinux/modules/bios"),
        }
    }
}

/// The noderole engine.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EngineConfig {
    /// Most runs in flight in the whole system.
    pub max_concurrent_runs: u32,
    /// Whether the annealer runs (off: noderoles never leave TODO).
    pub annealer: bool,
    /// User the script jig and the ssh power driver log in as.
    pub ssh_user: String,
    /// Private key for SSH (default: ssh's own choice).
    pub ssh_key: Option<PathBuf>,
    /// Where node host keys are remembered (default `<data_dir>/ssh_known_hosts`).
    pub ssh_known_hosts: Option<PathBuf>,
    /// A directory of operator role files (`*.toml`, the format of the
    /// shipped `roles/`), added at start-up when no role of that name exists.
    pub roles_dir: Option<PathBuf>,
    /// At shutdown, how long running jigs may take to finish before they
    /// are stopped and recorded as interrupted (the crash rule).
    pub shutdown_grace_seconds: u64,
    /// Whether roles may run scripts on the admin node itself (`local`).
    /// Off by default: such a script runs as Fulcrum's user.
    pub allow_local_scripts: bool,
    /// Whether a node is probed (ping, then an SSH login as `ssh_user`)
    /// before each jig that acts on it over SSH; a node that fails is
    /// marked not alive and its run is put back (OpenCrowbar's aliveness).
    pub alive_probe: bool,
    /// How long the probe's SSH login may take.
    pub alive_probe_timeout_seconds: u64,
}

/// How long a node may stay in each in-progress lifecycle state before
/// the watchdog moves it to that state's failed state, with the reason
/// (MAAS's deploy timeout is about 40 minutes).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LifecycleConfig {
    /// `verifying`: the power credentials are being checked.
    pub verify_timeout_seconds: u64,
    /// `inspecting` and `inspect wait`: the agent is gathering the
    /// inventory.
    pub inspect_timeout_seconds: u64,
    /// `cleaning`, `clean wait` and `deleting`: the disks are being erased.
    pub clean_timeout_seconds: u64,
    /// `deploying` and `wait call-back`: the installer or image write has
    /// not reported done.
    pub deploy_timeout_seconds: u64,
    /// `rescuing` and `rescue wait`: the rescue system has not come up.
    pub rescue_timeout_seconds: u64,
    /// What cleaning erases: `metadata` (partition tables and signatures)
    /// or `full` (every byte).
    pub erase: crate::types::agent::EraseMode,
}

impl Default for LifecycleConfig {
    fn default() -> Self {
        LifecycleConfig {
            verify_timeout_seconds: 300,
            inspect_timeout_seconds: 1800,
            clean_timeout_seconds: 1800,
            deploy_timeout_seconds: 2400,
            rescue_timeout_seconds: 1800,
            erase: crate::types::agent::EraseMode::Metadata,
        }
    }
}

impl LifecycleConfig {
    fn validate(&self) -> Result<(), (&'static str, String)> {
        for (key, v) in [
            ("lifecycle.verify_timeout_seconds", self.verify_timeout_seconds),
            ("lifecycle.inspect_timeout_seconds", self.inspect_timeout_seconds),
            ("lifecycle.clean_timeout_seconds", self.clean_timeout_seconds),
            ("lifecycle.deploy_timeout_seconds", self.deploy_timeout_seconds),
            ("lifecycle.rescue_timeout_seconds", self.rescue_timeout_seconds),
        ] {
            if v == 0 {
                return Err((key, "must be at least 1".into()));
            }
        }
        Ok(())
    }
}

/// Power drivers.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PowerConfig {
    /// Whether the `command` power driver (an operator's shell command run
    /// on the admin node) may be used. Off by default.
    pub allow_commands: bool,
    /// After a power action that should make a node boot from the
    /// network, how long its DHCP request may take: past it, the action is
    /// repeated once through the driver, then the step fails.
    pub confirm_seconds: u64,
    /// At most this many machines in early boot at once (powered for a
    /// network boot, kernel not fetched yet); the others are powered as
    /// those fetch their kernels, so a rack coming up never floods DHCP
    /// and TFTP.
    pub early_boot_max: usize,
}

impl Default for PowerConfig {
    fn default() -> Self {
        PowerConfig { allow_commands: false, confirm_seconds: 300, early_boot_max: 32 }
    }
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            max_concurrent_runs: 10,
            annealer: true,
            ssh_user: "root".into(),
            ssh_key: None,
            ssh_known_hosts: None,
            roles_dir: None,
            shutdown_grace_seconds: 10,
            alive_probe: true,
            alive_probe_timeout_seconds: 15,
            allow_local_scripts: false,
        }
    }
}

impl DnsConfig {
    fn validate(&self) -> Result<(), (&'static str, String)> {
        if self.enabled && self.listen.is_empty() {
            return Err(("dns.listen", "give at least one address, or set dns.enabled = false".into()));
        }
        names::check_domain("dns.admin_name", &self.admin_name).map_err(|e| ("dns.admin_name", e.message))?;
        names::check_domain("dns.hostmaster", &self.hostmaster).map_err(|e| ("dns.hostmaster", e.message))?;
        if self.ttl == 0 || self.ttl > 604_800 {
            return Err(("dns.ttl", format!("{} is outside 1..=604800", self.ttl)));
        }
        if !(100..=30_000).contains(&self.forward_timeout_ms) {
            return Err(("dns.forward_timeout_ms", "must be between 100 and 30000".into()));
        }
        if let Some(t) = &self.tsig {
            names::check_domain("dns.tsig.name", &t.name).map_err(|e| ("dns.tsig.name", e.message))?;
            if !["hmac-sha256", "hmac-sha384", "hmac-sha512"].contains(&t.algorithm.as_str()) {
                return Err((
                    "dns.tsig.algorithm",
                    format!("`{}`: use hmac-sha256, hmac-sha384 or hmac-sha512", t.algorithm),
                ));
            }
            match data_encoding::BASE64.decode(t.secret.expose().as_bytes()) {
                Ok(k) if k.len() >= 16 => {}
                Ok(_) => return Err(("dns.tsig.secret", "shorter than 16 bytes".into())),
                Err(_) => return Err(("dns.tsig.secret", "is not base64".into())),
            }
        }
        Ok(())
    }
}

impl Config {
    /// Reads, parses and validates a config file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.into(), source })?;
        Config::parse(&text, path)
    }

    /// Parses and validates config text; `path` only labels errors.
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let de = toml::Deserializer::parse(text)
            .map_err(|e| ConfigError::Syntax { path: path.into(), message: e.message().to_string() })?;
        let cfg: Config = serde_path_to_error::deserialize(de).map_err(|e| {
            let key = e.path().to_string();
            let message = e.into_inner().message().to_string();
            ConfigError::Key { path: path.into(), key, message }
        })?;
        cfg.validate().map_err(|(key, message)| ConfigError::Key { path: path.into(), key: key.into(), message })?;
        Ok(cfg.resolved())
    }

    fn validate(&self) -> Result<(), (&'static str, String)> {
        if self.data_dir.as_os_str().is_empty() {
            return Err(("data_dir", "must not be empty".into()));
        }
        self.dns.validate()?;
        if self.engine.max_concurrent_runs == 0 {
            return Err(("engine.max_concurrent_runs", "must be at least 1".into()));
        }
        self.lifecycle.validate()?;
        if self.power.confirm_seconds == 0 {
            return Err(("power.confirm_seconds", "must be at least 1".into()));
        }
        if self.power.early_boot_max == 0 {
            return Err(("power.early_boot_max", "must be at least 1".into()));
        }
        if self.engine.alive_probe_timeout_seconds == 0 {
            return Err(("engine.alive_probe_timeout_seconds", "must be at least 1".into()));
        }
        if !(512..=65464).contains(&self.tftp.max_blksize) {
            return Err(("tftp.max_blksize", "must be between 512 and 65464".into()));
        }
        if !(1..=64).contains(&self.tftp.max_windowsize) {
            return Err(("tftp.max_windowsize", "must be between 1 and 64 (1 turns windowsize off)".into()));
        }
        if !(4..=1800).contains(&self.dhcp.ra_interval) {
            return Err(("dhcp.ra_interval", format!("{} is outside 4..=1800", self.dhcp.ra_interval)));
        }
        if self.dhcp.offer_seconds == 0 {
            return Err(("dhcp.offer_seconds", "must be at least 1".into()));
        }
        if let Some(url) = &self.http.public_url {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(("http.public_url", format!("`{url}` must start with http:// or https://")));
            }
        }
        match (&self.api.cert, &self.api.key) {
            (Some(_), None) => return Err(("api.key", "api.cert is set: give its private key too".into())),
            (None, Some(_)) => return Err(("api.cert", "api.key is set: give its certificate too".into())),
            (Some(_), Some(_)) if !self.api.tls => {
                return Err(("api.tls", "is false, yet api.cert and api.key are set".into()));
            }
            _ => {}
        }
        if self.api.audit_keep == 0 {
            return Err(("api.audit_keep", "must be at least 1: the audit log cannot be turned off".into()));
        }
        if self.api.listen == self.http.listen && self.api.listen.port() != 0 {
            return Err((
                "api.listen",
                format!("{} is http.listen too: the API needs a listener of its own", self.api.listen),
            ));
        }
        for name in &self.dhcp.interfaces {
            names::check_interface("dhcp.interfaces", name).map_err(|e| ("dhcp.interfaces", e.message))?;
        }
        Ok(())
    }

    /// Fills in defaults that depend on other keys.
    pub fn resolved(mut self) -> Config {
        if self.engine.ssh_known_hosts.is_none() {
            self.engine.ssh_known_hosts = Some(self.data_dir.join("ssh_known_hosts"));
        }
        self
    }

    /// Where the self-signed API certificate and key are kept.
    pub fn tls_dir(&self) -> PathBuf {
        self.data_dir.join("tls")
    }

    /// Where boot files (kernels, initrds) are served from.
    pub fn files_dir(&self) -> PathBuf {
        self.boot.files_dir.clone().unwrap_or_else(|| self.data_dir.join("files"))
    }

    /// The http port for boot URLs.
    pub fn http_port(&self) -> u16 {
        self.http.listen.port()
    }

    /// Base URL of the HTTP server as seen from a network where the admin
    /// node's address is `server`.
    pub fn base_url(&self, server: IpAddr) -> String {
        if let Some(url) = &self.http.public_url {
            return url.trim_end_matches('/').to_string();
        }
        match (server, self.http_port()) {
            (IpAddr::V4(ip), 80) => format!("http://{ip}"),
            (IpAddr::V4(ip), port) => format!("http://{ip}:{port}"),
            (IpAddr::V6(ip), 80) => format!("http://[{ip}]"),
            (IpAddr::V6(ip), port) => format!("http://[{ip}]:{port}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(text, Path::new("test.toml"))
    }

    #[test]
    fn defaults_fit_an_admin_node() {
        let c = parse("").unwrap();
        assert_eq!(c.data_dir, PathBuf::from("/var/lib/fulcrum"));
        assert_eq!(c.http.listen.port(), 80);
        assert_eq!(c.dhcp.listen4.port(), 67);
        assert_eq!(c.tftp.listen.port(), 69);
        assert_eq!(c.tftp.root, PathBuf::from("/usr/lib/ipxe"));
        assert_eq!(c.engine.max_concurrent_runs, 10);
    }

    #[test]
    fn unknown_key_is_named() {
        let e = parse("[http]\nlisten = \"127.0.0.1:8080\"\nlistn = 3\n").unwrap_err().to_string();
        assert!(e.contains("`http.listn`"), "{e}");
        let e = parse("colour = 1\n").unwrap_err().to_string();
        assert!(e.contains("`colour`"), "{e}");
    }

    #[test]
    fn bad_value_is_named() {
        let e = parse("[tftp]\nlisten = \"not-an-address\"\n").unwrap_err().to_string();
        assert!(e.contains("`tftp.listen`"), "{e}");
        let e = parse("[engine]\nmax_concurrent_runs = 0\n").unwrap_err().to_string();
        assert!(e.contains("`engine.max_concurrent_runs`"), "{e}");
        let e = parse("[dhcp]\nenabled = \"yes\"\n").unwrap_err().to_string();
        assert!(e.contains("`dhcp.enabled`"), "{e}");
        let e = parse("[api]\naudit_keep = 0\n").unwrap_err().to_string();
        assert!(e.contains("`api.audit_keep`"), "{e}");
        let e = parse("[dhcp]\ntrusted_relays = [\"10.0.0.1\", \"fd00::/300\"]\n").unwrap_err().to_string();
        assert!(e.contains("`dhcp.trusted_relays`") && e.contains("fd00::/300"), "{e}");
    }

    #[test]
    fn trusted_relays_are_addresses_or_prefixes() {
        let c = parse("[dhcp]\ntrusted_relays = [\"10.72.0.2\", \"fd00:99::/64\"]\n").unwrap();
        let trusts = |ip: &str| c.dhcp.trusts_relay(Some(ip.parse().unwrap()));
        assert!(trusts("10.72.0.2") && trusts("fd00:99::2"));
        assert!(!trusts("10.72.0.3") && !trusts("fd00:98::2"));
        assert!(!c.dhcp.trusts_relay(None));
    }

    #[test]
    fn base_url_uses_port_only_when_not_80() {
        let mut c = parse("").unwrap();
        assert_eq!(c.base_url("10.0.0.1".parse().unwrap()), "http://10.0.0.1");
        c.http.listen = "0.0.0.0:8080".parse().unwrap();
        assert_eq!(c.base_url("10.0.0.1".parse().unwrap()), "http://10.0.0.1:8080");
    }
}
