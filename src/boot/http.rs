//! HTTP boot routes, with their own router state and error type:
//! - `GET /boot/ipxe?mac=MAC`: the iPXE script rendered now from the MAC's
//!   current bootenv (discovery for unknown MACs);
//! - `GET /boot/templates/{mac}/{name}`: unattended-install templates;
//! - `GET /boot/files/...`: kernels, initrds, ISOs from the files dir
//!   ([`super::files`]: ranges, ETag and conditional requests);
//! - `GET /boot/loaders/...`: the TFTP root over HTTP, for UEFI HTTP boot,
//!   and the Secure Boot chain's `shimx64.efi` and `grubx64.efi`.

use std::path::PathBuf;
use std::sync::Arc;

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Path, Query, Request, State as AxState};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;

use super::render::{self, RenderError};
use crate::inventory::bootenv::Bootenv;
use crate::inventory::network::Network;
use crate::inventory::node::Node;
use crate::inventory::trace::{Service, TraceEvent, Tracer};
use crate::state::State;
use crate::stats::{bump, Stats};
use crate::types::mac::{Mac, MacParseError};
use crate::types::report::Report;

/// What the boot routes need.
#[derive(Clone)]
pub(crate) struct BootState {
    pub(crate) state: State,
    pub(crate) stats: Arc<Stats>,
    pub(crate) settings: Arc<BootSettings>,
    /// Nodes' boot traces.
    pub(crate) tracer: Tracer,
}

/// The boot routes' settings, from the config.
#[derive(Debug, Clone)]
pub(crate) struct BootSettings {
    /// Kernels, initrds, ISOs.
    pub(crate) files_dir: PathBuf,
    /// First-stage loaders (the TFTP root).
    pub(crate) loaders_dir: PathBuf,
    /// The signed shim, served as `/boot/loaders/shimx64.efi`.
    pub(crate) shim_x64: PathBuf,
    /// The signed GRUB, served as `/boot/loaders/grubx64.efi`.
    pub(crate) grub_x64: PathBuf,
    /// The base URL nodes use, when configured.
    pub(crate) public_url: Option<String>,
    /// Where the HTTP server listens (the base URL without a Host header).
    pub(crate) listen: std::net::SocketAddr,
    /// The bootenv of unknown MACs.
    pub(crate) discovery_bootenv: String,
    /// Subnets allowed besides the served networks and loopback.
    pub(crate) clients: Vec<ipnet::IpNet>,
}

