//! The operator-facing HTTP API: the v1 REST routes (JSON, errors that name
//! the field), the event stream, `/healthz`, `/metrics` and
//! `/api/v1/status`, as axum routers over [`ApiState`]: [`router`] for the
//! operator's (HTTPS) listener, [`machine_router`] for the few routes
//! machines call about themselves, which the boot listener serves too.
//! Handlers parse a wire type ([`wire`]), call one command of the domain
//! that owns the record (the engine for nodes, roles, deployments and
//! noderoles; the inventory for networks and bootenvs), and render the
//! result from the snapshot. The boot routes are the boot room's own
//! router; the server puts it on the boot listener.
//!
//! - [`wire`]: request, query and response types, shared with the CLI;
//! - [`body`]: the JSON body extractor that names the bad field;
//! - [`error`]: domain errors mapped to status codes by variant;
//! - [`front_door`]: the caller of every request, its access checked
//!   against the route, and the audit record of every write;
//! - one module per resource, [`agent`] for the discovery agent's step
//!   loop, and [`events`] for the SSE stream.

pub(crate) mod agent;
pub(crate) mod body;
pub(crate) mod bootenvs;
pub(crate) mod deployments;
pub(crate) mod dns;
pub(crate) mod error;
pub(crate) mod events;
pub(crate) mod explain;
pub(crate) mod front_door;
pub(crate) mod import;
pub(crate) mod metrics;
pub(crate) mod networks;
pub(crate) mod noderoles;
pub(crate) mod nodes;
pub(crate) mod power;
pub(crate) mod roles;
pub(crate) mod tokens;
pub(crate) mod ui;
pub(crate) mod wire;

use std::sync::Arc;

use axum::extract::State as AxState;
use axum::http::StatusCode;
use axum::routing::{delete, get, post, put};
use axum::{middleware, Json, Router};
use tokio_util::sync::CancellationToken;

use crate::auth::Auth;
use crate::dhcp::lease::Lease;
use crate::dhcp::lease6::Lease6;
use crate::engine::Engine;
use crate::inventory::node::Node;
use crate::inventory::Inventory;
use crate::state::State;
use crate::stats::Stats;
use error::{ApiError, ApiResult};
use wire::inventory::{LeaseFilter, LeaseView};
use wire::Health;

/// What every handler gets: cheap clones of the shared handles.
#[derive(Clone)]
pub(crate) struct ApiState {
    pub(crate) state: State,
    /// The DNS room: operator records, and what it would answer.
    pub(crate) dns: Arc<crate::dns::server::Dns>,
    pub(crate) inventory: Inventory,
    pub(crate) engine: Engine,
    pub(crate) auth: Auth,
    /// Subnets allowed to use the machine routes besides the served
    /// networks and loopback (`http.boot_clients`).
    pub(crate) boot_clients: Arc<Vec<ipnet::IpNet>>,
    pub(crate) stats: Arc<Stats>,
    /// Cancelled at shutdown: long-lived responses (the event stream) end.
    pub(crate) shutdown: CancellationToken,
    /// Where the listeners are and the API's certificate, for `/api/v1/status`.
    pub(crate) listeners: Arc<Listeners>,
    /// Imports install ISOs into the files directory.
    pub(crate) importer: Arc<crate::distro::Importer>,
    /// What the boot services would answer a machine, and why.
    pub(crate) explainer: Arc<crate::explain::Explainer>,
    /// Nodes' boot traces: the machine routes add their callbacks.
    pub(crate) tracer: crate::inventory::trace::Tracer,
}

impl ApiState {
    /// Adds a machine's callback to its node's boot trace.
    pub(crate) fn trace_callback(&self, node: &str, client: Option<std::net::IpAddr>, request: String, answer: String) {
        use crate::inventory::trace::{Service, TraceEvent};
        self.tracer.note(node, TraceEvent::now(Service::Callback, client, None, request, answer));
    }
}

