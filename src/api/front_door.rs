//! The front door of the operator API: every request's caller is made from
//! its bearer token, checked against what its route needs
//! ([`auth::access::need`]), refused with 401 or 403 when it does not
//! qualify, and handed to the handler as a [`Caller`] extension. Every
//! write (allowed or refused) is recorded in the audit log before its
//! answer leaves.

use axum::extract::{MatchedPath, Request, State as AxState};
use axum::http::{header, HeaderMap, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::ApiError;
use super::ApiState;
use crate::auth::access;
use crate::auth::audit::{AuditEntry, Who};
use crate::auth::Caller;
use crate::types::report::Report;
use crate::types::time::{now, now_ms};

/// The bearer token of a request, if it sends one.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers.get(header::AUTHORIZATION)?.to_str().ok()?.strip_prefix("Bearer ").map(str::trim)
}

/// The node a `/api/v1/nodes/{name}/...` path names.
fn node_of(path: &str) -> Option<&str> {
    path.strip_prefix("/api/v1/nodes/")?.split('/').next().filter(|n| !n.is_empty())
}

/// The middleware.
pub(crate) async fn front_door(AxState(api): AxState<ApiState>, mut req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let route = req.extensions().get::<MatchedPath>().map_or_else(|| path.clone(), |m| m.as_str().to_string());
    let world = api.state.snapshot();
    let need = access::need(method.as_str(), &route);
    let admitted = Caller::from_bearer(&world, bearer(req.headers()), now())
        .and_then(|caller| caller.admit(&world, need).map(|()| caller));
    let (response, who) = match admitted {
        Ok(caller) => {
            let who = caller.who(&world, node_of(&path));
            req.extensions_mut().insert(caller);
            (next.run(req).await, who)
        }
        Err(e) => (ApiError::from(e).into_response(), Who::Anonymous),
    };
    if !matches!(method, Method::GET | Method::HEAD | Method::OPTIONS) {
        let entry = AuditEntry {
            id: 0,
            at_ms: now_ms(),
            who,
            method: method.to_string(),
            route,
            path,
            status: response.status().as_u16(),
        };
        // Durable before the answer leaves.
        if let Err(e) = api.auth.audit(entry).await {
            tracing::error!(error = %Report(&e), "cannot record an API write in the audit log");
        }
    }
    response
}
