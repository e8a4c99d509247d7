//! `/api/v1/nodes`: registration, listing, changes, bootenv, provisioning
//! verbs; `/api/v1/discover` for machines that boot the discovery image;
//! `/api/v1/nodes/{name}/alive` for a node reporting in with its token, and
//! `/api/v1/nodes/{name}/inventory` for its hardware report;
//! `/api/v1/nodes/import` (an instackenv.json) and `/api/v1/nodes/bulk`
//! (a lifecycle verb over many nodes, previewed or applied).
//! Every write goes through the engine, which runs the hooks it triggers.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, State as AxState};
use axum::http::StatusCode;
use axum::{Extension, Json};

use super::body::Body;
use super::error::{ApiError, ApiResult};
use super::params::{Path, Query};
use super::wire::inventory::{
    AliveReport, BulkAnswer, BulkRequest, Discover, Discovered, ImportRequest, NewNode, NodeFilter, NodePatch,
    NodeView, ProvisionTarget, SetBootenv,
};
use super::ApiState;
use crate::auth::Caller;
use crate::engine::bulk::Selector;
use crate::engine::EngineError;
use crate::inventory::facts::Facts;
use crate::inventory::lifecycle::{ProvisionState, Verb};
use crate::inventory::network::Network;
use crate::inventory::node::Node;
use crate::state::Record;
use crate::types::field::Refuse;
use crate::types::power::PowerSpec;
use crate::types::secret::Handover;

/// The nodes, filtered by network, bootenv and provision state.
#[utoipa::path(get, path = "/api/v1/nodes", tag = "nodes", params(NodeFilter), responses((status = 200, body = Vec<NodeView>)))]
pub(crate) async fn list(
    AxState(api): AxState<ApiState>,
    Query(f): Query<NodeFilter>,
) -> ApiResult<Json<Vec<NodeView>>> {
    let state = f
        .provision_state
        .as_deref()
        .map(|x| x.parse::<ProvisionState>())
        .transpose()
        .map_err(|e| ApiError::field(StatusCode::BAD_REQUEST, "provision_state", e.to_string()))?;
    let w = api.state.snapshot();
    let nodes = w
        .table::<Node>()
        .iter()
        .filter(|n| f.network.as_deref().is_none_or(|x| n.network.as_deref() == Some(x)))
        .filter(|n| f.bootenv.as_deref().is_none_or(|x| n.bootenv == x))
        .filter(|n| state.is_none_or(|s| n.provision_state == s))
        .map(|n| NodeView::new(&w, n))
        .collect();
    Ok(Json(nodes))
}

/// One node.
#[utoipa::path(get, path = "/api/v1/nodes/{name}", tag = "nodes", params(("name" = String, Path)), responses((status = 200, body = NodeView)))]
pub(crate) async fn show(AxState(api): AxState<ApiState>, Path(name): Path<String>) -> ApiResult<Json<NodeView>> {
    let w = api.state.snapshot();
    let node = w.table::<Node>().get(&name).ok_or_else(|| EngineError::not_found(Node::KIND, &name))?;
    Ok(Json(NodeView::new(&w, node)))
}

/// What the command power driver is called when it is refused.
const COMMAND_POWER: &str = "the command power driver";

/// A command power driver is an admin's to give, where the config allows it.
fn may_set_power(api: &ApiState, caller: &Caller, power: Option<&PowerSpec>) -> ApiResult<()> {
    if matches!(power, Some(PowerSpec::Command { .. })) {
        api.engine.permits_power(power)?;
        caller.must_be_admin(COMMAND_POWER)?;
    }
    Ok(())
}

/// Registers a node. The command power driver takes an admin token, where the config allows it at all.
#[utoipa::path(post, path = "/api/v1/nodes", tag = "nodes", request_body = NewNode, responses((status = 201, body = NodeView)))]
pub(crate) async fn create(
    AxState(api): AxState<ApiState>,
    Extension(caller): Extension<Caller>,
    Body(req): Body<NewNode>,
) -> ApiResult<(StatusCode, Json<NodeView>)> {
    may_set_power(&api, &caller, req.power.as_ref())?;
    let node = api.engine.create_node(req.into()).await?;
    Ok((StatusCode::CREATED, Json(NodeView::new(&api.state.snapshot(), &node))))
}

