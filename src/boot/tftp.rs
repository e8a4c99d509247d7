//! The TFTP server for first-stage loaders (undionly.kpxe, snponly.efi...),
//! on async-tftp: read-only, blksize, tsize and windowsize negotiated,
//! blksize capped at the link's MTU - 32 and windowsize by config. It also
//! serves the Secure Boot chain ([`super::grub`]): the signed shim and
//! GRUB from their packages, `grub/grub.cfg`, each MAC's GRUB config
//! rendered from live state at the moment GRUB asks, and the files
//! directory under `files/`; and PXELINUX ([`super::pxelinux`]): its
//! loaders and modules from their packages and each MAC's
//! `pxelinux.cfg/01-<mac>`, rendered the same way. Paths are confined to the root: `..` is refused,
//! Windows backslashes are taken as slashes, and a symlink that leads out
//! of the root is followed only when root owns it: a package's link, like Debian's `/usr/lib/ipxe/ipxe.efi ->
//! /boot/ipxe.efi`, works, a link someone else planted does not. Only
//! machines on the served networks (and loopback, and `http.boot_clients`)
//! are answered.

use std::net::{SocketAddr, UdpSocket};
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use async_tftp::packet;
use async_tftp::server::{Handler, TftpServer, TftpServerBuilder};
use blocking::Unblock;

use super::grub::{self, Special};
use super::pxelinux;
use crate::config::Config;
use crate::inventory::network::Network;
use crate::inventory::node::Node;
use crate::inventory::trace::{Service, TraceEvent, Tracer};
use crate::state::State;
use crate::stats::{bump, Stats};
use crate::types::mac::Mac;

/// How far a transfer reads ahead of its window. `blocking`'s default is
/// 8 MiB, so each transfer held its whole loader in memory: a storm of
/// 1,000 machines fetching a 1 MiB loader peaked at 1.2 GB (BENCHMARKS.md,
/// "Boot files").
const READ_AHEAD: usize = 64 * 1024;

/// Who may read: the served networks (from the live state), loopback,
/// and these extra subnets.
pub(crate) struct Clients {
    pub(crate) state: State,
    pub(crate) extra: Vec<ipnet::IpNet>,
    /// Nodes' boot traces.
    pub(crate) tracer: Tracer,
    /// The discovery bootenv and the HTTP server's address, for GRUB
    /// configs.
    pub(crate) config: Arc<Config>,
}

/// Where the Secure Boot chain's files are (from `[boot]`).
#[derive(Debug, Clone)]
pub(crate) struct Chain {
    /// Served as [`grub::SHIM_X64`].
    pub(crate) shim_x64: PathBuf,
    /// Served as [`grub::GRUB_X64`].
    pub(crate) grub_x64: PathBuf,
    /// Served under [`grub::FILES`]; canonicalized when it exists.
    pub(crate) files_dir: PathBuf,
    /// Where [`pxelinux::PXELINUX`] and [`pxelinux::LPXELINUX`] are.
    pub(crate) pxelinux_dir: PathBuf,
    /// Where PXELINUX's `NAME.c32` modules are.
    pub(crate) syslinux_modules: PathBuf,
}

impl Chain {
    pub(crate) fn from_config(config: &Config) -> Chain {
        let files_dir = config.files_dir();
        Chain {
            shim_x64: config.boot.shim_x64.clone(),
            grub_x64: config.boot.grub_x64.clone(),
            files_dir: std::fs::canonicalize(&files_dir).unwrap_or(files_dir),
            pxelinux_dir: config.boot.pxelinux_dir.clone(),
            syslinux_modules: config.boot.syslinux_modules.clone(),
        }
    }
}

/// What a read request gets.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Target {
    /// A file on disk.
    File(PathBuf),
    /// Text that is always the same ([`grub::BOOTSTRAP`]).
    Fixed(&'static str),
    /// The GRUB or PXELINUX config of this MAC, rendered when it is read.
    Rendered(Rendering, Mac),
}

/// Which loader's config a rendered answer is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rendering {
    Grub,
    Pxelinux,
}

