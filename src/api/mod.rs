//! The HTTP front door: the v1 REST API (JSON, errors that name the field),
//! the event stream, `/healthz`, `/metrics`, and the boot routes of
//! [`crate::boot::http`], all on one axum router over one [`App`].

pub mod body;
pub mod bootenvs;
pub mod deployments;
pub mod error;
pub mod events;
pub mod networks;
pub mod noderoles;
pub mod nodes;
pub mod roles;

use std::sync::Arc;

use axum::extract::State as AxState;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::config::Config;
use crate::engine::Engine;
use crate::state::State;
use crate::stats::Stats;

/// What every handler gets: cheap clones of the shared handles.
#[derive(Clone)]
pub struct App {
    pub state: State,
    pub engine: Engine,
    pub config: Arc<Config>,
    pub stats: Arc<Stats>,
}

/// The whole HTTP surface.
pub fn router(app: App) -> Router {
    Router::new()
        .route("/healthz", get(health))
        .route("/metrics", get(metrics))
        .route("/api/v1/networks", get(networks::list).post(networks::create))
        .route("/api/v1/networks/{name}", get(networks::show).patch(networks::patch).delete(networks::delete))
        .route("/api/v1/nodes", get(nodes::list).post(nodes::create))
        .route("/api/v1/nodes/{name}", get(nodes::show).patch(nodes::patch).delete(nodes::delete))
        .route("/api/v1/nodes/{name}/bootenv", put(nodes::set_bootenv))
        .route("/api/v1/nodes/{name}/states/provision", put(nodes::provision))
        .route("/api/v1/nodes/{name}/alive", post(nodes::report_alive))
        .route("/api/v1/discover", post(nodes::discover))
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
        .route("/api/v1/leases", get(leases))
        .route("/api/v1/events", get(events::stream))
        .merge(crate::boot::http::routes(&app.config))
        .fallback(not_found)
        .with_state(app)
}

async fn health(AxState(app): AxState<App>) -> Json<Value> {
    let w = app.state.snapshot();
    Json(json!({
        "status": "ok",
        "version": env!("CARGO_PKG_VERSION"),
        "global_id": format!("{:010x}", w.global_id().value()),
        "nodes": w.node_count(),
        "state_version": w.version(),
    }))
}

async fn metrics(AxState(app): AxState<App>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], app.stats.render())
}

async fn leases(AxState(app): AxState<App>) -> Json<Value> {
    let w = app.state.snapshot();
    Json(serde_json::to_value(w.leases().map(|l| &**l).collect::<Vec<_>>()).unwrap_or(Value::Null))
}

async fn not_found() -> error::ApiError {
    error::ApiError::new(StatusCode::NOT_FOUND, "no such route")
}
