//! An operator's power requests: `PUT /api/v1/nodes/{name}/states/power`
//! (`power on`, `power off`, `reboot`, `status`) and
//! `PUT /api/v1/nodes/{name}/management/boot_device` (`pxe`, `disk`),
//! carried out through the node's driver before the answer, which says
//! what the driver said.

use axum::extract::State as AxState;
use axum::Json;

use super::body::Body;
use super::error::ApiResult;
use super::params::Path;
use super::wire::inventory::{BootDeviceRequest, NodeView, PowerAnswer, PowerRequest};
use super::ApiState;
use crate::types::power::PowerAction;

async fn request(api: &ApiState, name: &str, action: PowerAction) -> ApiResult<Json<PowerAnswer>> {
    let (node, driver_said) = api.engine.power_request(name, action).await?;
    Ok(Json(PowerAnswer { node: NodeView::new(&api.state.snapshot(), &node), driver_said }))
}

/// Switches a machine's power through its driver (Ironic's targets), or asks its state.
#[utoipa::path(put, path = "/api/v1/nodes/{name}/states/power", tag = "power", params(("name" = String, Path)), request_body = PowerRequest, responses((status = 200, body = PowerAnswer)))]
pub(crate) async fn power(
    AxState(api): AxState<ApiState>,
    Path(name): Path<String>,
    Body(r): Body<PowerRequest>,
) -> ApiResult<Json<PowerAnswer>> {
    request(&api, &name, r.target.action()).await
}

/// Sets the device of the machine's next boot (once), through its driver.
#[utoipa::path(put, path = "/api/v1/nodes/{name}/management/boot_device", tag = "power", params(("name" = String, Path)), request_body = BootDeviceRequest, responses((status = 200, body = PowerAnswer)))]
pub(crate) async fn boot_device(
    AxState(api): AxState<ApiState>,
    Path(name): Path<String>,
    Body(r): Body<BootDeviceRequest>,
) -> ApiResult<Json<PowerAnswer>> {
    request(&api, &name, PowerAction::BootFrom(r.boot_device)).await
}
