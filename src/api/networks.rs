//! `/api/v1/networks`: create, list, show, patch and delete networks. The
//! request is validated into a [`Network`] here; uniqueness (name, id,
//! overlapping subnets) is enforced by the state transaction.

use std::net::Ipv4Addr;

use axum::extract::{Path, State as AxState};
use axum::http::StatusCode;
use axum::Json;
use ipnet::Ipv4Net;
use serde::Deserialize;
use serde_json::{json, Value};

use super::body::Body;
use super::error::ApiResult;
use super::App;
use crate::net::alloc;
use crate::state::model::{Kind, Network, Range, V6Prefix};
use crate::state::{StateError, World};

/// POST body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkSpec {
    pub name: String,
    pub subnet: Ipv4Net,
    #[serde(default)]
    pub router: Option<Ipv4Addr>,
    #[serde(default)]
    pub dynamic: Option<Range>,
    #[serde(rename = "static")]
    pub static_range: Range,
    pub domain: String,
    #[serde(default)]
    pub dns_servers: Vec<Ipv4Addr>,
    #[serde(default)]
    pub v6prefix: Option<V6Prefix>,
    #[serde(default)]
    pub interface: Option<String>,
    #[serde(default)]
    pub server: Option<Ipv4Addr>,
    #[serde(default)]
    pub lease_seconds: Option<u32>,
    #[serde(default)]
    pub mtu: Option<u16>,
}

/// PATCH body: the settings that can change without renumbering nodes.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkPatch {
    #[serde(default)]
    pub router: Option<Ipv4Addr>,
    #[serde(default)]
    pub dynamic: Option<Range>,
    #[serde(default)]
    pub dns_servers: Option<Vec<Ipv4Addr>>,
    #[serde(default)]
    pub interface: Option<String>,
    #[serde(default)]
    pub server: Option<Ipv4Addr>,
    #[serde(default)]
    pub lease_seconds: Option<u32>,
    #[serde(default)]
    pub mtu: Option<u16>,
}

fn invalid(field: &str, msg: impl Into<String>) -> StateError {
    StateError::invalid(field, msg)
}

fn check_range(net: &Network, field: &str, r: &Range) -> Result<(), StateError> {
    if r.start > r.end {
        return Err(invalid(field, format!("start {} is after end {}", r.start, r.end)));
    }
    for (end, ip) in [("start", r.start), ("end", r.end)] {
        if !alloc::assignable(net, ip) {
            return Err(invalid(
                &format!("{field}.{end}"),
                format!("{ip} is not a usable host address of {} (network, broadcast, router or server)", net.subnet),
            ));
        }
    }
    Ok(())
}

/// Checks a network's internal consistency, naming the field at fault.
pub fn validate(net: &Network) -> Result<(), StateError> {
    if net.name.is_empty()
        || net.name.len() > 63
        || !net.name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(invalid("name", format!("`{}` must be 1-63 characters of a-z, 0-9, '-' or '_'", net.name)));
    }
    if net.subnet.prefix_len() > 30 {
        return Err(invalid("subnet", format!("{} is too small; use /30 or larger", net.subnet)));
    }
    if net.subnet.network() != net.subnet.addr() {
        return Err(invalid(
            "subnet",
            format!("{} has host bits set; did you mean {}?", net.subnet, net.subnet.trunc()),
        ));
    }
    if let Some(r) = net.router {
        if !net.subnet.contains(&r) || r == net.subnet.network() || r == net.subnet.broadcast() {
            return Err(invalid("router", format!("{r} is not a host address of {}", net.subnet)));
        }
    }
    check_range(net, "static", &net.static_range)?;
    if let Some(d) = &net.dynamic {
        check_range(net, "dynamic", d)?;
        if d.overlaps(&net.static_range) {
            return Err(invalid("dynamic", "dynamic and static ranges overlap"));
        }
    }
    crate::engine::nodes::validate_fqdn(&format!("host.{}", net.domain))
        .map_err(|_| invalid("domain", format!("`{}` is not a valid DNS domain", net.domain)))?;
    if net.lease_seconds < 60 {
        return Err(invalid("lease_seconds", "must be at least 60"));
    }
    if !(576..=9216).contains(&net.mtu) {
        return Err(invalid("mtu", format!("{} is outside 576..=9216", net.mtu)));
    }
    if let Some(i) = &net.interface {
        if i.is_empty() || i.len() > 15 {
            return Err(invalid("interface", format!("`{i}` is not an interface name")));
        }
    }
    Ok(())
}

