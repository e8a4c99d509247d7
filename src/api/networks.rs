//! `/api/v1/networks`: create, list, show, patch and delete networks,
//! through the inventory's commands.

use axum::extract::State as AxState;
use axum::http::StatusCode;
use axum::Json;

use super::body::Body;
use super::error::ApiResult;
use super::params::Path;
use super::wire::inventory::{NetworkPatch, NetworkView, NewNetwork};
use super::ApiState;
use crate::inventory::network::Network;
use crate::inventory::InventoryError;
use crate::state::Record;
use crate::types::field::Refuse;

/// The networks.
#[utoipa::path(get, path = "/api/v1/networks", tag = "networks", responses((status = 200, body = Vec<NetworkView>)))]
pub(crate) async fn list(AxState(api): AxState<ApiState>) -> Json<Vec<NetworkView>> {
    let w = api.state.snapshot();
    Json(w.table::<Network>().iter().map(|n| NetworkView::new(&w, n)).collect())
}

/// One network.
#[utoipa::path(get, path = "/api/v1/networks/{name}", tag = "networks", params(("name" = String, Path)), responses((status = 200, body = NetworkView)))]
pub(crate) async fn show(AxState(api): AxState<ApiState>, Path(name): Path<String>) -> ApiResult<Json<NetworkView>> {
    let w = api.state.snapshot();
    let net = w.table::<Network>().get(&name).ok_or_else(|| InventoryError::not_found(Network::KIND, &name))?;
    Ok(Json(NetworkView::new(&w, net)))
}

/// Creates a network.
#[utoipa::path(post, path = "/api/v1/networks", tag = "networks", request_body = NewNetwork, responses((status = 201, body = NetworkView)))]
pub(crate) async fn create(
    AxState(api): AxState<ApiState>,
    Body(req): Body<NewNetwork>,
) -> ApiResult<(StatusCode, Json<NetworkView>)> {
    let net = api.inventory.create_network(req.into()).await?;
    Ok((StatusCode::CREATED, Json(NetworkView::new(&api.state.snapshot(), &net))))
}

/// Changes the settings of a network that do not renumber its nodes.
#[utoipa::path(patch, path = "/api/v1/networks/{name}", tag = "networks", params(("name" = String, Path)), request_body = NetworkPatch, responses((status = 200, body = NetworkView)))]
pub(crate) async fn patch(
    AxState(api): AxState<ApiState>,
    Path(name): Path<String>,
    Body(p): Body<NetworkPatch>,
) -> ApiResult<Json<NetworkView>> {
    let net = api.inventory.update_network(name, p.changes()).await?;
    Ok(Json(NetworkView::new(&api.state.snapshot(), &net)))
}

/// Deletes a network no node is on.
#[utoipa::path(delete, path = "/api/v1/networks/{name}", tag = "networks", params(("name" = String, Path)), responses((status = 204, description = "Deleted")))]
pub(crate) async fn delete(AxState(api): AxState<ApiState>, Path(name): Path<String>) -> ApiResult<StatusCode> {
    api.inventory.delete_network(name).await?;
    Ok(StatusCode::NO_CONTENT)
}