impl Rendering {
    fn word(self) -> &'static str {
        match self {
            Rendering::Grub => "GRUB",
            Rendering::Pxelinux => "PXELINUX",
        }
    }
}

/// Serves files under one directory, and the Secure Boot chain.
pub(crate) struct RootHandler {
    root: PathBuf,
    /// `None`: the root alone.
    chain: Option<Chain>,
    stats: Arc<Stats>,
    clients: Option<Clients>,
}

impl RootHandler {
    /// `root` must exist; it is canonicalized once here. Without
    /// `clients`, anyone may read (and GRUB configs cannot be rendered).
    pub(crate) fn new(
        root: &Path,
        chain: Option<Chain>,
        stats: Arc<Stats>,
        clients: Option<Clients>,
    ) -> std::io::Result<RootHandler> {
        Ok(RootHandler { root: std::fs::canonicalize(root)?, chain, stats, clients })
    }

    /// Whether `client` may read at all.
    fn admits(&self, client: &SocketAddr) -> bool {
        self.clients.as_ref().is_none_or(|c| {
            let w = c.state.snapshot();
            w.table::<Network>().serves_client(w.global_id(), client.ip(), &c.extra)
        })
    }

    /// The node at `client`'s address and its first MAC, when one has it
    /// (for the log: which machine fetched what).
    fn node_at(&self, client: &SocketAddr) -> (Option<String>, Option<String>) {
        let (Some(c), std::net::IpAddr::V4(ip)) = (self.clients.as_ref(), client.ip()) else { return (None, None) };
        let w = c.state.snapshot();
        let node = w.table::<Node>().by_ip(ip);
        (node.map(|n| n.name.clone()), node.and_then(|n| n.macs.first()).map(ToString::to_string))
    }

    /// What a request gets: the Secure Boot chain's and PXELINUX's names
    /// first (when this handler serves them), then the root.
    pub(crate) fn target(&self, requested: &Path) -> Result<Target, packet::Error> {
        let rel = normalized(requested)?;
        let Some(chain) = &self.chain else {
            return confined(&self.root, &rel).map(Target::File);
        };
        // The package's file, else one of that name in the root.
        let package = |path: &Path| {
            if path.is_file() {
                Ok(Target::File(path.to_path_buf()))
            } else {
                confined(&self.root, &rel).map(Target::File)
            }
        };
        if let Some(special) = grub::special(&rel) {
            return match special {
                Special::Shim => package(&chain.shim_x64),
                Special::Grub => package(&chain.grub_x64),
                Special::Bootstrap => Ok(Target::Fixed(grub::BOOTSTRAP)),
                Special::NodeConfig(mac) => Ok(Target::Rendered(Rendering::Grub, mac)),
                Special::File(rel) => confined(&chain.files_dir, &rel).map(Target::File),
            };
        }
        match pxelinux::special(&rel) {
            Some(pxelinux::Special::Loader(name)) => package(&chain.pxelinux_dir.join(name)),
            Some(pxelinux::Special::Module(name)) => package(&chain.syslinux_modules.join(name)),
            Some(pxelinux::Special::Config(mac)) => Ok(Target::Rendered(Rendering::Pxelinux, mac)),
            Some(pxelinux::Special::NoConfig) => Err(packet::Error::FileNotFound),
            None => confined(&self.root, &rel).map(Target::File),
        }
    }

