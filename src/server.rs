//! Wiring: the data's [`schema`] (every domain registers its record kinds),
//! opening the state, seeding shipped bootenvs and roles, binding every
//! enabled service on its configured address, and shutting down in order.
//! Used by `fulcrum serve`, by `fulcrum demo` and by the tests (ports may
//! be 0).
//!
//! Every task belongs to something that waits for it. Shutdown: stop
//! accepting (HTTP graceful, DHCP and TFTP loops end, the event streams
//! end, the annealer stops claiming), finish the DHCP commits in flight,
//! let running jigs end or record them as interrupted, finish post-commit
//! effects, then join the state writer and close the store.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::task::{JoinHandle, JoinSet};
use tokio_util::sync::CancellationToken;

use axum::serve::ListenerExt;

use crate::api::wire::TlsView;
use crate::api::{self, ApiState};
use crate::auth::Auth;
use crate::boot::http::{BootSettings, BootState};
use crate::boot::{self, tftp};
use crate::config::Config;
use crate::dhcp::ra;
use crate::dhcp::v4::server as dhcp4;
use crate::dhcp::v6::server as dhcp6;
use crate::dns;
use crate::engine::{self, Engine};
use crate::inventory::{self, bootenv, Inventory};
use crate::net::tls::identity::{Identity, Origin};
use crate::net::tls::listener::TlsListener;
use crate::state::{schema as migrations, Schema, State};
use crate::stats::Stats;
use crate::types::fingerprint::Fingerprint;
use crate::types::report::Report;

/// The version of the data format this build writes. Version 1 is data
/// written before the version was stored; it is read unchanged. Version 3
/// counts each noderole's succeeded runs and has the lifecycle's wait
/// states. Version 4 keeps DHCPv6 leases in write order (their row key).
const SCHEMA_VERSION: u32 = 4;

/// How long HTTP requests in flight may take to finish at shutdown.
const HTTP_GRACE: Duration = Duration::from_secs(10);

/// Every record kind and cascade, registered by the domain that owns it.
pub(crate) fn schema() -> Schema {
    let mut s = Schema::new(SCHEMA_VERSION);
    inventory::register(&mut s);
    crate::auth::register(&mut s);
    crate::dhcp::register(&mut s);
    crate::dns::register(&mut s);
    engine::register(&mut s);
    s.migration(1, migrations::unchanged);
    s.migration(2, engine::migrate::v2_to_v3);
    s.migration(3, migrations::rows_rekeyed::<crate::dhcp::lease6::Lease6>);
    s
}

/// A started server: where each service listens, and what to stop.
pub struct Running {
    /// The plain-HTTP boot listener.
    pub http: SocketAddr,
    /// The operator API's listener.
    pub api: SocketAddr,
    /// The API certificate's fingerprint (absent when `api.tls = false`).
    pub tls: Option<Fingerprint>,
    /// The DHCPv4 sockets.
    pub dhcp4: Vec<SocketAddr>,
    /// The DHCPv6 sockets.
    pub dhcp6: Vec<SocketAddr>,
    /// The PXE boot server's socket (port 4011), when it is on.
    pub boot_server: Option<SocketAddr>,
    /// The TFTP socket, when TFTP is enabled.
    pub tftp: Option<SocketAddr>,
    /// The DNS addresses (UDP and TCP), when DNS is enabled.
    pub dns: Vec<SocketAddr>,
    state: State,
    engine: Engine,
    dhcp: Option<Arc<dhcp4::Server>>,
    dhcp6_server: Option<Arc<dhcp6::Server6>>,
    /// Runs the DHCP loops and their tasks; ended once both have drained.
    dhcp_thread: Option<crate::dhcp::thread::DhcpThread>,
    dns_service: Option<dns::server::Service>,
    stop: CancellationToken,
    /// HTTP, the DHCP socket loops and TFTP.
    services: JoinSet<()>,
    annealer: Option<JoinHandle<()>>,
    /// Writes the boot traces; stopped after every service that adds to them.
    trace_keeper: JoinHandle<()>,
    trace_stop: CancellationToken,
}

