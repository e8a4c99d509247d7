//! `/api/v1/noderoles`, `/api/v1/runs` and `/api/v1/anneal`: bind roles to
//! nodes, see the dependency graph (parents and children of each noderole),
//! edit proposed noderoles, retry failed ones, read run logs, and ask
//! whether annealing is working (202), finished (200) or failed (409).

use axum::extract::{Path, Query, State as AxState};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::body::Body;
use super::error::{ApiError, ApiResult};
use super::App;
use crate::engine::annealer;
use crate::engine::orchestrate::NewNodeRole;
use crate::state::model::Kind;
use crate::state::orchestration::{Attribs, NodeRole, NrState};
use crate::state::{StateError, World};

/// A noderole with its children.
pub fn view(w: &World, nr: &NodeRole) -> Value {
    let mut v = serde_json::to_value(nr).unwrap_or(Value::Null);
    v["children"] = json!(w.children_of(nr.id).collect::<Vec<_>>());
    v
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Filter {
    deployment: Option<String>,
    node: Option<String>,
    role: Option<String>,
    state: Option<String>,
}

fn parse_state(s: &str) -> Result<NrState, ApiError> {
    NrState::ALL.into_iter().find(|x| x.name() == s).ok_or_else(|| {
        ApiError::field(
            StatusCode::BAD_REQUEST,
            "state",
            format!("unknown state `{s}`; expected proposed, todo, transition, active, blocked or error"),
        )
    })
}

pub async fn list(AxState(app): AxState<App>, Query(f): Query<Filter>) -> ApiResult<Json<Value>> {
    let state = f.state.as_deref().map(parse_state).transpose()?;
    let w = app.state.snapshot();
    let base: Box<dyn Iterator<Item = &std::sync::Arc<NodeRole>>> = match (&f.deployment, &f.node) {
        (Some(d), _) => Box::new(w.noderoles_of_deployment(d)),
        (None, Some(n)) => Box::new(w.noderoles_of_node(n)),
        (None, None) => Box::new(w.noderoles()),
    };
    let out: Vec<Value> = base
        .filter(|nr| f.node.as_deref().is_none_or(|n| nr.node == n))
        .filter(|nr| f.role.as_deref().is_none_or(|r| nr.role == r))
        .filter(|nr| state.is_none_or(|s| nr.state == s))
        .map(|nr| view(&w, nr))
        .collect();
    Ok(Json(Value::Array(out)))
}

pub async fn show(AxState(app): AxState<App>, Path(id): Path<u64>) -> ApiResult<Json<Value>> {
    let w = app.state.snapshot();
    let nr = w.noderole(id).ok_or_else(|| StateError::not_found(Kind::NodeRole, &id.to_string()))?;
    Ok(Json(view(&w, nr)))
}

pub async fn create(AxState(app): AxState<App>, Body(req): Body<NewNodeRole>) -> ApiResult<(StatusCode, Json<Value>)> {
    let nr = app.engine.bind(req).await?;
    Ok((StatusCode::CREATED, Json(view(&app.state.snapshot(), &nr))))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeRolePatch {
    attribs: Attribs,
}

pub async fn patch(
    AxState(app): AxState<App>,
    Path(id): Path<u64>,
    Body(p): Body<NodeRolePatch>,
) -> ApiResult<Json<Value>> {
    let nr = app.engine.set_noderole_attribs(id, p.attribs).await?;
    Ok(Json(view(&app.state.snapshot(), &nr)))
}

pub async fn retry(AxState(app): AxState<App>, Path(id): Path<u64>) -> ApiResult<Json<Value>> {
    let nr = app.engine.retry(id).await?;
    Ok(Json(view(&app.state.snapshot(), &nr)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunFilter {
    noderole: Option<u64>,
    node: Option<String>,
    deployment: Option<String>,
    /// Leave out inputs and logs (for large listings).
    brief: Option<bool>,
}

pub async fn runs(AxState(app): AxState<App>, Query(f): Query<RunFilter>) -> Json<Value> {
    let w = app.state.snapshot();
    let brief = f.brief.unwrap_or(false);
    let out: Vec<Value> = w
        .runs()
        .filter(|r| f.noderole.is_none_or(|n| r.noderole == n))
        .filter(|r| f.node.as_deref().is_none_or(|n| r.node == n))
        .filter(|r| f.deployment.as_deref().is_none_or(|d| r.deployment == d))
        .map(|r| {
            let mut v = serde_json::to_value(&**r).unwrap_or(Value::Null);
            if brief {
                if let Some(o) = v.as_object_mut() {
                    o.remove("input");
                    o.remove("log");
                }
            }
            v
        })
        .collect();
    Json(Value::Array(out))
}

pub async fn run(AxState(app): AxState<App>, Path(id): Path<u64>) -> ApiResult<Json<Value>> {
    let w = app.state.snapshot();
    let r = w.run(id).ok_or_else(|| StateError::not_found(Kind::Run, &id.to_string()))?;
    Ok(Json(serde_json::to_value(&**r).unwrap_or(Value::Null)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnnealQuery {
    deployment: Option<String>,
}

/// OpenCrowbar's anneal status: 202 working, 200 finished, 409 failed.
pub async fn anneal(AxState(app): AxState<App>, Query(q): Query<AnnealQuery>) -> ApiResult<(StatusCode, Json<Value>)> {
    let w = app.state.snapshot();
    if let Some(d) = &q.deployment {
        if w.deployment(d).is_none() {
            return Err(StateError::not_found(Kind::Deployment, d).into());
        }
    }
    let (status, counts) = annealer::status(&w, q.deployment.as_deref());
    let code = match status {
        "working" => StatusCode::ACCEPTED,
        "failed" => StatusCode::CONFLICT,
        _ => StatusCode::OK,
    };
    let counts: serde_json::Map<String, Value> =
        NrState::ALL.iter().zip(counts).map(|(s, c)| (s.name().to_string(), json!(c))).collect();
    Ok((code, Json(json!({ "status": status, "noderoles": counts, "running": w.running_count() }))))
}
