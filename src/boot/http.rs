//! HTTP boot routes:
//! - `GET /boot/ipxe?mac=MAC`: the iPXE script rendered now from the MAC's
//!   current bootenv (discovery for unknown MACs);
//! - `GET /boot/templates/{mac}/{name}`: unattended-install templates;
//! - `GET /boot/files/...`: kernels, initrds, ISOs from the files dir, with
//!   range requests;
//! - `GET /boot/loaders/...`: the TFTP root over HTTP, for UEFI HTTP boot.

use axum::extract::{Path, Query, State as AxState};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde::Deserialize;
use tower_http::services::ServeDir;

use super::render::{self, RenderError};
use crate::api::error::ApiError;
use crate::api::App;
use crate::config::Config;
use crate::net::mac::Mac;
use crate::stats::bump;

/// The boot routes, serving files from the configured directories.
pub fn routes(config: &Config) -> Router<App> {
    Router::new()
        .route("/boot/ipxe", get(ipxe))
        .route("/boot/templates/{mac}/{name}", get(template))
        .nest_service("/boot/files", ServeDir::new(config.files_dir()))
        .nest_service("/boot/loaders", ServeDir::new(&config.tftp.root))
}

#[derive(Debug, Deserialize)]
pub struct MacQuery {
    mac: Option<String>,
}

/// The URL the client used to reach us, from its Host header.
fn base_url(app: &App, headers: &HeaderMap) -> String {
    if let Some(url) = &app.config.http.public_url {
        return url.trim_end_matches('/').to_string();
    }
    match headers.get(header::HOST).and_then(|h| h.to_str().ok()) {
        Some(host) => format!("http://{host}"),
        None => format!("http://{}", app.config.http.listen),
    }
}

fn parse_mac(raw: Option<&str>) -> Result<Mac, ApiError> {
    let raw =
        raw.ok_or_else(|| ApiError::field(StatusCode::BAD_REQUEST, "mac", "query parameter `mac` is required"))?;
    raw.parse()
        .map_err(|e: crate::net::mac::MacParseError| ApiError::field(StatusCode::BAD_REQUEST, "mac", e.to_string()))
}

fn rendered(result: Result<String, RenderError>) -> Response {
    match result {
        Ok(text) => ([(header::CONTENT_TYPE, "text/plain; charset=utf-8"), (header::CACHE_CONTROL, "no-store")], text)
            .into_response(),
        Err(e @ RenderError::MissingTemplate { .. }) => ApiError::not_found(e.to_string()).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "cannot render boot answer");
            ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response()
        }
    }
}

async fn ipxe(AxState(app): AxState<App>, headers: HeaderMap, Query(q): Query<MacQuery>) -> Response {
    let mac = match parse_mac(q.mac.as_deref()) {
        Ok(m) => m,
        Err(e) => return e.into_response(),
    };
    bump(&app.stats.boot_scripts);
    let base = base_url(&app, &headers);
    let world = app.state.snapshot();
    tracing::info!(%mac, version = world.version(), "boot script");
    rendered(render::ipxe_script(&world, &app.config.boot.discovery_bootenv, &base, mac))
}

async fn template(
    AxState(app): AxState<App>,
    headers: HeaderMap,
    Path((mac, name)): Path<(String, String)>,
) -> Response {
    let mac = match parse_mac(Some(&mac)) {
        Ok(m) => m,
        Err(e) => return e.into_response(),
    };
    let base = base_url(&app, &headers);
    let world = app.state.snapshot();
    rendered(render::template(&world, &app.config.boot.discovery_bootenv, &base, mac, &name))
}