fn next_id(world: &World) -> u16 {
    world.networks().map(|n| n.id).max().map_or(1, |m| m.wrapping_add(1).max(1))
}

/// The JSON shape of a network, with its effective IPv6 prefix.
pub fn view(world: &World, net: &Network) -> Value {
    let mut v = serde_json::to_value(net).unwrap_or(Value::Null);
    if let Some(obj) = v.as_object_mut() {
        obj.insert("v6_network".into(), json!(net.v6_prefix(world.global_id()).map(|p| format!("{p}/64"))));
    }
    v
}

pub async fn list(AxState(app): AxState<App>) -> Json<Value> {
    let w = app.state.snapshot();
    Json(Value::Array(w.networks().map(|n| view(&w, n)).collect()))
}

pub async fn show(AxState(app): AxState<App>, Path(name): Path<String>) -> ApiResult<Json<Value>> {
    let w = app.state.snapshot();
    let net = w.network(&name).ok_or_else(|| StateError::not_found(Kind::Network, &name))?;
    Ok(Json(view(&w, net)))
}

pub async fn create(AxState(app): AxState<App>, Body(spec): Body<NetworkSpec>) -> ApiResult<(StatusCode, Json<Value>)> {
    let net = app
        .state
        .write(move |txn| {
            if txn.world().network(&spec.name).is_some() {
                return Err(StateError::conflict("name", format!("network `{}` already exists", spec.name)));
            }
            let net = Network {
                id: next_id(txn.world()),
                name: spec.name,
                subnet: spec.subnet,
                router: spec.router,
                dynamic: spec.dynamic,
                static_range: spec.static_range,
                domain: spec.domain.trim_end_matches('.').to_ascii_lowercase(),
                dns_servers: spec.dns_servers,
                v6prefix: spec.v6prefix,
                interface: spec.interface,
                server: spec.server,
                lease_seconds: spec.lease_seconds.unwrap_or(3600),
                mtu: spec.mtu.unwrap_or(1500),
            };
            validate(&net)?;
            txn.put_network(net)
        })
        .await?;
    let w = app.state.snapshot();
    Ok((StatusCode::CREATED, Json(view(&w, &net))))
}

pub async fn patch(
    AxState(app): AxState<App>,
    Path(name): Path<String>,
    Body(p): Body<NetworkPatch>,
) -> ApiResult<Json<Value>> {
    let net = app
        .state
        .write(move |txn| {
            let mut net = txn
                .world()
                .network(&name)
                .map(|n| (**n).clone())
                .ok_or_else(|| StateError::not_found(Kind::Network, &name))?;
            if p.router.is_some() {
                net.router = p.router;
            }
            if p.dynamic.is_some() {
                net.dynamic = p.dynamic;
            }
            if let Some(d) = p.dns_servers {
                net.dns_servers = d;
            }
            if p.interface.is_some() {
                net.interface = p.interface;
            }
            if p.server.is_some() {
                net.server = p.server;
            }
            if let Some(l) = p.lease_seconds {
                net.lease_seconds = l;
            }
            if let Some(m) = p.mtu {
                net.mtu = m;
            }
            validate(&net)?;
            txn.put_network(net)
        })
        .await?;
    let w = app.state.snapshot();
    Ok(Json(view(&w, &net)))
}

pub async fn delete(AxState(app): AxState<App>, Path(name): Path<String>) -> ApiResult<StatusCode> {
    app.state.write(move |txn| txn.delete_network(&name)).await?;
    Ok(StatusCode::NO_CONTENT)
}
