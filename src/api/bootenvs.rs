//! `/api/v1/bootenvs`: list, show and create boot environments. A
//! bootenv's templates are compiled on the way in (by the inventory), so a
//! broken one is refused with the field named instead of failing a
//! machine's boot later.

use axum::extract::{Path, State as AxState};
use axum::http::StatusCode;
use axum::Json;

use super::body::Body;
use super::error::ApiResult;
use super::wire::inventory::BootenvBody;
use super::ApiState;
use crate::inventory::bootenv::Bootenv;
use crate::inventory::InventoryError;
use crate::state::Record;
use crate::types::field::Refuse;

pub(crate) async fn list(AxState(api): AxState<ApiState>) -> Json<Vec<BootenvBody>> {
    Json(api.state.snapshot().table::<Bootenv>().iter().map(|b| (**b).clone()).collect())
}

pub(crate) async fn show(AxState(api): AxState<ApiState>, Path(name): Path<String>) -> ApiResult<Json<BootenvBody>> {
    let w = api.state.snapshot();
    let env = w.table::<Bootenv>().get(&name).ok_or_else(|| InventoryError::not_found(Bootenv::KIND, &name))?;
    Ok(Json((**env).clone()))
}

pub(crate) async fn create(
    AxState(api): AxState<ApiState>,
    Body(env): Body<BootenvBody>,
) -> ApiResult<(StatusCode, Json<BootenvBody>)> {
    let env = api.inventory.create_bootenv(env).await?;
    Ok((StatusCode::CREATED, Json((*env).clone())))
}