/// Opens the state and binds and starts every enabled service. If
/// anything fails, the state is closed again before the error returns.
pub async fn start(config: Config) -> anyhow::Result<Running> {
    let config = Arc::new(config);
    let state = State::open_dir(&config.data_dir, schema())
        .with_context(|| format!("data_dir {}", config.data_dir.display()))?;
    match start_services(config, state.clone()).await {
        Ok(running) => Ok(running),
        Err(e) => {
            state.close().await;
            Err(e)
        }
    }
}

async fn start_services(config: Arc<Config>, state: State) -> anyhow::Result<Running> {
    // Lifecycle steps entered before this moment were cut short by a stop.
    let started = crate::types::time::now();
    let inventory = Inventory::new(state.clone());
    let engine = Engine::new(state.clone(), config.clone());
    let auth = Auth::new(state.clone(), config.api.audit_keep);
    if let Some((path, token)) = auth.bootstrap(&config.data_dir).await.context("the first admin token")? {
        // Shown this once; the file keeps it for the CLI.
        println!("fulcrum: first start: an admin token was written to {} (mode 0600):", path.display());
        println!("  {}", token.expose());
    }
    let added = inventory.seed_bootenvs(bootenv::shipped()?).await.context("seeding shipped bootenvs")?;
    if added > 0 {
        tracing::info!(added, "shipped bootenvs added");
    }
    let added = engine.seed(config.engine.roles_dir.as_deref()).await.context("engine.roles_dir")?;
    if added > 0 {
        tracing::info!(added, "shipped roles added");
    }
    let files = config.files_dir();
    std::fs::create_dir_all(&files).with_context(|| format!("boot.files_dir {}", files.display()))?;
    let stats = Arc::new(Stats::default());
    let runs = stats.clone();
    engine.observe_runs(move |outcome, seconds| {
        runs.run_duration.get_or_create(&crate::stats::RunLabel { outcome: outcome.name() }).observe(seconds);
    });
    let commits = stats.clone();
    state.observe_commits(move |took, writes| {
        commits.store_commit.observe(took.as_secs_f64());
        commits.store_batch.observe(writes as f64);
    });
    let stop = CancellationToken::new();
    let mut services = JoinSet::new();
    // Boot traces: queued by the services, written by the keeper (spawned
    // once everything has started; the queue holds what comes before).
    let (tracer, keeper) = crate::inventory::trace::channel(stats.trace_dropped.clone());

    // The listeners: the operator API (HTTPS) and the boot routes (HTTP).
    let boot_tcp = tokio::net::TcpListener::bind(config.http.listen)
        .await
        .with_context(|| format!("http.listen {}", config.http.listen))?;
    let http = boot_tcp.local_addr()?;
    let api_tcp = tokio::net::TcpListener::bind(config.api.listen)
        .await
        .with_context(|| format!("api.listen {}", config.api.listen))?;
    let api_addr = api_tcp.local_addr()?;
    let identity = if config.api.tls { Some(api_identity(&config)?) } else { None };
    let tls = identity.as_ref().map(|id| TlsView {
        fingerprint: id.fingerprint(),
        origin: match id.origin {
            Origin::Configured => "configured",
            Origin::SelfSigned { .. } => "self-signed",
        }
        .into(),
        cert: id.cert_path().display().to_string(),
    });
    if let Some(id) = &identity {
        if id.origin == (Origin::SelfSigned { created: true }) {
            println!("fulcrum: first start: a self-signed API certificate was written to {}", id.cert_path().display());
            println!("  SHA-256 fingerprint {}", id.fingerprint());
        }
    } else {
        tracing::warn!(listen = %api_addr, "api.tls = false: the API speaks plain HTTP; keep it behind a TLS proxy on this host");
    }
    let scheme = if identity.is_some() { "https" } else { "http" };
    let listeners = Arc::new(api::Listeners {
        api: format!("{scheme}://{api_addr}"),
        tls,
        boot: format!("http://{http}"),
        started_at: crate::types::time::now(),
        services: std::sync::OnceLock::new(),
    });

    let dns = Arc::new(dns::server::Dns::new(state.clone(), &config, stats.clone())?);
    let api = ApiState {
        dns: dns.clone(),
        state: state.clone(),
        inventory,
        engine: engine.clone(),
        auth,
        boot_clients: Arc::new(config.http.boot_clients.clone()),
        stats: stats.clone(),
        shutdown: stop.clone(),
        listeners: listeners.clone(),
        tracer: tracer.clone(),
        explainer: Arc::new(crate::explain::Explainer::new(config.clone())),
        importer: Arc::new(crate::distro::Importer::new(files.clone())),
    };
    let boot = BootState {
        state: state.clone(),
        stats: stats.clone(),
        settings: Arc::new(BootSettings {
            files_dir: files,
            loaders_dir: config.tftp.root.clone(),
            shim_x64: config.boot.shim_x64.clone(),
            grub_x64: config.boot.grub_x64.clone(),
            public_url: config.http.public_url.clone(),
            listen: config.http.listen,
            discovery_bootenv: config.boot.discovery_bootenv.clone(),
            clients: config.http.boot_clients.clone(),
        }),
        tracer: tracer.clone(),
    };
    // One INFO line per HTTP request and response (method, path, status, latency).
    let trace = || {
        tower_http::trace::TraceLayer::new_for_http()
            .make_span_with(tower_http::trace::DefaultMakeSpan::new().level(tracing::Level::INFO))
            .on_response(tower_http::trace::DefaultOnResponse::new().level(tracing::Level::INFO))
    };
    let boot_router = boot::http::router(boot)
        .merge(api::machine_router(api.clone()))
        .layer(axum::middleware::map_response(boot::http::with_error_text))
        .layer(trace());
    let api_router = api::router(api).layer(trace());
    // The boot port's own HTTP/1.1 server: kernels and images by sendfile.
    services.spawn(crate::net::http1::serve(boot_tcp, boot_router, stop.clone()));
    match &identity {
        Some(id) => {
            let listener = TlsListener::new(api_tcp, id.server_config()?)?;
            services.spawn(serve_http(listener.tap_io(|_| ()), api_router, stop.clone(), "api"));
        }
        None => {
            services.spawn(serve_http(api_tcp, api_router, stop.clone(), "api"));
        }
    }
    tracing::info!(api = %listeners.api, boot = %listeners.boot, "http listening");

    // DHCPv4.
    let mut dhcp_addrs = Vec::new();
    let mut boot_server_addr = None;
    let mut dhcp = None;
    let dhcp_thread = if config.dhcp.enabled {
        Some(crate::dhcp::thread::DhcpThread::start().context("the DHCP servers' thread")?)
    } else {
        None
    };
    if let Some(on) = &dhcp_thread {
        let server = dhcp4::Server::new(state.clone(), config.clone(), stats.clone(), tracer.clone());
        let ifaces: Vec<Option<String>> = if config.dhcp.interfaces.is_empty() {
            vec![None]
        } else {
            config.dhcp.interfaces.iter().cloned().map(Some).collect()
        };
        for iface in ifaces {
            let std_sock = dhcp4::bind(config.dhcp.listen4, iface.as_deref())
                .with_context(|| format!("dhcp.listen4 {} (interface {:?})", config.dhcp.listen4, iface))?;
            let sock = Arc::new(on.adopt(std_sock)?);
            dhcp_addrs.push(sock.local_addr()?);
            tracing::info!(addr = %sock.local_addr()?, ?iface, "dhcpv4 listening");
            services.spawn_on(server.clone().run(sock, dhcp4::Listener::Dhcp(iface), stop.clone()), on.handle());
        }
        if config.dhcp.boot_server {
            let std_sock = dhcp4::bind(config.dhcp.listen_pxe, None)
                .with_context(|| format!("dhcp.listen_pxe {}", config.dhcp.listen_pxe))?;
            let sock = Arc::new(on.adopt(std_sock)?);
            tracing::info!(addr = %sock.local_addr()?, "pxe boot server listening");
            boot_server_addr = Some(sock.local_addr()?);
            services.spawn_on(server.clone().run(sock, dhcp4::Listener::BootServer, stop.clone()), on.handle());
        }
        dhcp = Some(server);
    }

    // DHCPv6 and router advertisements.
    let mut dhcp6_addrs = Vec::new();
    let mut dhcp6 = None;
    if let Some(on) = dhcp_thread.as_ref().filter(|_| config.dhcp.v6) {
        let server = dhcp6::Server6::new(state.clone(), config.clone(), stats.clone(), tracer.clone()).await?;
        let ifaces: Vec<Option<String>> = if config.dhcp.interfaces.is_empty() {
            vec![None]
        } else {
            config.dhcp.interfaces.iter().cloned().map(Some).collect()
        };
        for name in ifaces {
            let iface = match &name {
                Some(n) => Some(
                    crate::net::iface::by_name(n)
                        .with_context(|| format!("dhcp.interfaces: no interface `{n}` on this host"))?,
                ),
                None => None,
            };
            let std_sock = dhcp6::bind(config.dhcp.listen6, iface.as_ref())
                .with_context(|| format!("dhcp.listen6 {} (interface {:?})", config.dhcp.listen6, name))?;
            let sock = Arc::new(on.adopt(std_sock)?);
            dhcp6_addrs.push(sock.local_addr()?);
            tracing::info!(addr = %sock.local_addr()?, iface = ?name, "dhcpv6 listening");
            services.spawn_on(server.clone().run(sock, name.clone(), stop.clone()), on.handle());
            if let Some(n) = name {
                services.spawn(ra::run(state.clone(), config.clone(), stats.clone(), n, stop.clone()));
            }
        }
        services.spawn(server.clone().reap(stop.clone()));
        dhcp6 = Some(server);
    }

    // TFTP.
    let mut tftp_addr = None;
    if config.tftp.enabled {
        let sock = std::net::UdpSocket::bind(config.tftp.listen)
            .with_context(|| format!("tftp.listen {}", config.tftp.listen))?;
        tftp_addr = Some(sock.local_addr()?);
        let clients = tftp::Clients {
            state: state.clone(),
            extra: config.http.boot_clients.clone(),
            tracer: tracer.clone(),
            config: config.clone(),
        };
        let server = tftp::build(sock, stats.clone(), clients).await?;
        tracing::info!(addr = ?tftp_addr, root = %config.tftp.root.display(), "tftp listening");
        let stopped = stop.clone();
        services.spawn(async move {
            // Dropping the server's future ends its transfers (they run on
            // its own executor).
            tokio::select! {
                r = server.serve() => if let Err(e) = r { tracing::error!(error = %Report(&e), "tftp server") },
                () = stopped.cancelled() => {}
            }
        });
    }

    // DNS.
    let mut dns_service = None;
    if config.dns.enabled {
        dns_service = Some(dns::server::Service::start(dns.clone(), &config).await?);
    }
    let dns_addrs = dns_service.as_ref().map(|s| s.addrs.clone()).unwrap_or_default();

    services.spawn(engine::watchdog::run(engine.clone(), started, stop.clone()));
    // Everything is bound: the annealer may start running jigs.
    let annealer = config.engine.annealer.then(|| tokio::spawn(engine::annealer::run(engine.clone(), stop.clone())));
    let tls = listeners.tls.as_ref().map(|t| t.fingerprint);
    let shown = |name: &str, addrs: Vec<SocketAddr>| {
        (!addrs.is_empty()).then(|| api::wire::ServiceView {
            name: name.into(),
            listen: addrs.iter().map(ToString::to_string).collect(),
        })
    };
    let sockets = [
        shown("dhcp4", dhcp_addrs.clone()),
        shown("dhcp6", dhcp6_addrs.clone()),
        shown("pxe", boot_server_addr.into_iter().collect()),
        shown("tftp", tftp_addr.into_iter().collect()),
        shown("dns", dns_addrs.clone()),
    ];
    // Set once, here; nothing else sets it.
    let _ = listeners.services.set(sockets.into_iter().flatten().collect());
    let trace_stop = CancellationToken::new();
    let trace_keeper = tokio::spawn(keeper.run(state.clone(), trace_stop.clone()));
    Ok(Running {
        http,
        api: api_addr,
        tls,
        dhcp4: dhcp_addrs,
        dhcp6: dhcp6_addrs,
        boot_server: boot_server_addr,
        tftp: tftp_addr,
        dns: dns_addrs,
        state,
        engine,
        dhcp,
        dhcp6_server: dhcp6,
        dhcp_thread,
        dns_service,
        stop,
        services,
        annealer,
        trace_keeper,
        trace_stop,
    })
}

