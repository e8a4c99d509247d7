//! An operator's power requests: `PUT /api/v1/nodes/{name}/states/power`
//! (`power on`, `power off`, `reboot`, `status`) and
//! `PUT /api/v1/nodes/{name}/management/boot_device` (`pxe`, `disk`),
//! carried out through the node's driver before the answer, which says
//! what the driver said.

use axum::extract::{Path, State as AxState};
use axum::Json;

use super::body::Body;
use super::error::ApiResult;
use super::wire::inventory::{BootDeviceRequest, NodeView, PowerAnswer, PowerRequest};
use super::ApiState;
use crate::types::power::PowerAction;

async fn request(api: &ApiState, name: &str, action: PowerAction) -> ApiResult<Json<PowerAnswer>> {
    let (node, driver_said) = api.engine.power_request(name, action).await?;
    Ok(Json(PowerAnswer { node: NodeView::new(&api.state.snapshot(), &node), driver_said }))
}

/// `PUT /api/v1/nodes/{name}/states/power`.
pub(crate) async fn power(
    AxState(api): AxState<ApiState>,
    Path(name): Path<String>,
    Body(r): Body<PowerRequest>,
) -> ApiResult<Json<PowerAnswer>> {
    request(&api, &name, r.target.action()).await
}

/// `PUT /api/v1/nodes/{name}/management/boot_device`.
pub(crate) async fn boot_device(
    AxState(api): AxState<ApiState>,
    Path(name): Path<String>,
    Body(r): Body<BootDeviceRequest>,
) -> ApiResult<Json<PowerAnswer>> {
    request(&api, &name, PowerAction::BootFrom(r.boot_device)).await
}