/// Changes a node (its name too: its noderoles, runs and facts follow it).
#[utoipa::path(patch, path = "/api/v1/nodes/{name}", tag = "nodes", params(("name" = String, Path)), request_body = NodePatch, responses((status = 200, body = NodeView)))]
pub(crate) async fn patch(
    AxState(api): AxState<ApiState>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
    Body(p): Body<NodePatch>,
) -> ApiResult<Json<NodeView>> {
    may_set_power(&api, &caller, p.power.as_ref())?;
    let (rename, changes, alive) = p.changes();
    let node = api.engine.update_node(name, rename, changes, alive).await?;
    Ok(Json(NodeView::new(&api.state.snapshot(), &node)))
}

/// Deletes a node.
#[utoipa::path(delete, path = "/api/v1/nodes/{name}", tag = "nodes", params(("name" = String, Path)), responses((status = 204, description = "Deleted")))]
pub(crate) async fn delete(AxState(api): AxState<ApiState>, Path(name): Path<String>) -> ApiResult<StatusCode> {
    api.engine.delete_node(name).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Sets a node's bootenv; its next DHCP, TFTP or HTTP request gets the new answer.
#[utoipa::path(put, path = "/api/v1/nodes/{name}/bootenv", tag = "nodes", params(("name" = String, Path)), request_body = SetBootenv, responses((status = 200, body = NodeView)))]
pub(crate) async fn set_bootenv(
    AxState(api): AxState<ApiState>,
    Path(name): Path<String>,
    Body(b): Body<SetBootenv>,
) -> ApiResult<Json<NodeView>> {
    let node = api.engine.set_bootenv(name, b.bootenv).await?;
    Ok(Json(NodeView::new(&api.state.snapshot(), &node)))
}

/// Moves a node through its lifecycle by a verb (manage, inspect, provide, deploy, rebuild, undeploy, rescue, unrescue, adopt, abort) or a report (wait, done, fail).
#[utoipa::path(put, path = "/api/v1/nodes/{name}/states/provision", tag = "nodes", params(("name" = String, Path)), request_body = ProvisionTarget, responses((status = 200, body = NodeView)))]
pub(crate) async fn provision(
    AxState(api): AxState<ApiState>,
    Path(name): Path<String>,
    Body(t): Body<ProvisionTarget>,
) -> ApiResult<Json<NodeView>> {
    let verb: Verb =
        t.target.parse().map_err(|e| ApiError::field(StatusCode::BAD_REQUEST, "target", format!("{e}")))?;
    let node = api.engine.provision(name, verb, t.bootenv, t.rescue_password).await?;
    Ok(Json(NodeView::new(&api.state.snapshot(), &node)))
}

/// `POST /api/v1/nodes/import`: an instackenv.json (`{"nodes": [...]}`,
/// plus Fulcrum's `network`), imported in one transaction and managed;
/// answers 201 with the nodes.
#[utoipa::path(post, path = "/api/v1/nodes/import", tag = "nodes", request_body = ImportRequest, responses((status = 201, body = Vec<NodeView>)))]
pub(crate) async fn import(
    AxState(api): AxState<ApiState>,
    Body(req): Body<ImportRequest>,
) -> ApiResult<(StatusCode, Json<Vec<NodeView>>)> {
    let nodes = api.engine.import(req.nodes, req.network).await?;
    let w = api.state.snapshot();
    Ok((StatusCode::CREATED, Json(nodes.iter().map(|n| NodeView::new(&w, n)).collect())))
}

/// `POST /api/v1/nodes/bulk`: a lifecycle verb over the nodes a state or a
/// list selects, only those the verb applies to; `dry_run` answers the
/// plan alone. Every node is reported.
#[utoipa::path(post, path = "/api/v1/nodes/bulk", tag = "nodes", request_body = BulkRequest, responses((status = 200, body = BulkAnswer)))]
pub(crate) async fn bulk(AxState(api): AxState<ApiState>, Body(req): Body<BulkRequest>) -> ApiResult<Json<BulkAnswer>> {
    let verb: Verb = req.verb.parse().map_err(|e| ApiError::field(StatusCode::BAD_REQUEST, "verb", format!("{e}")))?;
    let state = req
        .state
        .as_deref()
        .map(|x| x.parse::<ProvisionState>())
        .transpose()
        .map_err(|e| ApiError::field(StatusCode::BAD_REQUEST, "state", e.to_string()))?;
    let select = Selector { state, nodes: req.nodes, since: req.since, bootenv: req.bootenv.clone() };
    let plan = api.engine.plan(verb, &select)?;
    let done = if req.dry_run { Vec::new() } else { api.engine.apply_plan(verb, &plan, req.bootenv).await };
    Ok(Json(BulkAnswer {
        verb: verb.to_string(),
        dry_run: req.dry_run,
        planned: plan.planned,
        skipped: plan.skipped,
        done,
    }))
}

/// A machine in the discovery image reports in; answers 201 for a new
/// node, 200 for one already known, with the node's token.
#[utoipa::path(post, path = "/api/v1/discover", tag = "machines", security(()), request_body = Discover, responses((status = 200, description = "A known node", body = Discovered), (status = 201, description = "A new node", body = Discovered)))]
pub(crate) async fn discover(
    AxState(api): AxState<ApiState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Body(d): Body<Discover>,
) -> ApiResult<(StatusCode, Json<Discovered>)> {
    let d = d.checked().map_err(|(field, why)| ApiError::field(StatusCode::BAD_REQUEST, &field, why))?;
    let w = api.state.snapshot();
    if !w.table::<Network>().serves_client(w.global_id(), peer.ip(), &api.boot_clients) {
        return Err(ApiError::new(StatusCode::FORBIDDEN, format!("{} is not on a network Fulcrum serves", peer.ip())));
    }
    let source = match peer.ip() {
        IpAddr::V6(v6) => Some(v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4)),
        v4 => Some(v4),
    };
    // The MAC whose current lease is the caller's address: a known
    // machine that still runs on the address it booted with.
    let lease_holder = match source {
        Some(IpAddr::V4(v4)) => w
            .table::<crate::dhcp::lease::Lease>()
            .get(&v4)
            .filter(|l| l.expires_at > crate::types::time::now())
            .map(|l| l.mac),
        _ => None,
    };
    let mac = d.mac;
    let (node, created) = api.engine.discover(d.mac, d.macs, source, lease_holder).await?;
    tracing::info!(node = %node.name, %mac, created, state = %node.provision_state, "discovery agent registered");
    let what = if created { "registered as a new node" } else { "registered (a known node)" };
    api.trace_callback(
        &node.name,
        Some(peer.ip()),
        format!("POST /api/v1/discover from {mac}"),
        format!("{what}; provision state {}", node.provision_state),
    );
    let status = if created { StatusCode::CREATED } else { StatusCode::OK };
    // The machine itself asked: it gets the token it reports in with.
    let answer = Discovered { node: NodeView::new(&api.state.snapshot(), &node), token: Handover::of(&node.token) };
    Ok((status, Json(answer)))
}