    /// `mac`'s GRUB or PXELINUX config, rendered now for a request from
    /// `client`.
    fn rendered(&self, client: &SocketAddr, mac: Mac, which: Rendering) -> Result<String, String> {
        let c = self.clients.as_ref().ok_or("no live state to render from")?;
        let world = c.state.snapshot();
        super::for_the_machine_itself(&world, mac, client.ip()).map_err(|e| e.to_string())?;
        let net = match client.ip() {
            std::net::IpAddr::V4(ip) => world.table::<Network>().containing(ip),
            std::net::IpAddr::V6(_) => None,
        };
        let server = match client.ip() {
            std::net::IpAddr::V4(ip) => net.and_then(|n| n.server).or_else(|| source_toward(ip)),
            std::net::IpAddr::V6(_) => None,
        };
        let base = match (&c.config.http.public_url, server) {
            (Some(_), _) => c.config.base_url(std::net::Ipv4Addr::UNSPECIFIED.into()),
            (None, Some(server)) => c.config.base_url(server.into()),
            (None, None) => {
                return Err(format!(
                    "{} is on no network with a `server` address (nor is http.public_url set): \
                     the config could not name the HTTP server",
                    client.ip()
                ))
            }
        };
        let discovery = &c.config.boot.discovery_bootenv;
        match which {
            Rendering::Grub => super::render::grub_config(&world, discovery, &base, mac),
            Rendering::Pxelinux => {
                // lpxelinux.0 reads http://; pxelinux.0 (or a stranger's
                // loader on no network) reads over TFTP.
                // As DHCP does: a node whose address is not on this
                // network was answered as a stranger.
                let node = world
                    .table::<Node>()
                    .by_mac(&mac)
                    .map(|n| &**n)
                    .filter(|n| n.ipv4.is_some_and(|ip| net.is_some_and(|net| net.subnet.contains(&ip))));
                let http = net.is_some_and(|net| {
                    net.chosen_bios_loader(node).unwrap_or(&c.config.dhcp.bios_loader) == pxelinux::LPXELINUX
                });
                super::render::pxelinux_config(&world, discovery, &base, mac, http)
            }
        }
        .map_err(|e| e.to_string())
    }
}

/// The address this host sends from toward `client`: the admin node's
/// address on the client's segment, as DHCP finds it from the interfaces
/// when a network names no `server`. Connecting a UDP socket sends
/// nothing.
fn source_toward(client: std::net::Ipv4Addr) -> Option<std::net::Ipv4Addr> {
    let socket = UdpSocket::bind((std::net::Ipv4Addr::UNSPECIFIED, 0)).ok()?;
    socket.connect((client, 9)).ok()?;
    match socket.local_addr().ok()?.ip() {
        std::net::IpAddr::V4(ip) if !ip.is_unspecified() => Some(ip),
        _ => None,
    }
}

/// A request's path as components under a root: a backslash taken as `/`, `..`
/// refused, the empty path not found.
fn normalized(requested: &Path) -> Result<PathBuf, packet::Error> {
    let text = requested.to_string_lossy().replace('\\', "/");
    let mut rel = PathBuf::new();
    for c in Path::new(&text).components() {
        match c {
            Component::Normal(part) => rel.push(part),
            Component::RootDir | Component::CurDir => {}
            Component::ParentDir | Component::Prefix(_) => return Err(packet::Error::PermissionDenied),
        }
    }
    if rel.as_os_str().is_empty() {
        return Err(packet::Error::FileNotFound);
    }
    Ok(rel)
}

/// The file `rel` names under `root`, if it stays inside (or leaves only
/// through links root owns).
fn confined(root: &Path, rel: &Path) -> Result<PathBuf, packet::Error> {
    let full = std::fs::canonicalize(root.join(rel)).map_err(|_| packet::Error::FileNotFound)?;
    if !full.starts_with(root) && !super::links_owned_by_root(root, rel) {
        return Err(packet::Error::PermissionDenied);
    }
    if !full.is_file() {
        return Err(packet::Error::FileNotFound);
    }
    Ok(full)
}

impl Handler for RootHandler {
    type Reader = Counted<Source>;
    type Writer = futures_lite::io::Sink;

