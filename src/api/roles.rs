//! `/api/v1/roles`: list, show and create roles (validated by the engine:
//! the jig has what it needs, requirements exist, no cycles).

use axum::extract::State as AxState;
use axum::http::StatusCode;
use axum::{Extension, Json};

use super::body::Body;
use super::error::ApiResult;
use super::params::Path;
use super::wire::engine::RoleBody;
use super::ApiState;
use crate::auth::Caller;
use crate::engine::model::{JigKind, Role};
use crate::engine::EngineError;
use crate::state::Record;
use crate::types::field::Refuse;

/// The roles.
#[utoipa::path(get, path = "/api/v1/roles", tag = "roles", responses((status = 200, body = Vec<RoleBody>)))]
pub(crate) async fn list(AxState(api): AxState<ApiState>) -> Json<Vec<RoleBody>> {
    Json(api.state.snapshot().table::<Role>().iter().map(|r| (**r).clone()).collect())
}

/// One role.
#[utoipa::path(get, path = "/api/v1/roles/{name}", tag = "roles", params(("name" = String, Path)), responses((status = 200, body = RoleBody)))]
pub(crate) async fn show(AxState(api): AxState<ApiState>, Path(name): Path<String>) -> ApiResult<Json<RoleBody>> {
    let w = api.state.snapshot();
    let r = w.table::<Role>().get(&name).ok_or_else(|| EngineError::not_found(Role::KIND, &name))?;
    Ok(Json((**r).clone()))
}

/// Creates a role (its jig has what it needs, its requirements exist, no cycles). A script that runs on the admin node takes an admin token.
#[utoipa::path(post, path = "/api/v1/roles", tag = "roles", request_body = RoleBody, responses((status = 201, body = RoleBody)))]
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
