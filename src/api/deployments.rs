//! `/api/v1/deployments`: the deployment tree. Create (proposed, under
//! `system` by default), show with noderole counts per state, edit
//! attributes while proposed, commit, propose.

use axum::extract::{Path, State as AxState};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::body::Body;
use super::error::ApiResult;
use super::App;
use crate::engine::annealer;
use crate::engine::orchestrate::NewDeployment;
use crate::state::model::Kind;
use crate::state::orchestration::{Attribs, Deployment, NrState};
use crate::state::{StateError, World};

/// A deployment with its noderole counts and annealing status.
pub fn view(w: &World, d: &Deployment) -> Value {
    let (status, counts) = annealer::status(w, Some(&d.name));
    let mut v = serde_json::to_value(d).unwrap_or(Value::Null);
    let counts: serde_json::Map<String, Value> =
        NrState::ALL.iter().zip(counts).map(|(s, c)| (s.name().to_string(), json!(c))).collect();
    v["noderoles"] = Value::Object(counts);
    v["status"] = json!(status);
    v
}

pub async fn list(AxState(app): AxState<App>) -> Json<Value> {
    let w = app.state.snapshot();
    Json(Value::Array(w.deployments().map(|d| view(&w, d)).collect()))
}

pub async fn show(AxState(app): AxState<App>, Path(name): Path<String>) -> ApiResult<Json<Value>> {
    let w = app.state.snapshot();
    let d = w.deployment(&name).ok_or_else(|| StateError::not_found(Kind::Deployment, &name))?;
    Ok(Json(view(&w, d)))
}

pub async fn create(
    AxState(app): AxState<App>,
    Body(req): Body<NewDeployment>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let d = app.engine.create_deployment(req).await?;
    Ok((StatusCode::CREATED, Json(view(&app.state.snapshot(), &d))))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeploymentPatch {
    pub attribs: Attribs,
}

pub async fn patch(
    AxState(app): AxState<App>,
    Path(name): Path<String>,
    Body(p): Body<DeploymentPatch>,
) -> ApiResult<Json<Value>> {
    let d = app.engine.set_deployment_attribs(name, p.attribs).await?;
    Ok(Json(view(&app.state.snapshot(), &d)))
}

pub async fn commit(AxState(app): AxState<App>, Path(name): Path<String>) -> ApiResult<Json<Value>> {
    let moved = app.engine.commit_deployment(name.clone()).await?;
    let w = app.state.snapshot();
    let d = w.deployment(&name).ok_or_else(|| StateError::not_found(Kind::Deployment, &name))?;
    let mut v = view(&w, d);
    v["committed_noderoles"] = json!(moved);
    Ok(Json(v))
}

pub async fn propose(AxState(app): AxState<App>, Path(name): Path<String>) -> ApiResult<Json<Value>> {
    app.engine.propose_deployment(name.clone()).await?;
    let w = app.state.snapshot();
    let d = w.deployment(&name).ok_or_else(|| StateError::not_found(Kind::Deployment, &name))?;
    Ok(Json(view(&w, d)))
}
