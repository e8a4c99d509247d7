//! `/api/v1/noderoles`, `/api/v1/runs` and `/api/v1/anneal`: bind roles to
//! nodes, see the dependency graph (parents and children of each noderole),
//! edit proposed noderoles, retry failed ones, read run logs, and ask
//! whether annealing is working (202), finished (200) or failed (409).

use std::sync::Arc;

use axum::extract::State as AxState;
use axum::http::StatusCode;
use axum::Json;

use super::body::Body;
use super::error::{ApiError, ApiResult};
use super::params::{Path, Query};
use super::wire::engine::{
    AnnealQuery, AnnealView, AttribsPatch, NewNodeRole, NodeRoleFilter, NodeRoleView, RunFilter, RunView,
};
use super::ApiState;
use crate::engine::annealer::{self, Progress};
use crate::engine::model::{Deployment, NodeRole, NrState, Run};
use crate::engine::EngineError;
use crate::state::Record;
use crate::types::field::Refuse;

/// The noderoles, filtered by deployment, node, role and state; each with its parents and children in the graph.
#[utoipa::path(get, path = "/api/v1/noderoles", tag = "noderoles", params(NodeRoleFilter), responses((status = 200, body = Vec<NodeRoleView>)))]
pub(crate) async fn list(
    AxState(api): AxState<ApiState>,
    Query(f): Query<NodeRoleFilter>,
) -> ApiResult<Json<Vec<NodeRoleView>>> {
    let state = f
        .state
        .as_deref()
        .map(str::parse::<NrState>)
        .transpose()
        .map_err(|e| ApiError::field(StatusCode::BAD_REQUEST, "state", e.to_string()))?;
    let w = api.state.snapshot();
    let noderoles = w.table::<NodeRole>();
    let base: Box<dyn Iterator<Item = &Arc<NodeRole>>> = match (&f.deployment, &f.node) {
        (Some(d), _) => Box::new(noderoles.of_deployment(d)),
        (None, Some(n)) => Box::new(noderoles.of_node(n)),
        (None, None) => Box::new(noderoles.iter()),
    };
    let out = base
        .filter(|nr| f.node.as_deref().is_none_or(|n| nr.node == n))
        .filter(|nr| f.role.as_deref().is_none_or(|r| nr.role == r))
        .filter(|nr| state.is_none_or(|s| nr.state == s))
        .map(|nr| NodeRoleView::new(&w, nr))
        .collect();
    Ok(Json(out))
}

/// One noderole.
#[utoipa::path(get, path = "/api/v1/noderoles/{id}", tag = "noderoles", params(("id" = u64, Path)), responses((status = 200, body = NodeRoleView)))]
pub(crate) async fn show(AxState(api): AxState<ApiState>, Path(id): Path<u64>) -> ApiResult<Json<NodeRoleView>> {
    let w = api.state.snapshot();
    let nr = w.table::<NodeRole>().get(&id).ok_or_else(|| EngineError::not_found(NodeRole::KIND, id))?;
    Ok(Json(NodeRoleView::new(&w, nr)))
}

/// Binds a role to a node in a deployment (and the roles it requires, as parents).
#[utoipa::path(post, path = "/api/v1/noderoles", tag = "noderoles", request_body = NewNodeRole, responses((status = 201, body = NodeRoleView)))]
pub(crate) async fn create(
    AxState(api): AxState<ApiState>,
    Body(req): Body<NewNodeRole>,
) -> ApiResult<(StatusCode, Json<NodeRoleView>)> {
    let nr = api.engine.bind(req.into()).await?;
    Ok((StatusCode::CREATED, Json(NodeRoleView::new(&api.state.snapshot(), &nr))))
}

/// Replaces a proposed noderole's attributes.
#[utoipa::path(patch, path = "/api/v1/noderoles/{id}", tag = "noderoles", params(("id" = u64, Path)), request_body = AttribsPatch, responses((status = 200, body = NodeRoleView)))]
pub(crate) async fn patch(
    AxState(api): AxState<ApiState>,
    Path(id): Path<u64>,
    Body(p): Body<AttribsPatch>,
) -> ApiResult<Json<NodeRoleView>> {
    let nr = api.engine.set_noderole_attribs(id, p.attribs).await?;
    Ok(Json(NodeRoleView::new(&api.state.snapshot(), &nr)))
}

/// Runs an errored noderole again.
#[utoipa::path(post, path = "/api/v1/noderoles/{id}/retry", tag = "noderoles", params(("id" = u64, Path)), responses((status = 200, body = NodeRoleView)))]
pub(crate) async fn retry(AxState(api): AxState<ApiState>, Path(id): Path<u64>) -> ApiResult<Json<NodeRoleView>> {
    let nr = api.engine.retry(id).await?;
    Ok(Json(NodeRoleView::new(&api.state.snapshot(), &nr)))
}

/// The runs, filtered by noderole, node and deployment; `brief` leaves out inputs and logs.
#[utoipa::path(get, path = "/api/v1/runs", tag = "noderoles", params(RunFilter), responses((status = 200, body = Vec<RunView>)))]
pub(crate) async fn runs(AxState(api): AxState<ApiState>, Query(f): Query<RunFilter>) -> Json<Vec<RunView>> {
    let w = api.state.snapshot();
    let brief = f.brief.unwrap_or(false);
    let out = w
        .table::<Run>()
        .iter()
        .filter(|r| f.noderole.is_none_or(|n| r.noderole == n))
        .filter(|r| f.node.as_deref().is_none_or(|n| r.node == n))
        .filter(|r| f.deployment.as_deref().is_none_or(|d| r.deployment == d))
        .map(|r| RunView::new(r, brief))
        .collect();
    Json(out)
}

/// One run, with its input and log.
#[utoipa::path(get, path = "/api/v1/runs/{id}", tag = "noderoles", params(("id" = u64, Path)), responses((status = 200, body = RunView)))]
pub(crate) async fn run(AxState(api): AxState<ApiState>, Path(id): Path<u64>) -> ApiResult<Json<RunView>> {
    let w = api.state.snapshot();
    let r = w.table::<Run>().get(&id).ok_or_else(|| EngineError::not_found(Run::KIND, id))?;
    Ok(Json(RunView::new(r, false)))
}

/// OpenCrowbar's anneal status: 202 working, 200 finished, 409 failed.
#[utoipa::path(get, path = "/api/v1/anneal", tag = "noderoles", params(AnnealQuery), responses((status = 200, description = "Finished", body = AnnealView), (status = 202, description = "Working", body = AnnealView), (status = 409, description = "Failed", body = AnnealView)))]
pub(crate) async fn anneal(
    AxState(api): AxState<ApiState>,
    Query(q): Query<AnnealQuery>,
) -> ApiResult<(StatusCode, Json<AnnealView>)> {
    let w = api.state.snapshot();
    if let Some(d) = &q.deployment {
        if !w.table::<Deployment>().contains(d) {
            return Err(EngineError::not_found(Deployment::KIND, d).into());
        }
    }
    let (status, noderoles) = annealer::status(&w, q.deployment.as_deref());
    let code = match status {
        Progress::Working => StatusCode::ACCEPTED,
        Progress::Failed => StatusCode::CONFLICT,
        Progress::Finished => StatusCode::OK,
    };
    Ok((code, Json(AnnealView { status, noderoles, running: w.table::<Run>().running_count() })))
}