    async fn read_req_open(
        &mut self,
        client: &SocketAddr,
        path: &Path,
    ) -> Result<(Self::Reader, Option<u64>), packet::Error> {
        bump(&self.stats.tftp_requests);
        if !self.admits(client) {
            bump(&self.stats.boot_refused);
            tracing::info!(%client, "tftp refused: not on a served network");
            return Err(packet::Error::PermissionDenied);
        }
        let (node, mac) = self.node_at(client);
        let note = |answer: String| {
            if let (Some(c), Some(node)) = (&self.clients, &node) {
                let request = format!("RRQ {}", path.display());
                c.tracer.note(node, TraceEvent::now(Service::Tftp, Some(client.ip()), None, request, answer));
            }
        };
        let refused = |e: packet::Error, why: &str| {
            bump(&self.stats.tftp_refused);
            tracing::info!(node, mac, %client, path = %path.display(), error = ?e, why, "tftp refused");
            note(format!("refused: {why}"));
            Err(e)
        };
        let full = match self.target(path) {
            Ok(Target::File(p)) => p,
            Ok(Target::Fixed(text)) => {
                tracing::info!(node, mac, %client, path = %path.display(), "tftp read");
                note(format!("sending the GRUB bootstrap ({} bytes)", text.len()));
                return Ok(self.bytes(text.as_bytes().to_vec()));
            }
            Ok(Target::Rendered(which, of)) => {
                return match self.rendered(client, of, which) {
                    Ok(text) => {
                        let version = self.clients.as_ref().map(|c| c.state.snapshot().version());
                        let word = which.word();
                        let path = path.display();
                        tracing::info!(node, mac, %client, %path, of = %of, version, "{} config", word.to_lowercase());
                        note(format!("sending the {word} config of {of} ({} bytes)", text.len()));
                        Ok(self.bytes(text.into_bytes()))
                    }
                    Err(why) => refused(packet::Error::Msg(why.clone()), &why),
                };
            }
            Err(e) => return refused(e.clone(), refusal(&e)),
        };
        tracing::info!(node, mac, %client, path = %full.display(), "tftp read");
        let shown = full.display().to_string();
        let opened = blocking::unblock(move || {
            let f = std::fs::File::open(&full)?;
            let len = f.metadata()?.len();
            Ok::<_, std::io::Error>((f, len))
        })
        .await;
        let (file, len) = match opened {
            Ok(x) => x,
            Err(e) => {
                note(format!("refused: cannot open {shown}: {e}"));
                return Err(packet::Error::FileNotFound);
            }
        };
        note(format!("sending {shown} ({len} bytes)"));
        let file = Unblock::with_capacity(READ_AHEAD, file);
        let reader = Counted { inner: Source::File(file), read: self.stats.tftp_bytes.clone() };
        Ok((reader, Some(len)))
    }

    async fn write_req_open(
        &mut self,
        client: &SocketAddr,
        path: &Path,
        _size: Option<u64>,
    ) -> Result<Self::Writer, packet::Error> {
        tracing::info!(%client, path = %path.display(), "tftp write refused");
        Err(packet::Error::IllegalOperation)
    }
}

impl RootHandler {
    /// A rendered answer as a transfer.
    fn bytes(&self, body: Vec<u8>) -> (Counted<Source>, Option<u64>) {
        let len = body.len() as u64;
        (
            Counted { inner: Source::Bytes(futures_lite::io::Cursor::new(body)), read: self.stats.tftp_bytes.clone() },
            Some(len),
        )
    }
}

/// What a transfer reads from: a file, or text rendered for it.
pub(crate) enum Source {
    File(Unblock<std::fs::File>),
    Bytes(futures_lite::io::Cursor<Vec<u8>>),
}

impl futures_lite::AsyncRead for Source {
    fn poll_read(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut [u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Source::File(f) => std::pin::Pin::new(f).poll_read(cx, buf),
            Source::Bytes(b) => std::pin::Pin::new(b).poll_read(cx, buf),
        }
    }
}

/// A refusal for a person.
fn refusal(e: &packet::Error) -> &'static str {
    match e {
        packet::Error::FileNotFound => "no such file under the TFTP root",
        packet::Error::PermissionDenied => "the path leads out of the TFTP root",
        _ => "not served",
    }
}

/// A file being sent, its bytes counted as they are read for the wire
/// (`fulcrum_tftp_sent_bytes_total`; a block sent again is counted once).
pub(crate) struct Counted<R> {
    inner: R,
    read: crate::stats::Counter,
}

impl<R: futures_lite::AsyncRead + Unpin> futures_lite::AsyncRead for Counted<R> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut [u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        let polled = std::pin::Pin::new(&mut self.inner).poll_read(cx, buf);
        if let std::task::Poll::Ready(Ok(n)) = &polled {
            self.read.inc_by(*n as u64);
        }
        polled
    }
}