/// A node's first MAC, for the log.
pub(crate) fn first_mac(node: &Node) -> Option<String> {
    node.macs.first().map(ToString::to_string)
}

/// The node a machine route names, once its caller may report for it.
pub(crate) fn reporting_node(api: &ApiState, caller: &Caller, name: &str) -> ApiResult<()> {
    let w = api.state.snapshot();
    let node = w.table::<Node>().get(name).ok_or_else(|| EngineError::not_found(Node::KIND, name))?;
    Ok(caller.may_report_for(node)?)
}

/// `POST /api/v1/nodes/{name}/alive`: the node reports in, with its own
/// token (or an operator does, with theirs): alive with an empty body, or
/// as the body's `alive` says (false while it shuts down).
#[utoipa::path(post, path = "/api/v1/nodes/{name}/alive", tag = "machines", params(("name" = String, Path)), request_body = Option<AliveReport>, responses((status = 200, body = NodeView)))]
pub(crate) async fn report_alive(
    AxState(api): AxState<ApiState>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
    body: axum::body::Bytes,
) -> ApiResult<Json<NodeView>> {
    reporting_node(&api, &caller, &name)?;
    let alive =
        if body.iter().all(u8::is_ascii_whitespace) { true } else { super::body::parse::<AliveReport>(&body)?.alive };
    let node = api.engine.report_alive(name, alive).await?;
    tracing::info!(node = %node.name, mac = first_mac(&node), alive, "alive report");
    api.trace_callback(&node.name, None, format!("POST alive ({alive})"), format!("alive {}", node.alive));
    Ok(Json(NodeView::new(&api.state.snapshot(), &node)))
}