/// What `/api/v1/status` says about this process's listeners.
#[derive(Debug, Clone)]
pub(crate) struct Listeners {
    /// `https://ADDR` or `http://ADDR` of the operator API.
    pub(crate) api: String,
    /// The API's certificate, when it speaks TLS.
    pub(crate) tls: Option<wire::TlsView>,
    /// `http://ADDR` of the boot listener.
    pub(crate) boot: String,
    /// Unix seconds when the process started.
    pub(crate) started_at: u64,
    /// The other services' sockets, known once they are bound (after the
    /// API's router is made).
    pub(crate) services: std::sync::OnceLock<Vec<wire::ServiceView>>,
}

/// The routes machines call about themselves: discovery, aliveness, their
/// hardware inventory, the agent's steps and install completion (and `/healthz`). Served on
/// both listeners.
fn machine_routes() -> Router<ApiState> {
    Router::new()
        .route("/healthz", get(health))
        .route("/api/v1/nodes/{name}/alive", post(nodes::report_alive))
        .route("/api/v1/nodes/{name}/installed", post(nodes::installed))
        .route("/api/v1/nodes/{name}/inventory", post(nodes::report_inventory))
        .route("/api/v1/nodes/{name}/agent/next", get(agent::next))
        .route("/api/v1/nodes/{name}/agent/done", post(agent::done))
        .route("/api/v1/discover", post(nodes::discover))
}

/// The machine routes alone, behind the front door: the boot listener's
/// share of the API.
pub(crate) fn machine_router(api: ApiState) -> Router {
    let door = middleware::from_fn_with_state(api.clone(), front_door::front_door);
    machine_routes().route_layer(door).with_state(api)
}

/// The operator API, every route behind the front door.
pub(crate) fn router(api: ApiState) -> Router {
    let door = middleware::from_fn_with_state(api.clone(), front_door::front_door);
    Router::new()
        .route("/", get(ui::home))
        .route("/ui", get(ui::home))
        .route("/ui/", get(ui::index))
        .route("/ui/{file}", get(ui::asset))
        .route("/metrics", get(metrics::metrics))
        .route("/api/v1/status", get(status))
        .route("/api/v1/networks", get(networks::list).post(networks::create))
        .route("/api/v1/networks/{name}", get(networks::show).patch(networks::patch).delete(networks::delete))
        .route("/api/v1/nodes", get(nodes::list).post(nodes::create))
        .route("/api/v1/nodes/import", post(nodes::import))
        .route("/api/v1/nodes/bulk", post(nodes::bulk))
        .route("/api/v1/nodes/{name}", get(nodes::show).patch(nodes::patch).delete(nodes::delete))
        .route("/api/v1/nodes/{name}/bootenv", put(nodes::set_bootenv))
        .route("/api/v1/nodes/{name}/inventory", get(nodes::inventory))
        .route("/api/v1/nodes/{name}/trace", get(explain::trace))
        .route("/api/v1/explain/{who}", get(explain::explain))
        .route("/api/v1/nodes/{name}/states/provision", put(nodes::provision))
        .route("/api/v1/nodes/{name}/states/power", put(power::power))
        .route("/api/v1/nodes/{name}/management/boot_device", put(power::boot_device))
        .route("/api/v1/roles", get(roles::list).post(roles::create))
        .route("/api/v1/roles/{name}", get(roles::show))
        .route("/api/v1/deployments", get(deployments::list).post(deployments::create))
        .route("/api/v1/deployments/{name}", get(deployments::show).patch(deployments::patch))
        .route("/api/v1/deployments/{name}/commit", post(deployments::commit))
        .route("/api/v1/deployments/{name}/propose", post(deployments::propose))
        .route("/api/v1/noderoles", get(noderoles::list).post(noderoles::create))
        .route("/api/v1/noderoles/{id}", get(noderoles::show).patch(noderoles::patch))
        .route("/api/v1/noderoles/{id}/retry", post(noderoles::retry))
        .route("/api/v1/runs", get(noderoles::runs))
        .route("/api/v1/runs/{id}", get(noderoles::run))
        .route("/api/v1/anneal", get(noderoles::anneal))
        .route("/api/v1/bootenvs", get(bootenvs::list).post(bootenvs::create))
        .route("/api/v1/bootenvs/{name}", get(bootenvs::show))
        .route("/api/v1/bootenvs/import", post(import::from_path))
        .route("/api/v1/bootenvs/import/upload", post(import::upload))
        .route("/api/v1/leases", get(leases))
        .route("/api/v1/dns/records", get(dns::list).post(dns::create))
        .route("/api/v1/dns/records/{id}", get(dns::show).delete(dns::delete))
        .route("/api/v1/dns/zones", get(dns::zones))
        .route("/api/v1/dns/answer", get(dns::answer))
        .route("/api/v1/events", get(events::stream))
        .route("/api/v1/tokens", get(tokens::list).post(tokens::create))
        .route("/api/v1/tokens/{id}", delete(tokens::revoke))
        .route("/api/v1/audit", get(tokens::audit))
        .merge(machine_routes())
        .route_layer(door)
        .route_layer(middleware::from_fn_with_state(api.clone(), metrics::count))
        .fallback(not_found)
        .with_state(api)
}