impl Running {
    /// Stops accepting work, finishes what is in flight (see the module
    /// documentation), and closes the store.
    pub async fn shutdown(mut self) {
        self.stop.cancel();
        let services = async { while self.services.join_next().await.is_some() {} };
        if tokio::time::timeout(HTTP_GRACE, services).await.is_err() {
            tracing::warn!("requests still open after {HTTP_GRACE:?} were cut off");
            self.services.abort_all();
            while self.services.join_next().await.is_some() {}
        }
        if let Some(dhcp) = &self.dhcp {
            dhcp.drain().await;
        }
        if let Some(dhcp6) = &self.dhcp6_server {
            dhcp6.drain().await;
        }
        if let Some(thread) = self.dhcp_thread.take() {
            thread.close().await;
        }
        if let Some(dns) = self.dns_service.take() {
            dns.shutdown().await;
        }
        if let Some(annealer) = self.annealer.take() {
            if annealer.await.is_err() {
                tracing::error!("the annealer panicked");
            }
        }
        self.trace_stop.cancel();
        if (&mut self.trace_keeper).await.is_err() {
            tracing::error!("the boot trace keeper panicked");
        }
        self.engine.close().await;
        self.state.close().await;
    }
}

/// The API's certificate: the configured pair, or the self-signed one in
/// the data dir (made now at a first start), named for this host.
fn api_identity(config: &Config) -> anyhow::Result<Identity> {
    if let (Some(cert), Some(key)) = (&config.api.cert, &config.api.key) {
        return Identity::load(cert, key).context("api.cert / api.key");
    }
    let mut names = vec!["localhost".to_string(), "127.0.0.1".into(), "::1".into()];
    if let Ok(host) = std::fs::read_to_string("/proc/sys/kernel/hostname") {
        let host = host.trim();
        if !host.is_empty() && host != "localhost" {
            names.push(host.to_string());
        }
    }
    for ip in [config.api.listen.ip(), config.http.listen.ip()] {
        if !ip.is_unspecified() && !ip.is_loopback() {
            names.push(ip.to_string());
        }
    }
    for i in crate::net::iface::list() {
        names.extend(i.v4.iter().filter(|(a, _)| !a.is_loopback()).map(|(a, _)| a.to_string()));
    }
    names.sort();
    names.dedup();
    let dir = config.tls_dir();
    Identity::self_signed(&dir, &names)
        .with_context(|| format!("the API's self-signed certificate in {}", dir.display()))
}