/// `POST /api/v1/nodes/{name}/inventory`: the node reports its hardware (a
/// JSON object, at most 64 KiB and 8 levels deep), with its own token (or
/// an operator does); it replaces the last report.
#[utoipa::path(post, path = "/api/v1/nodes/{name}/inventory", tag = "machines", params(("name" = String, Path)), request_body(content = Object, description = "The hardware report: a JSON object, at most 64 KiB and 8 levels deep"), responses((status = 200, body = Facts)))]
pub(crate) async fn report_inventory(
    AxState(api): AxState<ApiState>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
    body: axum::body::Bytes,
) -> ApiResult<Json<Facts>> {
    // Who may report comes first: a stranger's body is not even parsed.
    reporting_node(&api, &caller, &name)?;
    let facts: serde_json::Map<String, serde_json::Value> = super::body::parse(&body)?;
    let report = crate::inventory::facts::Report::new(facts).map_err(EngineError::from)?;
    let facts = api.engine.report_inventory(name.clone(), report).await?;
    tracing::info!(node = %name, "inventory reported");
    api.trace_callback(&name, None, "POST inventory".into(), "hardware report stored".into());
    Ok(Json(Facts::clone(&facts)))
}

/// `GET /api/v1/nodes/{name}/inventory`: the node's last hardware report.
#[utoipa::path(get, path = "/api/v1/nodes/{name}/inventory", tag = "nodes", params(("name" = String, Path)), responses((status = 200, body = Facts)))]
pub(crate) async fn inventory(AxState(api): AxState<ApiState>, Path(name): Path<String>) -> ApiResult<Json<Facts>> {
    let w = api.state.snapshot();
    w.table::<Node>().get(&name).ok_or_else(|| EngineError::not_found(Node::KIND, &name))?;
    let facts = w
        .table::<Facts>()
        .get(&name)
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, format!("node `{name}` has reported no inventory")))?;
    Ok(Json(Facts::clone(facts)))
}

/// `POST /api/v1/nodes/{name}/installed`: the node's installer is done;
/// its next boot is from the local disk.
#[utoipa::path(post, path = "/api/v1/nodes/{name}/installed", tag = "machines", params(("name" = String, Path)), responses((status = 200, body = NodeView)))]
pub(crate) async fn installed(
    AxState(api): AxState<ApiState>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
) -> ApiResult<Json<NodeView>> {
    reporting_node(&api, &caller, &name)?;
    let node = api.engine.installed(name).await?;
    tracing::info!(node = %node.name, mac = first_mac(&node), state = %node.provision_state, "install reported done");
    api.trace_callback(
        &node.name,
        None,
        "POST installed".into(),
        format!("install done; bootenv {}, provision state {}", node.bootenv, node.provision_state),
    );
    Ok(Json(NodeView::new(&api.state.snapshot(), &node)))
}
