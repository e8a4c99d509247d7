//! `/api/v1/roles`: list, show and create roles (validated by the engine:
//! the jig has what it needs, requirements exist, no cycles).

use axum::extract::{Path, State as AxState};
use axum::http::StatusCode;
use axum::{Extension, Json};

use super::body::Body;
use super::error::ApiResult;
use super::wire::engine::RoleBody;
use super::ApiState;
use crate::auth::Caller;
use crate::engine::model::{JigKind, Role};
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
    Extension(caller): Extension<Caller>,
    Body(role): Body<RoleBody>,
) -> ApiResult<(StatusCode, Json<RoleBody>)> {
    // A script on the admin node: the config must allow it, and an admin ask.
    api.engine.permits_role(&role)?;
    if role.jig == JigKind::Script && role.local {
        caller.must_be_admin("a role that runs its script on the admin node")?;
    }
    let r = api.engine.create_role(role).await?;
    Ok((StatusCode::CREATED, Json((*r).clone())))
}
