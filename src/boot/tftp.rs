//! The TFTP server for first-stage loaders (undionly.kpxe, snponly.efi...),
//! on async-tftp: read-only, blksize and tsize negotiated, blksize capped
//! at the link's MTU - 32. Paths are confined to the root: `..` is refused,
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

use crate::inventory::network::Network;
use crate::inventory::node::Node;
use crate::inventory::trace::{Service, TraceEvent, Tracer};
use crate::state::State;
use crate::stats::{bump, Stats};

/// Who may read: the served networks (from the live state), loopback,
/// and these extra subnets.
pub(crate) struct Clients {
    pub(crate) state: State,
    pub(crate) extra: Vec<ipnet::IpNet>,
    /// Nodes' boot traces.
    pub(crate) tracer: Tracer,
}

/// Serves files under one directory.
pub(crate) struct RootHandler {
    root: PathBuf,

    stats: Arc<Stats>,
    clients: Option<Clients>,
}

impl RootHandler {
    /// `root` must exist; it is canonicalized once here. Without
    /// `clients`, anyone may read.
    pub(crate) fn new(root: &Path, stats: Arc<Stats>, clients: Option<Clients>) -> std::io::Result<RootHandler> {
        Ok(RootHandler { root: std::fs::canonicalize(root)?, stats, clients })
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

    /// The file a request names, if it stays inside the root.
    pub(crate) fn resolve(&self, requested: &Path) -> Result<PathBuf, packet::Error> {
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
        let full = std::fs::canonicalize(self.root.join(&rel)).map_err(|_| packet::Error::FileNotFound)?;
        if !full.starts_with(&self.root) && !super::links_owned_by_root(&self.root, &rel) {
            return Err(packet::Error::PermissionDenied);
        }
        if !full.is_file() {
            return Err(packet::Error::FileNotFound);
        }
        Ok(full)
    }
}

impl Handler for RootHandler {
    type Reader = Counted<Unblock<std::fs::File>>;
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
        let full = match self.resolve(path) {
            Ok(p) => p,
            Err(e) => {
                bump(&self.stats.tftp_refused);
                tracing::info!(node, mac, %client, path = %path.display(), error = ?e, "tftp refused");
                note(format!("refused: {}", refusal(&e)));
                return Err(e);
            }
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
        Ok((Counted { inner: Unblock::new(file), read: self.stats.tftp_bytes.clone() }, Some(len)))
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
    root: &Path,
    max_blksize: u16,
    stats: Arc<Stats>,
    clients: Clients,
) -> anyhow::Result<TftpServer<RootHandler>> {
    let handler = RootHandler::new(root, stats, Some(clients))
        .map_err(|e| anyhow::anyhow!("tftp.root {}: {e}", root.display()))?;
    let server =
        TftpServerBuilder::with_handler(handler).std_socket(socket)?.block_size_limit(max_blksize).build().await?;
    Ok(server)
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let h = RootHandler::new(&root, Arc::default(), None).unwrap();
        if as_root {
            assert!(h.resolve(Path::new("ipxe.efi")).is_ok(), "the package's own link is followed");
            assert!(h.resolve(Path::new("bootdir/ipxe.efi")).is_ok());
        }
        assert!(h.resolve(Path::new("undionly.kpxe")).is_ok());
        assert!(h.resolve(Path::new("/undionly.kpxe")).is_ok());
        assert!(h.resolve(Path::new("sub\\a.efi")).is_ok());
        assert!(matches!(h.resolve(Path::new("../secret")), Err(packet::Error::PermissionDenied)));
        assert!(matches!(h.resolve(Path::new("sub/../../secret")), Err(packet::Error::PermissionDenied)));
        assert!(matches!(h.resolve(Path::new("escape")), Err(packet::Error::PermissionDenied)));
        assert!(matches!(h.resolve(Path::new("missing")), Err(packet::Error::FileNotFound)));
        assert!(matches!(h.resolve(Path::new("sub")), Err(packet::Error::FileNotFound)));
    }
}
