//! `/api/v1/roles`: list, show and create roles (validated by the engine:
//! the jig has what it needs, requirements exist, no cycles).

use axum::extract::{Path, State as AxState};
use axum::http::StatusCode;
use axum::Json;

use super::body::Body;
use super::error::ApiResult;
use super::wire::engine::RoleBody;
use super::ApiState;
use crate::engine::model::Role;
use crate::engine::EngineError;
use crate::state::Record;
use crate::types::field::Refuse;

pub(crate) async fn list(AxState(api): AxState<ApiState>) -> Json<Vec<RoleBody>> {
    Json(api.state.snapshot().table::<Role>().iter().map(|r| (**r).clone()).collect())
}

pub(crate) async fn show(AxState(api): AxState<ApiState>, Path(name): Path<String>) -> ApiResult<Json<RoleBody>> {
    let w = api.state.snapshot();
    let r = w.table::<Role>().get(&name).ok_or_else(|| EngineError::not_found(Role::KIND, &name))?;
    Ok(Json((**r).clone()))
}

pub(crate) async fn create(
    AxState(api): AxState<ApiState>,
    Body(role): Body<RoleBody>,
) -> ApiResult<(StatusCode, Json<RoleBody>)> {
    let r = api.engine.create_role(role).await?;
    Ok((StatusCode::CREATED, Json((*r).clone())))
}