/// 200 with `"status": "ok"`, or 503 with `"status": "stopped"` once the
/// state writer has stopped (no write can succeed any more).
async fn health(AxState(api): AxState<ApiState>) -> (StatusCode, Json<Health>) {
    let w = api.state.snapshot();
    let writing = api.state.is_writing();
    let code = if writing { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (
        code,
        Json(Health {
            status: if writing { "ok" } else { "stopped" }.into(),
            version: env!("CARGO_PKG_VERSION").into(),
            global_id: format!("{:010x}", w.global_id().value()),
            nodes: w.table::<Node>().len(),
            state_version: w.version(),
        }),
    )
}

async fn status(AxState(api): AxState<ApiState>) -> Json<wire::Status> {
    let w = api.state.snapshot();
    let l = &api.listeners;
    Json(wire::Status {
        version: env!("CARGO_PKG_VERSION").into(),
        global_id: format!("{:010x}", w.global_id().value()),
        writing: api.state.is_writing(),
        state_version: w.version(),
        started_at: l.started_at,
        api: l.api.clone(),
        tls: l.tls.clone(),
        boot: l.boot.clone(),
        services: l.services.get().cloned().unwrap_or_default(),
        nodes: w.table::<Node>().len(),
        networks: w.table::<crate::inventory::network::Network>().len(),
        leases: w.table::<Lease>().len(),
        nodes_by_state: w.table::<Node>().iter().fold(Default::default(), |mut m, n| {
            *m.entry(n.provision_state.to_string()).or_default() += 1;
            m
        }),
    })
}

async fn leases(
    AxState(api): AxState<ApiState>,
    axum::extract::Query(f): axum::extract::Query<LeaseFilter>,
) -> ApiResult<Json<Vec<LeaseView>>> {
    if f.family.is_some_and(|v| v != 4 && v != 6) {
        return Err(ApiError::field(StatusCode::BAD_REQUEST, "family", "is 4 or 6"));
    }
    let w = api.state.snapshot();
    let now = crate::types::time::now();
    let v4 = f.family.is_none_or(|v| v == 4).then(|| w.table::<Lease>().iter().map(|l| LeaseView::v4(&w, l, now)));
    let v6 = f.family.is_none_or(|v| v == 6).then(|| w.table::<Lease6>().iter().map(|l| LeaseView::v6(l, now)));
    let out = v4
        .into_iter()
        .flatten()
        .chain(v6.into_iter().flatten())
        .filter(|l| f.network.as_deref().is_none_or(|n| l.network == n))
        .filter(|l| f.node.as_deref().is_none_or(|n| l.node.as_deref() == Some(n)))
        .filter(|l| f.state.is_none_or(|s| l.state == s))
        .collect();
    Ok(Json(out))
}

async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "no such route")
}
