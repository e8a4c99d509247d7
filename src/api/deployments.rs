//! `/api/v1/deployments`: the deployment tree. Create (proposed, under
//! `system` by default), show with noderole counts per state, edit
//! attributes while proposed, commit, propose.

use axum::extract::State as AxState;
use axum::http::StatusCode;
use axum::Json;

use super::body::Body;
use super::error::ApiResult;
use super::params::Path;
use super::wire::engine::{AttribsPatch, Committed, DeploymentView, NewDeployment};
use super::ApiState;
use crate::engine::model::Deployment;
use crate::engine::EngineError;
use crate::state::{Record, World};
use crate::types::field::Refuse;

fn view(w: &World, name: &str) -> Result<DeploymentView, EngineError> {
    let d = w.table::<Deployment>().get(name).ok_or_else(|| EngineError::not_found(Deployment::KIND, name))?;
    Ok(DeploymentView::new(w, d))
}

/// The deployments, with their noderoles counted by state.
#[utoipa::path(get, path = "/api/v1/deployments", tag = "deployments", responses((status = 200, body = Vec<DeploymentView>)))]
pub(crate) async fn list(AxState(api): AxState<ApiState>) -> Json<Vec<DeploymentView>> {
    let w = api.state.snapshot();
    Json(w.table::<Deployment>().iter().map(|d| DeploymentView::new(&w, d)).collect())
}

/// One deployment.
#[utoipa::path(get, path = "/api/v1/deployments/{name}", tag = "deployments", params(("name" = String, Path)), responses((status = 200, body = DeploymentView)))]
pub(crate) async fn show(AxState(api): AxState<ApiState>, Path(name): Path<String>) -> ApiResult<Json<DeploymentView>> {
    Ok(Json(view(&api.state.snapshot(), &name)?))
}

/// Creates a deployment, proposed (under `system` by default).
#[utoipa::path(post, path = "/api/v1/deployments", tag = "deployments", request_body = NewDeployment, responses((status = 201, body = DeploymentView)))]
pub(crate) async fn create(
    AxState(api): AxState<ApiState>,
    Body(req): Body<NewDeployment>,
) -> ApiResult<(StatusCode, Json<DeploymentView>)> {
    let d = api.engine.create_deployment(req.into()).await?;
    Ok((StatusCode::CREATED, Json(DeploymentView::new(&api.state.snapshot(), &d))))
}

/// Replaces a proposed deployment's attributes.
#[utoipa::path(patch, path = "/api/v1/deployments/{name}", tag = "deployments", params(("name" = String, Path)), request_body = AttribsPatch, responses((status = 200, body = DeploymentView)))]
pub(crate) async fn patch(
    AxState(api): AxState<ApiState>,
    Path(name): Path<String>,
    Body(p): Body<AttribsPatch>,
) -> ApiResult<Json<DeploymentView>> {
    let d = api.engine.set_deployment_attribs(name, p.attribs).await?;
    Ok(Json(DeploymentView::new(&api.state.snapshot(), &d)))
}

/// Commits a deployment: its proposed noderoles become todo and the annealer runs them.
#[utoipa::path(post, path = "/api/v1/deployments/{name}/commit", tag = "deployments", params(("name" = String, Path)), responses((status = 200, body = Committed)))]
pub(crate) async fn commit(AxState(api): AxState<ApiState>, Path(name): Path<String>) -> ApiResult<Json<Committed>> {
    let moved = api.engine.commit_deployment(name.clone()).await?;
    Ok(Json(Committed { deployment: view(&api.state.snapshot(), &name)?, committed_noderoles: moved }))
}

/// Puts a deployment back to proposed, so it can be edited.
#[utoipa::path(post, path = "/api/v1/deployments/{name}/propose", tag = "deployments", params(("name" = String, Path)), responses((status = 200, body = DeploymentView)))]
pub(crate) async fn propose(
    AxState(api): AxState<ApiState>,
    Path(name): Path<String>,
) -> ApiResult<Json<DeploymentView>> {
    api.engine.propose_deployment(name.clone()).await?;
    Ok(Json(view(&api.state.snapshot(), &name)?))
}
