//! `/api/v1/roles`: list, show and create roles (validated by the engine:
//! the jig has what it needs, requirements exist, no cycles).

use axum::extract::{Path, State as AxState};
use axum::http::StatusCode;
use axum::Json;
use serde_json::Value;

use super::body::Body;
use super::error::ApiResult;
use super::App;
use crate::state::model::Kind;
use crate::state::orchestration::Role;
use crate::state::StateError;

pub async fn list(AxState(app): AxState<App>) -> Json<Value> {
    let w = app.state.snapshot();
    Json(serde_json::to_value(w.roles().map(|r| &**r).collect::<Vec<_>>()).unwrap_or(Value::Null))
}

pub async fn show(AxState(app): AxState<App>, Path(name): Path<String>) -> ApiResult<Json<Value>> {
    let w = app.state.snapshot();
    let r = w.role(&name).ok_or_else(|| StateError::not_found(Kind::Role, &name))?;
    Ok(Json(serde_json::to_value(&**r).unwrap_or(Value::Null)))
}

pub async fn create(AxState(app): AxState<App>, Body(role): Body<Role>) -> ApiResult<(StatusCode, Json<Value>)> {
    let r = app.engine.create_role(role).await?;
    Ok((StatusCode::CREATED, Json(serde_json::to_value(&*r).unwrap_or(Value::Null))))
}
