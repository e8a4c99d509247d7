//! `/api/v1/nodes`: registration, listing, updates, bootenv changes,
//! provisioning verbs, and `/api/v1/discover` for machines that boot the
//! discovery image. Every write goes through the engine.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, Path, Query, State as AxState};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::body::Body;
use super::error::{ApiError, ApiResult};
use super::App;
use crate::engine::nodes::{NewNode, NodePatch};
use crate::net::mac::Mac;
use crate::state::lifecycle::Verb;
use crate::state::model::{Kind, Node};
use crate::state::{StateError, World};

/// The JSON shape of a node: the record plus its derived addresses.
pub fn view(world: &World, node: &Node) -> Value {
    let ipv6 = node
        .network
        .as_deref()
        .and_then(|n| world.network(n))
        .and_then(|net| net.v6_address(world.global_id(), &node.name));
    let mut addresses: Vec<String> = node.ipv4.iter().map(ToString::to_string).collect();
    addresses.extend(ipv6.iter().map(ToString::to_string));
    let mut v = serde_json::to_value(node).unwrap_or(Value::Null);
    if let Some(obj) = v.as_object_mut() {
        obj.remove("token");
        obj.insert("ipv6".into(), json!(ipv6));
        obj.insert("addresses".into(), json!(addresses));
    }
    v
}

/// `?network=&bootenv=&provision_state=` filters.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeFilter {
    pub network: Option<String>,
    pub bootenv: Option<String>,
    pub provision_state: Option<String>,
}

pub async fn list(AxState(app): AxState<App>, Query(f): Query<NodeFilter>) -> Json<Value> {
    let w = app.state.snapshot();
    let nodes = w
        .nodes()
        .filter(|n| f.network.as_deref().is_none_or(|x| n.network.as_deref() == Some(x)))
        .filter(|n| f.bootenv.as_deref().is_none_or(|x| n.bootenv == x))
        .filter(|n| f.provision_state.as_deref().is_none_or(|x| n.provision_state.to_string() == x))
        .map(|n| view(&w, n))
        .collect();
    Json(Value::Array(nodes))
}

pub async fn show(AxState(app): AxState<App>, Path(name): Path<String>) -> ApiResult<Json<Value>> {
    let w = app.state.snapshot();
    let node = w.node(&name).ok_or_else(|| StateError::not_found(Kind::Node, &name))?;
    Ok(Json(view(&w, node)))
}

pub async fn create(AxState(app): AxState<App>, Body(req): Body<NewNode>) -> ApiResult<(StatusCode, Json<Value>)> {
    let node = app.engine.create_node(req).await?;
    Ok((StatusCode::CREATED, Json(view(&app.state.snapshot(), &node))))
}

pub async fn patch(
    AxState(app): AxState<App>,
    Path(name): Path<String>,
    Body(p): Body<NodePatch>,
) -> ApiResult<Json<Value>> {
    let node = app.engine.update_node(name, p).await?;
    Ok(Json(view(&app.state.snapshot(), &node)))
}

pub async fn delete(AxState(app): AxState<App>, Path(name): Path<String>) -> ApiResult<StatusCode> {
    app.engine.delete_node(name).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetBootenv {
    pub bootenv: String,
}

pub async fn set_bootenv(
    AxState(app): AxState<App>,
    Path(name): Path<String>,
    Body(b): Body<SetBootenv>,
) -> ApiResult<Json<Value>> {
    let node = app.engine.set_bootenv(name, b.bootenv).await?;
    Ok(Json(view(&app.state.snapshot(), &node)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Target {
    pub target: String,
}

pub async fn provision(
    AxState(app): AxState<App>,
    Path(name): Path<String>,
    Body(t): Body<Target>,
) -> ApiResult<Json<Value>> {
    let verb: Verb = t.target.parse().map_err(|e: String| ApiError::field(StatusCode::BAD_REQUEST, "target", e))?;
    let node = app.engine.provision(name, verb).await?;
    Ok(Json(view(&app.state.snapshot(), &node)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Discover {
    pub mac: Mac,
}

/// A machine in the discovery image reports in; answers 201 for a new node,
/// 200 for one already known.
pub async fn discover(
    AxState(app): AxState<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Body(d): Body<Discover>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let source = match peer.ip() {
        IpAddr::V4(v4) => Some(v4),
        IpAddr::V6(v6) => v6.to_ipv4_mapped(),
    };
    let (node, created) = app.engine.discover(d.mac, source).await?;
    let status = if created { StatusCode::CREATED } else { StatusCode::OK };
    let mut v = view(&app.state.snapshot(), &node);
    // The machine itself asked: it gets the token it reports in with.
    v["token"] = json!(node.token);
    Ok((status, Json(v)))
}

/// `POST /api/v1/nodes/{name}/alive` with `Authorization: Bearer TOKEN`:
/// the node reports in.
pub async fn report_alive(
    AxState(app): AxState<App>,
    Path(name): Path<String>,
    headers: axum::http::HeaderMap,
) -> ApiResult<Json<Value>> {
    let token = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.strip_prefix("Bearer "))
        .ok_or_else(|| {
            ApiError::field(StatusCode::UNAUTHORIZED, "authorization", "missing `Authorization: Bearer <node token>`")
        })?
        .to_string();
    let node = app.engine.report_alive(name, token).await.map_err(|e| match e {
        StateError::Conflict { field, message } if field == "token" => {
            ApiError::field(StatusCode::FORBIDDEN, "authorization", message)
        }
        other => other.into(),
    })?;
    Ok(Json(view(&app.state.snapshot(), &node)))
}