/// Why a boot request got no answer.
#[derive(Debug, thiserror::Error)]
pub(crate) enum BootError {
    #[error("query parameter `mac` is required")]
    MissingMac,
    #[error(transparent)]
    BadMac(#[from] MacParseError),
    #[error(transparent)]
    Render(#[from] RenderError),
    #[error("{0} is not on a network Fulcrum serves")]
    NotServed(std::net::IpAddr),
    /// A registered machine's boot answers carry its token: only it (or
    /// the admin node) gets them.
    #[error(transparent)]
    NotFromNode(#[from] super::NotFromNode),
}

impl IntoResponse for BootError {
    fn into_response(self) -> Response {
        let message = Report(&self).to_string();
        let (status, field) = match &self {
            BootError::MissingMac | BootError::BadMac(_) => (StatusCode::BAD_REQUEST, Some("mac")),
            BootError::NotServed(_) => (StatusCode::FORBIDDEN, None),
            BootError::NotFromNode(_) => (StatusCode::FORBIDDEN, Some("mac")),
            BootError::Render(RenderError::MissingTemplate { .. }) => (StatusCode::NOT_FOUND, None),
            BootError::Render(_) => {
                tracing::error!(error = %message, "cannot render boot answer");
                (StatusCode::INTERNAL_SERVER_ERROR, None)
            }
        };
        let detail = field.map_or(serde_json::Value::Null, |f| serde_json::json!({ "field": f }));
        (status, Json(serde_json::json!({ "error": message, "detail": detail }))).into_response()
    }
}

/// A directory served over HTTP that nothing leads out of: the path is
/// decoded once, and refused when it is not UTF-8, holds a NUL, a
/// backslash or a `..`, is over [`MAX_PATH`] bytes, or resolves (through a
/// symlink) outside the directory. What is left is [`super::files`]'s.
fn confined(dir: &std::path::Path) -> Router {
    let root = Arc::new(std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf()));
    Router::new().fallback(serve_under).with_state(root)
}

/// One file under `root`, the request's path confined to it.
async fn serve_under(AxState(root): AxState<Arc<PathBuf>>, req: Request) -> Response {
    let path = req.uri().path();
    if let Err(why) = within(&root, path) {
        let body = serde_json::json!({ "error": format!("refused: {why}"), "detail": null });
        return (StatusCode::FORBIDDEN, Json(body)).into_response();
    }
    // `within` has decoded it already and found it UTF-8 and confined.
    let decoded = percent_encoding::percent_decode_str(path).decode_utf8_lossy();
    let full = root.join(decoded.trim_start_matches('/'));
    super::files::serve(full, req.method(), req.headers()).await
}

/// A route serving the one file at `path` (the Secure Boot chain's
/// loaders), whatever the method: [`super::files::serve`] refuses all but
/// GET and HEAD.
fn fixed(path: &std::path::Path) -> axum::routing::MethodRouter {
    let path = Arc::new(path.to_path_buf());
    axum::routing::any(move |req: Request| {
        let path = path.clone();
        async move { super::files::serve(path.to_path_buf(), req.method(), req.headers()).await }
    })
}

/// Longest path asked for under a served directory.
const MAX_PATH: usize = 1024;
/// Longest segment of such a path (Linux's NAME_MAX: a longer one made the
/// file server answer 500; found by the boot_http fuzz target).
const MAX_NAME: usize = 255;

/// Why `requested` (a URL path under `root`) may not be served.
fn within(root: &std::path::Path, requested: &str) -> Result<(), &'static str> {
    if requested.len() > MAX_PATH {
        return Err("the path is too long");
    }
    let decoded = percent_encoding::percent_decode_str(requested).decode_utf8().map_err(|_| "the path is not UTF-8")?;
    if decoded.contains(['\0', '\\']) {
        return Err("the path holds a NUL or a backslash");
    }
    let rel = std::path::Path::new(decoded.trim_start_matches('/'));
    if rel.components().any(|c| !matches!(c, std::path::Component::Normal(_) | std::path::Component::CurDir)) {
        return Err("the path leaves the directory");
    }
    if rel.components().any(|c| c.as_os_str().len() > MAX_NAME) {
        return Err("a path segment is too long");
    }
    match std::fs::canonicalize(root.join(rel)) {
        Ok(full) if !full.starts_with(root) && !super::links_owned_by_root(root, rel) => {
            Err("the path leads out of the directory")
        }
        Ok(_) => Ok(()),
        // Missing files are the file server's to answer (404).
        Err(e) if matches!(e.kind(), std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory) => Ok(()),
        // A symlink loop, a directory it may not read: a client's problem,
        // not a 500 from the file server.
        Err(_) => Err("the path cannot be resolved"),
    }
}

/// The boot routes, for machines on the served networks only.
pub(crate) fn router(boot: BootState) -> Router {
    let files = confined(&boot.settings.files_dir);
    // The Secure Boot chain's two loaders, as TFTP serves them, then the
    // TFTP root.
    let loaders = Router::new()
        .route(&format!("/{}", super::grub::SHIM_X64), fixed(&boot.settings.shim_x64))
        .route(&format!("/{}", super::grub::GRUB_X64), fixed(&boot.settings.grub_x64))
        .fallback_service(confined(&boot.settings.loaders_dir));
    let served_only = middleware::from_fn_with_state(boot.clone(), served_only);
    let kernels = middleware::from_fn_with_state(boot.clone(), kernel_fetches);
    Router::new()
        .route("/boot/ipxe", get(ipxe))
        .route("/boot/templates/{mac}/{name}", get(template))
        .nest_service("/boot/files", files)
        .nest_service("/boot/loaders", loaders)
        .layer(kernels)
        .layer(middleware::from_fn_with_state(boot.clone(), traced))
        .layer(served_only)
        .route_layer(middleware::from_fn_with_state(boot.clone(), count))
        .with_state(boot)
}

/// An error answer with an empty body gets its status as text, as nginx
/// gives one: EDK2's HTTP stack (which shim uses to fetch its optional
/// files) waits out its timeout for the body of an empty 404 — 60 s per
/// file, measured with Debian's shim under OVMF. A layer of the whole
/// boot port (`axum::middleware::map_response`), so answers the front
/// writes itself and those of connections it hands to hyper alike.
pub(crate) async fn with_error_text(response: Response) -> Response {
    use axum::body::HttpBody as _;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) || response.body().size_hint().exact() != Some(0) {
        return response;
    }
    let (mut parts, _) = response.into_parts();
    let text = format!("{status}\n");
    parts.headers.insert(header::CONTENT_TYPE, header::HeaderValue::from_static("text/plain; charset=utf-8"));
    parts.headers.insert(header::CONTENT_LENGTH, header::HeaderValue::from(text.len()));
    Response::from_parts(parts, axum::body::Body::from(text))
}

