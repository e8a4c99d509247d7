//! `/api/v1/bootenvs`: list, show and create boot environments. A bootenv's
//! templates are compiled on the way in, so a broken one is refused with
//! the field named instead of failing a machine's boot later.

use axum::extract::{Path, State as AxState};
use axum::http::StatusCode;
use axum::Json;
use serde_json::Value;

use super::body::Body;
use super::error::ApiResult;
use super::App;
use crate::boot::render;
use crate::state::model::{Bootenv, Kind};
use crate::state::StateError;

pub async fn list(AxState(app): AxState<App>) -> Json<Value> {
    let w = app.state.snapshot();
    Json(serde_json::to_value(w.bootenvs().map(|b| &**b).collect::<Vec<_>>()).unwrap_or(Value::Null))
}

pub async fn show(AxState(app): AxState<App>, Path(name): Path<String>) -> ApiResult<Json<Value>> {
    let w = app.state.snapshot();
    let env = w.bootenv(&name).ok_or_else(|| StateError::not_found(Kind::Bootenv, &name))?;
    Ok(Json(serde_json::to_value(&**env).unwrap_or(Value::Null)))
}

pub async fn create(AxState(app): AxState<App>, Body(env): Body<Bootenv>) -> ApiResult<(StatusCode, Json<Value>)> {
    render::validate(&env)?;
    let env = app
        .state
        .write(move |txn| {
            if txn.world().bootenv(&env.name).is_some() {
                return Err(StateError::conflict("name", format!("bootenv `{}` already exists", env.name)));
            }
            txn.put_bootenv(env)
        })
        .await?;
    Ok((StatusCode::CREATED, Json(serde_json::to_value(&*env).unwrap_or(Value::Null))))
}