/// Builds the server on an already-bound socket.
pub(crate) async fn build(
    socket: UdpSocket,
    stats: Arc<Stats>,
    clients: Clients,
) -> anyhow::Result<TftpServer<RootHandler>> {
    let tftp = clients.config.tftp.clone();
    let chain = Chain::from_config(&clients.config);
    let handler = RootHandler::new(&tftp.root, Some(chain), stats, Some(clients))
        .map_err(|e| anyhow::anyhow!("tftp.root {}: {e}", tftp.root.display()))?;
    let server = TftpServerBuilder::with_handler(handler)
        .std_socket(socket)?
        .block_size_limit(tftp.max_blksize)
        .window_size_limit(tftp.max_windowsize)
        .build()
        .await?;
    Ok(server)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The file a request gets.
    fn file(h: &RootHandler, requested: &Path) -> Result<PathBuf, packet::Error> {
        h.target(requested).map(|t| match t {
            Target::File(p) => p,
            other => panic!("{} is not a file: {other:?}", requested.display()),
        })
    }

    #[test]
    fn confines_paths_to_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        std::fs::create_dir_all(root.join("sub")).unwrap();
        std::fs::write(root.join("undionly.kpxe"), b"x").unwrap();
        std::fs::write(root.join("sub/a.efi"), b"y").unwrap();
        std::fs::write(dir.path().join("secret"), b"z").unwrap();
        std::os::unix::fs::symlink(dir.path().join("secret"), root.join("escape")).unwrap();
        // As Debian's ipxe package has it: ipxe.efi -> /boot/ipxe.efi.
        std::fs::create_dir_all(dir.path().join("boot")).unwrap();
        std::fs::write(dir.path().join("boot/ipxe.efi"), b"w").unwrap();
        std::os::unix::fs::symlink(dir.path().join("boot/ipxe.efi"), root.join("ipxe.efi")).unwrap();
        std::os::unix::fs::symlink(dir.path().join("boot"), root.join("bootdir")).unwrap();
        let as_root = std::fs::metadata("/proc/self").is_ok_and(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0);
        assert!(as_root || std::env::var_os("CI").is_none(), "this test needs root under CI (its links are root's)");
        if as_root {
            // Planted by someone else: not followed out of the root.
            std::os::unix::fs::lchown(root.join("escape"), Some(65534), Some(65534)).unwrap();
        }
        let h = RootHandler::new(&root, None, Arc::default(), None).unwrap();
        if as_root {
            assert!(file(&h, Path::new("ipxe.efi")).is_ok(), "the package's own link is followed");
            assert!(file(&h, Path::new("bootdir/ipxe.efi")).is_ok());
        }
        assert!(file(&h, Path::new("undionly.kpxe")).is_ok());
        assert!(file(&h, Path::new("/undionly.kpxe")).is_ok());
        assert!(file(&h, Path::new("sub\\a.efi")).is_ok());
        assert!(matches!(file(&h, Path::new("../secret")), Err(packet::Error::PermissionDenied)));
        assert!(matches!(file(&h, Path::new("sub/../../secret")), Err(packet::Error::PermissionDenied)));
        assert!(matches!(file(&h, Path::new("escape")), Err(packet::Error::PermissionDenied)));
        assert!(matches!(file(&h, Path::new("missing")), Err(packet::Error::FileNotFound)));
        assert!(matches!(file(&h, Path::new("sub")), Err(packet::Error::FileNotFound)));
    }

    #[test]
    fn finds_the_address_it_sends_from() {
        assert_eq!(source_toward(std::net::Ipv4Addr::LOCALHOST), Some(std::net::Ipv4Addr::LOCALHOST));
    }

    #[test]
    fn serves_the_secure_boot_chain_beside_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let (root, files, pkg) = (dir.path().join("root"), dir.path().join("files"), dir.path().join("pkg"));
        for d in [&root, &files.join("discovery"), &pkg] {
            std::fs::create_dir_all(d).unwrap();
        }
        std::fs::write(root.join("snponly.efi"), b"i").unwrap();
        std::fs::write(files.join("discovery/vmlinuz"), b"k").unwrap();
        std::fs::write(dir.path().join("secret"), b"z").unwrap();
        std::fs::write(pkg.join("shimx64.efi.signed"), b"s").unwrap();
        std::fs::write(pkg.join("lpxelinux.0"), b"l").unwrap();
        std::fs::write(pkg.join("ldlinux.c32"), b"m").unwrap();
        let chain = Chain {
            shim_x64: pkg.join("shimx64.efi.signed"),
            grub_x64: pkg.join("grubnetx64.efi.signed"),
            files_dir: std::fs::canonicalize(&files).unwrap(),
            pxelinux_dir: pkg.clone(),
            syslinux_modules: pkg.clone(),
        };
        let h = RootHandler::new(&root, Some(chain), Arc::default(), None).unwrap();
        assert_eq!(file(&h, Path::new("shimx64.efi")).unwrap(), pkg.join("shimx64.efi.signed"));
        assert_eq!(
            file(&h, Path::new("/snponly.efi")).unwrap(),
            std::fs::canonicalize(root.join("snponly.efi")).unwrap()
        );
        assert!(file(&h, Path::new("files/discovery/vmlinuz")).unwrap().ends_with("files/discovery/vmlinuz"));
        // The GRUB package is not installed: not found, not something else...
        assert!(matches!(h.target(Path::new("grubx64.efi")), Err(packet::Error::FileNotFound)));
        // ...unless the root has a file of that name.
        std::fs::write(root.join("grubx64.efi"), b"g").unwrap();
        assert!(file(&h, Path::new("grubx64.efi")).unwrap().starts_with(std::fs::canonicalize(&root).unwrap()));
        assert_eq!(h.target(Path::new("/grub/grub.cfg")).unwrap(), Target::Fixed(grub::BOOTSTRAP));
        let mac: Mac = "52:54:00:fc:00:01".parse().unwrap();
        assert_eq!(
            h.target(Path::new("/grub/fulcrum/52:54:00:fc:00:01.cfg")).unwrap(),
            Target::Rendered(Rendering::Grub, mac)
        );
        // The files directory is confined like the root.
        assert!(matches!(h.target(Path::new("files/../secret")), Err(packet::Error::PermissionDenied)));
        assert!(matches!(h.target(Path::new("files/discovery")), Err(packet::Error::FileNotFound)));
        // GRUB's probes for its modules are simply not there.
        assert!(matches!(h.target(Path::new("grub/x86_64-efi/command.lst")), Err(packet::Error::FileNotFound)));
        // PXELINUX: its loader and modules from their packages (the root
        // stands in for one not installed), its config rendered, its other
        // probes not found at once.
        assert_eq!(file(&h, Path::new("lpxelinux.0")).unwrap(), pkg.join("lpxelinux.0"));
        assert_eq!(file(&h, Path::new("/ldlinux.c32")).unwrap(), pkg.join("ldlinux.c32"));
        assert!(matches!(h.target(Path::new("pxelinux.0")), Err(packet::Error::FileNotFound)));
        std::fs::write(root.join("pxelinux.0"), b"p").unwrap();
        assert!(file(&h, Path::new("pxelinux.0")).unwrap().starts_with(std::fs::canonicalize(&root).unwrap()));
        assert_eq!(
            h.target(Path::new("pxelinux.cfg/01-52-54-00-fc-00-01")).unwrap(),
            Target::Rendered(Rendering::Pxelinux, mac)
        );
        std::fs::create_dir_all(root.join("pxelinux.cfg")).unwrap();
        std::fs::write(root.join("pxelinux.cfg/default"), b"d").unwrap();
        for miss in ["pxelinux.cfg/default", "pxelinux.cfg/0A4D0064", "menu.c32"] {
            assert!(matches!(h.target(Path::new(miss)), Err(packet::Error::FileNotFound)), "{miss}");
        }
        // Without the chain, these names are the root's (and absent).
        let plain = RootHandler::new(&root, None, Arc::default(), None).unwrap();
        assert!(matches!(plain.target(Path::new("shimx64.efi")), Err(packet::Error::FileNotFound)));
        assert!(matches!(plain.target(Path::new("grub/grub.cfg")), Err(packet::Error::FileNotFound)));
    }
}