/// Counts a boot request by its route's pattern and status, and the bytes
/// its answer says it carries.
async fn count(AxState(boot): AxState<BootState>, req: Request, next: Next) -> Response {
    let route = req.extensions().get::<axum::extract::MatchedPath>().map(|m| m.as_str().to_string());
    let method = crate::stats::method_label(req.method().as_str());
    let resp = next.run(req).await;
    let label = crate::stats::Request { route: route.unwrap_or_default(), method, status: resp.status().as_u16() };
    boot.stats.boot_requests.get_or_create(&label).inc();
    let len = resp.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    boot.stats.boot_http_bytes.inc_by(len.unwrap_or(0));
    resp
}

/// A node in early boot that has fetched its bootenv's kernel is past it
/// (the next paced power-on may go). Recorded before the answer leaves,
/// only for such a node; every other request passes untouched.
async fn kernel_fetches(
    AxState(boot): AxState<BootState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: Request,
    next: Next,
) -> Response {
    let path = req.uri().path().strip_prefix("/boot/files/").map(str::to_string);
    let resp = next.run(req).await;
    let (Some(path), std::net::IpAddr::V4(ip)) = (path, peer.ip()) else { return resp };
    if !resp.status().is_success() {
        return resp;
    }
    let world = boot.state.snapshot();
    let Some(node) = world.table::<Node>().by_ip(ip).filter(|n| n.awaiting_boot.is_some_and(|a| a.in_early_boot()))
    else {
        return resp;
    };
    let kernel = world.table::<Bootenv>().get(&node.bootenv).and_then(|e| e.kernel.clone());
    if kernel.as_deref() == Some(path.as_str()) {
        let name = node.name.clone();
        if let Err(e) = boot.state.write(move |txn| crate::inventory::node::kernel_fetched(txn, &name)).await {
            tracing::warn!(node = %node.name, error = %Report(&e), "the kernel fetch was not recorded");
        }
    }
    resp
}

/// The MAC a script or template request names: `/boot/ipxe?mac=` or
/// `/boot/templates/{mac}/...` (no other route reads one).
fn named_mac(uri: &axum::http::Uri) -> Option<Mac> {
    if let Some(rest) = uri.path().strip_prefix("/boot/templates/") {
        return rest.split('/').next()?.parse().ok();
    }
    if uri.path() != "/boot/ipxe" {
        return None;
    }
    Query::<MacQuery>::try_from_uri(uri).ok()?.0.mac?.parse().ok()
}

/// Adds a request to its node's boot trace: the node the MAC it names
/// belongs to when the request comes from that node's own address (as
/// `for_the_machine_itself` requires), else the node at its source
/// address, so that no one else's requests land in a node's trace. A
/// stranger's request passes untouched. Only the path and a `mac` are
/// kept of the query: a custom bootenv's URL might carry a token.
async fn traced(
    AxState(boot): AxState<BootState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: Request,
    next: Next,
) -> Response {
    let world = boot.state.snapshot();
    let nodes = world.table::<Node>();
    let mac = named_mac(req.uri()).filter(|m| super::for_the_machine_itself(&world, *m, peer.ip()).is_ok());
    let node = mac.and_then(|m| nodes.by_mac(&m)).or_else(|| match peer.ip() {
        std::net::IpAddr::V4(ip) => nodes.by_ip(ip),
        std::net::IpAddr::V6(ip) => ip.to_ipv4_mapped().and_then(|ip| nodes.by_ip(ip)),
    });
    let Some(node) = node.cloned() else { return next.run(req).await };
    // As a person reads it: iPXE sends `mac=52%3A54...`.
    let path = percent_encoding::percent_decode_str(req.uri().path()).decode_utf8_lossy().into_owned();
    let request = match named_mac(req.uri()) {
        Some(m) if req.uri().path() == "/boot/ipxe" => format!("{} {path}?mac={m}", req.method()),
        _ => format!("{} {path}", req.method()),
    };
    let script = req.uri().path() == "/boot/ipxe";
    let resp = next.run(req).await;
    let status = resp.status();
    let mut answer = status.to_string();
    if status.is_success() && script {
        let env = if node.protected { "local (the node is protected)" } else { node.bootenv.as_str() };
        answer.push_str(&format!(", the script of bootenv {env}"));
    }
    if let Some(len) = resp.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()) {
        answer.push_str(&format!(", {len} bytes"));
    }
    boot.tracer.note(&node.name, TraceEvent::now(Service::Http, Some(peer.ip()), mac, request, answer));
    resp
}

