//! `GET /api/v1/explain/{who}` (a MAC or a node's name): what each boot
//! service would answer that machine now, and why; `GET
//! /api/v1/nodes/{name}/trace`: what it asked and got, newest last.

use axum::extract::State as AxState;
use axum::Json;

use super::error::ApiResult;
use super::params::{Path, Query};
use super::wire::explain::{ExplainQuery, Explanation, TraceView};
use super::ApiState;
use crate::engine::EngineError;
use crate::explain::Who;
use crate::inventory::node::Node;
use crate::inventory::trace::BootTrace;
use crate::state::Record;
use crate::types::field::Refuse;

/// What DHCP, TFTP and HTTP would answer a machine (a MAC or a node's name) now, per firmware, and why.
#[utoipa::path(get, path = "/api/v1/explain/{who}", tag = "nodes", params(("who" = String, Path, description = "A MAC or a node's name"), ExplainQuery), responses((status = 200, body = Explanation)))]
pub(crate) async fn explain(
    AxState(api): AxState<ApiState>,
    Path(who): Path<String>,
    Query(q): Query<ExplainQuery>,
) -> ApiResult<Json<Explanation>> {
    let world = api.state.snapshot();
    let who = Who::parse(&who);
    Ok(Json(api.explainer.explain(&world, &who, q.network.as_deref())?))
}

/// A node's boot trace: what its machine asked and was answered, newest last.
#[utoipa::path(get, path = "/api/v1/nodes/{name}/trace", tag = "nodes", params(("name" = String, Path)), responses((status = 200, body = TraceView)))]
pub(crate) async fn trace(AxState(api): AxState<ApiState>, Path(name): Path<String>) -> ApiResult<Json<TraceView>> {
    let world = api.state.snapshot();
    if !world.table::<Node>().contains(name.as_str()) {
        return Err(EngineError::not_found(Node::KIND, &name).into());
    }
    let events = world.table::<BootTrace>().get(name.as_str()).map(|t| t.events.iter().cloned().collect());
    Ok(Json(TraceView { node: name, events: events.unwrap_or_default() }))
}