/// Serves `router` on `listener` until `stop`, letting requests in flight
/// finish.
async fn serve_http<L>(listener: L, router: axum::Router, stop: CancellationToken, which: &'static str)
where
    L: axum::serve::Listener<Addr = SocketAddr>,
    for<'a> SocketAddr: axum::extract::connect_info::Connected<axum::serve::IncomingStream<'a, L>>,
{
    let svc = router.into_make_service_with_connect_info::<SocketAddr>();
    let serve = axum::serve(listener, svc).with_graceful_shutdown(stop.cancelled_owned());
    if let Err(e) = serve.await {
        tracing::error!(error = %Report(&e), "{which} http server");
    }
}

/// `fulcrum serve`: runs until SIGTERM or SIGINT, then shuts down cleanly.
/// A second signal during the shutdown stops at once.
pub async fn serve(config: Config) -> anyhow::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    // Listen for signals first: a SIGTERM during start-up is a stop too.
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let running = start(config).await?;
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM: shutting down"),
        _ = int.recv() => tracing::info!("SIGINT: shutting down"),
    }
    tokio::select! {
        () = running.shutdown() => {
            tracing::info!("stopped");
            Ok(())
        }
        _ = term.recv() => anyhow::bail!("second SIGTERM during shutdown: stopped without finishing"),
        _ = int.recv() => anyhow::bail!("second SIGINT during shutdown: stopped without finishing"),
    }
}
