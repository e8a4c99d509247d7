//! Wiring: opens the state, seeds the shipped bootenvs, binds every enabled
//! service on its configured address and runs them until shutdown. Used by
//! `fulcrum serve`, by `fulcrum demo` and by the tests (ports may be 0).

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::api::{self, App};
use crate::boot;
use crate::config::Config;
use crate::dhcp::v4::server as dhcp4;
use crate::engine::Engine;
use crate::state::State;
use crate::stats::Stats;

/// A started server: where each service listens, and its shutdown switch.
pub struct Running {
    pub http: SocketAddr,
    pub dhcp4: Vec<SocketAddr>,
    pub tftp: Option<SocketAddr>,
    pub state: State,
    pub stats: Arc<Stats>,
    stop: watch::Sender<bool>,
    tasks: JoinSet<()>,
}

/// Binds and starts every enabled service.
pub async fn start(config: Config) -> anyhow::Result<Running> {
    let config = Arc::new(config);
    let state = State::open(&config.data_dir).with_context(|| format!("data_dir {}", config.data_dir.display()))?;
    let added = boot::bootenvs::seed(&state).await.context("seeding shipped bootenvs")?;
    if added > 0 {
        tracing::info!(added, "shipped bootenvs added");
    }
    let added = crate::engine::orchestrate::seed(&state, config.engine.roles_dir.as_deref())
        .await
        .context("seeding shipped roles")?;
    if added > 0 {
        tracing::info!(added, "shipped roles added");
    }
    let files = config.files_dir();
    std::fs::create_dir_all(&files).with_context(|| format!("boot.files_dir {}", files.display()))?;
    let stats = Arc::new(Stats::default());
    let engine = Engine::new(state.clone(), config.clone());
    let (stop, stopped) = watch::channel(false);
    let mut tasks = JoinSet::new();

    // The annealer.
    if config.engine.annealer {
        tasks.spawn(crate::engine::annealer::run(engine.clone(), stopped.clone()));
    }

    // HTTP: API + boot.
    let app = App { state: state.clone(), engine, config: config.clone(), stats: stats.clone() };
    let listener = tokio::net::TcpListener::bind(config.http.listen)
        .await
        .with_context(|| format!("http.listen {}", config.http.listen))?;
    let http = listener.local_addr()?;
    // One INFO line per HTTP request and response (method, path, status, latency).
    let trace = tower_http::trace::TraceLayer::new_for_http()
        .make_span_with(tower_http::trace::DefaultMakeSpan::new().level(tracing::Level::INFO))
        .on_response(tower_http::trace::DefaultOnResponse::new().level(tracing::Level::INFO));
    let router = api::router(app).layer(trace);
    let mut rx = stopped.clone();
    tasks.spawn(async move {
        let svc = router.into_make_service_with_connect_info::<SocketAddr>();
        let graceful = async move {
            let _ = rx.wait_for(|s| *s).await;
        };
        if let Err(e) = axum::serve(listener, svc).with_graceful_shutdown(graceful).await {
            tracing::error!(error = %e, "http server");
        }
    });
    tracing::info!(%http, "http (api + boot) listening");

    // DHCPv4.
    let mut dhcp_addrs = Vec::new();
    if config.dhcp.enabled {
        let server = dhcp4::Server::new(state.clone(), config.clone(), stats.clone());
        let ifaces: Vec<Option<String>> = if config.dhcp.interfaces.is_empty() {
            vec![None]
        } else {
            config.dhcp.interfaces.iter().cloned().map(Some).collect()
        };
        for iface in ifaces {
            let std_sock = dhcp4::bind(config.dhcp.listen4, iface.as_deref())
                .with_context(|| format!("dhcp.listen4 {} (interface {:?})", config.dhcp.listen4, iface))?;
            let sock = Arc::new(tokio::net::UdpSocket::from_std(std_sock)?);
            dhcp_addrs.push(sock.local_addr()?);
            tracing::info!(addr = %sock.local_addr()?, ?iface, "dhcpv4 listening");
            let mut rx = stopped.clone();
            let server = server.clone();
            tasks.spawn(async move {
                tokio::select! {
                    _ = server.run(sock, iface) => {}
                    _ = rx.wait_for(|s| *s) => {}
                }
            });
        }
    }

    // TFTP.
    let mut tftp = None;
    if config.tftp.enabled {
        let sock = std::net::UdpSocket::bind(config.tftp.listen)
            .with_context(|| format!("tftp.listen {}", config.tftp.listen))?;
        tftp = Some(sock.local_addr()?);
        let server = boot::tftp::build(sock, &config.tftp.root, config.tftp.max_blksize, stats.clone()).await?;
        tracing::info!(addr = ?tftp, root = %config.tftp.root.display(), "tftp listening");
        let mut rx = stopped.clone();
        tasks.spawn(async move {
            tokio::select! {
                r = server.serve() => if let Err(e) = r { tracing::error!(error = %e, "tftp server") },
                _ = rx.wait_for(|s| *s) => {}
            }
        });
    }

    Ok(Running { http, dhcp4: dhcp_addrs, tftp, state, stats, stop, tasks })
}

impl Running {
    /// Stops accepting work, lets in-flight HTTP requests finish, and waits
    /// for every service task to end.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        while self.tasks.join_next().await.is_some() {}
    }
}

/// `fulcrum serve`: runs until SIGTERM or SIGINT, then shuts down cleanly.
pub async fn serve(config: Config) -> anyhow::Result<()> {
    let running = start(config).await?;
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM: shutting down"),
        _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT: shutting down"),
    }
    running.shutdown().await;
    Ok(())
}
