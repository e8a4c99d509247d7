//! `/api/v1/bootenvs`: list, show and create boot environments. A
//! bootenv's templates are compiled on the way in (by the inventory), so a
//! broken one is refused with the field named instead of failing a
//! machine's boot later.

use axum::extract::State as AxState;
use axum::http::StatusCode;
use axum::Json;

use super::body::Body;
use super::error::ApiResult;
use super::params::Path;
use super::wire::inventory::BootenvBody;
use super::ApiState;
use crate::inventory::bootenv::Bootenv;
use crate::inventory::InventoryError;
use crate::state::Record;
use crate::types::field::Refuse;

/// The boot environments.
#[utoipa::path(get, path = "/api/v1/bootenvs", tag = "bootenvs", responses((status = 200, body = Vec<BootenvBody>)))]
pub(crate) async fn list(AxState(api): AxState<ApiState>) -> Json<Vec<BootenvBody>> {
    Json(api.state.snapshot().table::<Bootenv>().iter().map(|b| (**b).clone()).collect())
}

/// One boot environment.
#[utoipa::path(get, path = "/api/v1/bootenvs/{name}", tag = "bootenvs", params(("name" = String, Path)), responses((status = 200, body = BootenvBody)))]
pub(crate) async fn show(AxState(api): AxState<ApiState>, Path(name): Path<String>) -> ApiResult<Json<BootenvBody>> {
    let w = api.state.snapshot();
    let env = w.table::<Bootenv>().get(&name).ok_or_else(|| InventoryError::not_found(Bootenv::KIND, &name))?;
    Ok(Json((**env).clone()))
}

/// Creates a boot environment; its templates are compiled first, so a broken one is refused with the field named.
#[utoipa::path(post, path = "/api/v1/bootenvs", tag = "bootenvs", request_body = BootenvBody, responses((status = 201, body = BootenvBody)))]
pub(crate) async fn create(
    AxState(api): AxState<ApiState>,
    Body(env): Body<BootenvBody>,
) -> ApiResult<(StatusCode, Json<BootenvBody>)> {
    let env = api.inventory.create_bootenv(env).await?;
    Ok((StatusCode::CREATED, Json((*env).clone())))
}
