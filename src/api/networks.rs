//! `/api/v1/networks`: create, list, show, patch and delete networks,
//! through the inventory's commands.

use axum::extract::{Path, State as AxState};
use axum::http::StatusCode;
use axum::Json;

use super::body::Body;
use super::error::ApiResult;
use super::wire::inventory::{NetworkPatch, NetworkView, NewNetwork};
use super::ApiState;
use crate::inventory::network::Network;
use crate::inventory::InventoryError;
use crate::state::Record;
use crate::types::field::Refuse;

pub(crate) async fn list(AxState(api): AxState<ApiState>) -> Json<Vec<NetworkView>> {
    let w = api.state.snapshot();
    Json(w.table::<Network>().iter().map(|n| NetworkView::new(&w, n)).collect())
}

pub(crate) async fn show(AxState(api): AxState<ApiState>, Path(name): Path<String>) -> ApiResult<Json<NetworkView>> {
    let w = api.state.snapshot();
    let net = w.table::<Network>().get(&name).ok_or_else(|| InventoryError::not_found(Network::KIND, &name))?;
    Ok(Json(NetworkView::new(&w, net)))
}

pub(crate) async fn create(
    AxState(api): AxState<ApiState>,
    Body(req): Body<NewNetwork>,
) -> ApiResult<(StatusCode, Json<NetworkView>)> {
    let net = api.inventory.create_network(req.into()).await?;
    Ok((StatusCode::CREATED, Json(NetworkView::new(&api.state.snapshot(), &net))))
}

pub(crate) async fn patch(
    AxState(api): AxState<ApiState>,
    Path(name): Path<String>,
    Body(p): Body<NetworkPatch>,
) -> ApiResult<Json<NetworkView>> {
    let net = api.inventory.update_network(name, p.changes()).await?;
    Ok(Json(NetworkView::new(&api.state.snapshot(), &net)))
}

pub(crate) async fn delete(AxState(api): AxState<ApiState>, Path(name): Path<String>) -> ApiResult<StatusCode> {
    api.inventory.delete_network(name).await?;
    Ok(StatusCode::NO_CONTENT)
}
