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
//! - [`params`]: the path and query extractors, errors naming the parameter;
//! - [`openapi`] and [`docs`]: the description gathered from the handlers,
//!   served as JSON and as a page;
//! - [`front_door`]: the caller of every request, its access checked
//!   against the route, and the audit record of every write;
//! - one module per resource, [`agent`] for the discovery agent's step
//!   loop, and [`events`] for the SSE stream.

pub(crate) mod agent;
pub(crate) mod body;
pub(crate) mod bootenvs;
pub(crate) mod deployments;
pub(crate) mod dns;
pub(crate) mod docs;
pub(crate) mod error;
pub(crate) mod events;
pub(crate) mod explain;
pub(crate) mod front_door;
pub(crate) mod import;
pub(crate) mod metrics;
pub(crate) mod networks;
pub(crate) mod noderoles;
pub(crate) mod nodes;
pub(crate) mod openapi;
pub(crate) mod params;
pub(crate) mod power;
pub(crate) mod roles;
pub(crate) mod tokens;
pub(crate) mod ui;
pub(crate) mod wire;

use std::sync::Arc;

use axum::extract::State as AxState;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{middleware, Json, Router};
use tokio_util::sync::CancellationToken;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

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
fn machine_routes() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new()
        .routes(routes!(health))
        .routes(routes!(nodes::report_alive))
        .routes(routes!(nodes::installed))
        .routes(routes!(nodes::report_inventory))
        .routes(routes!(agent::next))
        .routes(routes!(agent::done))
        .routes(routes!(nodes::discover))
}

/// The machine routes alone, behind the front door: the boot listener's
/// share of the API.
pub(crate) fn machine_router(api: ApiState) -> Router {
    let door = middleware::from_fn_with_state(api.clone(), front_door::front_door);
    let (routes, _) = machine_routes().split_for_parts();
    routes.route_layer(door).with_state(api)
}

/// The operator API's described routes, and their description: each
/// route is registered with its handler's operation.
pub(crate) fn described() -> (Router<ApiState>, utoipa::openapi::OpenApi) {
    let (routes, mut description) = OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .routes(routes!(metrics::metrics))
        .routes(routes!(status))
        .routes(routes!(networks::list, networks::create))
        .routes(routes!(networks::show, networks::patch, networks::delete))
        .routes(routes!(nodes::list, nodes::create))
        .routes(routes!(nodes::import))
        .routes(routes!(nodes::bulk))
        .routes(routes!(nodes::show, nodes::patch, nodes::delete))
        .routes(routes!(nodes::set_bootenv))
        .routes(routes!(nodes::inventory))
        .routes(routes!(explain::trace))
        .routes(routes!(explain::explain))
        .routes(routes!(nodes::provision))
        .routes(routes!(power::power))
        .routes(routes!(power::boot_device))
        .routes(routes!(roles::list, roles::create))
        .routes(routes!(roles::show))
        .routes(routes!(deployments::list, deployments::create))
        .routes(routes!(deployments::show, deployments::patch))
        .routes(routes!(deployments::commit))
        .routes(routes!(deployments::propose))
        .routes(routes!(noderoles::list, noderoles::create))
        .routes(routes!(noderoles::show, noderoles::patch))
        .routes(routes!(noderoles::retry))
        .routes(routes!(noderoles::runs))
        .routes(routes!(noderoles::run))
        .routes(routes!(noderoles::anneal))
        .routes(routes!(bootenvs::list, bootenvs::create))
        .routes(routes!(bootenvs::show))
        .routes(routes!(import::from_path))
        .routes(routes!(import::upload))
        .routes(routes!(leases))
        .routes(routes!(dns::list, dns::create))
        .routes(routes!(dns::show, dns::delete))
        .routes(routes!(dns::zones))
        .routes(routes!(dns::answer))
        .routes(routes!(events::stream))
        .routes(routes!(tokens::list, tokens::create))
        .routes(routes!(tokens::revoke))
        .routes(routes!(tokens::audit))
        .merge(machine_routes())
        .split_for_parts();
    openapi::finish(&mut description);
    (routes, description)
}

/// The operator API, every route behind the front door: the described
/// routes, the description itself (`/api/v1/openapi.json`, `/api/docs`)
/// and the web UI.
pub(crate) fn router(api: ApiState) -> Router {
    let door = middleware::from_fn_with_state(api.clone(), front_door::front_door);
    let (routes, description) = described();
    // Made once; each answer shares the bytes.
    let json = axum::body::Bytes::from(description.to_pretty_json().unwrap_or_default());
    let page = axum::body::Bytes::from(docs::render(&description));
    routes
        .route("/", get(ui::home))
        .route("/ui", get(ui::home))
        .route("/ui/", get(ui::index))
        .route("/ui/{file}", get(ui::asset))
        .route("/api/v1/openapi.json", get(move || ui::json(json.clone())))
        .route("/api/docs", get(move || ui::page(page.clone())))
        .route_layer(door)
        .route_layer(middleware::from_fn_with_state(api.clone(), metrics::count))
        .fallback(not_found)
        .with_state(api)
}

/// 200 with `"status": "ok"`, or 503 with `"status": "stopped"` once the
/// state writer has stopped (no write can succeed any more).
#[utoipa::path(get, path = "/healthz", tag = "status", security(()), responses((status = 200, body = Health), (status = 503, description = "The state writer has stopped", body = Health)))]
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

/// The appliance: version, listeners and their services, the TLS certificate, and counts.
#[utoipa::path(get, path = "/api/v1/status", tag = "status", responses((status = 200, body = wire::Status)))]
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

/// The DHCPv4 and DHCPv6 leases, filtered by family, network, node and state.
#[utoipa::path(get, path = "/api/v1/leases", tag = "leases", params(LeaseFilter), responses((status = 200, body = Vec<LeaseView>)))]
async fn leases(
    AxState(api): AxState<ApiState>,
    params::Query(f): params::Query<LeaseFilter>,
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