/// Refuses a request from outside the served networks (403, counted).
async fn served_only(
    AxState(boot): AxState<BootState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: Request,
    next: Next,
) -> Response {
    let world = boot.state.snapshot();
    if world.table::<Network>().serves_client(world.global_id(), peer.ip(), &boot.settings.clients) {
        next.run(req).await
    } else {
        bump(&boot.stats.boot_refused);
        BootError::NotServed(peer.ip()).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::{base_url, with_error_text, within, BootSettings};
    use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
    use axum::routing::get;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// EDK2's HTTP stack waits out its timeout on an empty error body (60 s
    /// per optional file shim asks for): through the boot port's front,
    /// empty error answers carry their status, whether the front writes
    /// them (a GET) or hyper does (a request with a body is handed to
    /// it); bodies of their own and successes are left alone.
    #[tokio::test]
    async fn empty_error_answers_get_their_status_as_text() {
        let router = axum::Router::new()
            .route("/gone", get(|| async { StatusCode::NOT_FOUND }).post(|| async { StatusCode::NOT_FOUND }))
            .route("/said", get(|| async { (StatusCode::BAD_REQUEST, "the mac is malformed") }))
            .route("/empty", get(|| async { StatusCode::OK }))
            .layer(axum::middleware::map_response(with_error_text));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let stop = tokio_util::sync::CancellationToken::new();
        let front = tokio::spawn(crate::net::http1::serve(listener, router, stop.clone()));
        let ask = |request: &'static [u8]| async move {
            let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
            s.write_all(request).await.expect("send");
            let mut out = Vec::new();
            let read = tokio::time::timeout(std::time::Duration::from_secs(10), s.read_to_end(&mut out));
            read.await.expect("answered in time").expect("read");
            String::from_utf8_lossy(&out).to_lowercase()
        };
        for (request, body) in [
            (&b"GET /gone HTTP/1.1\r\nConnection: close\r\n\r\n"[..], "404 not found\n"),
            (b"POST /gone HTTP/1.1\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi", "404 not found\n"),
            // No route at all: the router's own empty 404.
            (b"GET /no/such HTTP/1.1\r\nConnection: close\r\n\r\n", "404 not found\n"),
            (b"GET /said HTTP/1.1\r\nConnection: close\r\n\r\n", "the mac is malformed"),
            (b"GET /empty HTTP/1.1\r\nConnection: close\r\n\r\n", ""),
        ] {
            let text = ask(request).await;
            assert!(text.ends_with(&format!("\r\n\r\n{body}")), "{text}");
            assert!(text.contains(&format!("content-length: {}\r\n", body.len())), "{text}");
        }
        stop.cancel();
        tokio::time::timeout(std::time::Duration::from_secs(10), front).await.expect("joined").expect("no panic");
    }

    #[test]
    fn only_a_plain_host_header_reaches_a_script() {
        let settings = BootSettings {
            files_dir: "/nonexistent".into(),
            loaders_dir: "/nonexistent".into(),
            shim_x64: "/nonexistent/shimx64.efi".into(),
            grub_x64: "/nonexistent/grubx64.efi".into(),
            public_url: None,
            listen: "10.9.0.1:80".parse().unwrap(),
            discovery_bootenv: "discovery".into(),
            clients: vec![],
        };
        let base = |host: &[u8]| {
            let mut h = HeaderMap::new();
            h.insert(header::HOST, HeaderValue::from_bytes(host).unwrap());
            base_url(&settings, &h)
        };
        assert_eq!(base(b"10.9.0.1:8080"), "http://10.9.0.1:8080");
        assert_eq!(base(b"boot.lab.test"), "http://boot.lab.test");
        assert_eq!(base(b"[fd00::1]:8080"), "http://[fd00::1]:8080");
        assert_eq!(base(b"[fd00::1]"), "http://[fd00::1]");
        for bad in [
            &b"evil.test/x initrd=http://evil.test/i"[..],
            b"u@evil.test",
            b"a b",
            b"x|y",
            b"\\",
            b"x;reboot",
            b"$(id)",
            b"a'b",
            b"h:0",
            b"h:99999",
            b"h:+80",
            b"fd00::1",
            b"[zz::1]",
            b"",
        ] {
            assert_eq!(base(bad), "http://10.9.0.1:80", "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn nothing_leads_out_of_a_served_directory() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("files");
        std::fs::create_dir_all(root.join("sub")).unwrap();
        std::fs::write(root.join("sub/k"), b"k").unwrap();
        std::fs::write(dir.path().join("secret"), b"s").unwrap();
        std::os::unix::fs::symlink(dir.path().join("secret"), root.join("out")).unwrap();
        // Planted, not root's own: not followed out (a root-owned link is,
        // by the rule in `boot::links_owned_by_root`).
        if std::fs::metadata("/proc/self").is_ok_and(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0) {
            std::os::unix::fs::lchown(root.join("out"), Some(65534), Some(65534)).unwrap();
            std::os::unix::fs::symlink(dir.path().join("secret"), root.join("package-link")).unwrap();
        }
        std::os::unix::fs::symlink(root.join("sub/k"), root.join("in")).unwrap();
        std::os::unix::fs::symlink(root.join("loop"), root.join("loop")).unwrap();
        let root = std::fs::canonicalize(root).unwrap();
        for ok in ["/sub/k", "/in", "/missing", "/./sub/k", "/sub%2fk", "/sub/k/x"] {
            assert_eq!(within(&root, ok), Ok(()), "{ok}");
        }
        if root.join("package-link").exists() {
            assert_eq!(within(&root, "/package-link"), Ok(()));
        }
        let long = format!("/{}", "a".repeat(4096));
        let long_segment = format!("/sub/{}", "t".repeat(256));
        for bad in [
            "/../secret",
            "/%2e%2e/secret",
            "/sub/%2E%2E/%2E%2E/secret",
            "/%c0%ae%c0%ae/secret",
            "/..%5csecret",
            "/sub/..%2f..%2fsecret",
            "/out",
            "/a%00b",
            "/%ff",
            &long,
            &long_segment,
            "/loop",
            "/loop/x",
        ] {
            assert!(within(&root, bad).is_err(), "{bad} was let through");
        }
    }
}

#[derive(Debug, Deserialize)]
struct MacQuery {
    mac: Option<String>,
}

/// Whether `host` is a plain `name[:port]`, `a.b.c.d[:port]` or
/// `[v6][:port]`: letters, digits, dots and dashes (hex and colons inside
/// brackets), and a port of 1 to 65535. Nothing a shell or an iPXE script
/// reads specially (`;`, `$`, spaces, `@`...).
fn plain_host(host: &str) -> bool {
    let (name, port) = match host.rsplit_once(':') {
        Some((n, p)) if !n.contains(':') || n.ends_with(']') => (n, Some(p)),
        _ => (host, None),
    };
    let name_ok = match name.strip_prefix('[').and_then(|n| n.strip_suffix(']')) {
        Some(v6) => v6.parse::<std::net::Ipv6Addr>().is_ok(),
        None => !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-'),
    };
    name_ok && port.is_none_or(|p| p.parse::<u16>().is_ok_and(|p| p > 0) && p.bytes().all(|b| b.is_ascii_digit()))
}

/// The URL the client used to reach us, from its Host header. The header
/// goes into scripts and templates (an iPXE kernel line, a shell command
/// in cloud-init), so only a [`plain_host`] is taken; anything else gets
/// the listener's own address.
fn base_url(settings: &BootSettings, headers: &HeaderMap) -> String {
    if let Some(url) = &settings.public_url {
        return url.trim_end_matches('/').to_string();
    }
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).filter(|h| plain_host(h));
    match host {
        Some(host) => format!("http://{host}"),
        None => format!("http://{}", settings.listen),
    }
}

fn text(body: String) -> Response {
    ([(header::CONTENT_TYPE, "text/plain; charset=utf-8"), (header::CACHE_CONTROL, "no-store")], body).into_response()
}

async fn ipxe(
    AxState(boot): AxState<BootState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Query(q): Query<MacQuery>,
) -> Result<Response, BootError> {
    let mac: Mac = q.mac.as_deref().ok_or(BootError::MissingMac)?.parse()?;
    bump(&boot.stats.boot_scripts);
    let base = base_url(&boot.settings, &headers);
    let world = boot.state.snapshot();
    super::for_the_machine_itself(&world, mac, peer.ip())?;
    let node = world.table::<Node>().by_mac(&mac);
    let (name, bootenv) = (node.map(|n| n.name.as_str()), node.map(|n| n.bootenv.as_str()));
    tracing::info!(node = name, %mac, bootenv, version = world.version(), "boot script");
    Ok(text(render::ipxe_script(&world, &boot.settings.discovery_bootenv, &base, mac)?))
}

async fn template(
    AxState(boot): AxState<BootState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path((mac, name)): Path<(String, String)>,
) -> Result<Response, BootError> {
    let mac: Mac = mac.parse()?;
    let base = base_url(&boot.settings, &headers);
    let world = boot.state.snapshot();
    super::for_the_machine_itself(&world, mac, peer.ip())?;
    Ok(text(render::template(&world, &boot.settings.discovery_bootenv, &base, mac, &name)?))
}
