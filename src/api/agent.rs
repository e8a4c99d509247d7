//! The discovery agent's step loop: `GET /api/v1/nodes/{name}/agent/next`
//! (what to do now; a read) and `POST /api/v1/nodes/{name}/agent/done`
//! (how it went), each with the node's token (or an operator's).

use axum::extract::State as AxState;
use axum::{Extension, Json};

use super::body::Body;
use super::error::ApiResult;
use super::nodes::reporting_node;
use super::params::Path;
use super::wire::inventory::{AgentDone, AgentNext, NodeView};
use super::ApiState;
use crate::auth::Caller;
use crate::engine::agent::{Outcome, POLL_SECONDS};

/// The discovery agent's next step on this node (`command` null: nothing yet), with the node's token.
#[utoipa::path(get, path = "/api/v1/nodes/{name}/agent/next", tag = "machines", params(("name" = String, Path)), responses((status = 200, body = AgentNext)))]
pub(crate) async fn next(
    AxState(api): AxState<ApiState>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
) -> ApiResult<Json<AgentNext>> {
    reporting_node(&api, &caller, &name)?;
    let command = api.engine.agent_next(&name)?;
    Ok(Json(AgentNext { command, poll_seconds: POLL_SECONDS }))
}

/// How the agent's step went.
#[utoipa::path(post, path = "/api/v1/nodes/{name}/agent/done", tag = "machines", params(("name" = String, Path)), request_body = AgentDone, responses((status = 200, body = NodeView)))]
pub(crate) async fn done(
    AxState(api): AxState<ApiState>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
    Body(d): Body<AgentDone>,
) -> ApiResult<Json<NodeView>> {
    reporting_node(&api, &caller, &name)?;
    let command = d.command.clone();
    let (ok, detail) = (d.ok, d.detail.clone());
    let node = api.engine.agent_done(name, Outcome { command: d.command, ok: d.ok, detail: d.detail }).await?;
    let mac = super::nodes::first_mac(&node);
    tracing::info!(node = %node.name, mac, %command, ok, %detail, state = %node.provision_state, "agent step reported");
    api.trace_callback(
        &node.name,
        None,
        format!("agent step {command}: {}", if ok { "done" } else { "failed" }),
        format!("provision state {}", node.provision_state),
    );
    Ok(Json(NodeView::new(&api.state.snapshot(), &node)))
}
