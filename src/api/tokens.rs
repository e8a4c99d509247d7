//! `/api/v1/tokens` (admin) and `/api/v1/audit` (operator): create, list
//! and revoke API tokens; read the audit log of API writes.

use axum::extract::State as AxState;
use axum::http::StatusCode;
use axum::Json;

use super::body::Body;
use super::error::{ApiError, ApiResult};
use super::params::{Path, Query};
use super::wire::auth::{AuditQuery, AuditView, CreatedToken, NewToken, TokenView};
use super::ApiState;
use crate::auth::audit::AuditEntry;
use crate::auth::token::{self, ApiToken};
use crate::types::secret::Handover;

/// Newest audit entries returned when the query names no limit.
const AUDIT_PAGE: usize = 100;

/// The API tokens (never their values).
#[utoipa::path(get, path = "/api/v1/tokens", tag = "tokens", responses((status = 200, body = Vec<TokenView>)))]
pub(crate) async fn list(AxState(api): AxState<ApiState>) -> Json<Vec<TokenView>> {
    Json(api.state.snapshot().table::<ApiToken>().iter().map(|t| TokenView::from(&**t)).collect())
}

/// Creates an API token; the answer is the only time its value is shown.
#[utoipa::path(post, path = "/api/v1/tokens", tag = "tokens", request_body = NewToken, responses((status = 201, body = CreatedToken)))]
pub(crate) async fn create(
    AxState(api): AxState<ApiState>,
    Body(req): Body<NewToken>,
) -> ApiResult<(StatusCode, Json<CreatedToken>)> {
    let lifetime = match &req.expires {
        None => None,
        Some(e) => Some(token::parse_lifetime(e).ok_or_else(|| {
            ApiError::field(
                StatusCode::UNPROCESSABLE_ENTITY,
                "expires",
                format!("`{e}`: expected 30d, 12h, 90m or 3600s"),
            )
        })?),
    };
    let (t, text) = api.auth.create(req.name, req.role, lifetime).await?;
    Ok((StatusCode::CREATED, Json(CreatedToken { view: TokenView::from(&*t), token: Handover::of(&text) })))
}

/// Revokes a token.
#[utoipa::path(delete, path = "/api/v1/tokens/{id}", tag = "tokens", params(("id" = u64, Path)), responses((status = 200, body = TokenView)))]
pub(crate) async fn revoke(AxState(api): AxState<ApiState>, Path(id): Path<u64>) -> ApiResult<Json<TokenView>> {
    let t = api.auth.revoke(id).await?;
    Ok(Json(TokenView::from(&*t)))
}

/// The audit log of API writes, oldest first: entries after `after`, at most `limit` (100).
#[utoipa::path(get, path = "/api/v1/audit", tag = "tokens", params(AuditQuery), responses((status = 200, body = Vec<AuditView>)))]
pub(crate) async fn audit(AxState(api): AxState<ApiState>, Query(q): Query<AuditQuery>) -> Json<Vec<AuditView>> {
    let w = api.state.snapshot();
    let after = q.after.unwrap_or(0);
    let limit = q.limit.unwrap_or(AUDIT_PAGE);
    let mut out: Vec<AuditView> = w
        .table::<AuditEntry>()
        .iter()
        .rev()
        .take_while(|e| e.id > after)
        .take(limit)
        .map(|e| AuditView { entry: (**e).clone() })
        .collect();
    out.reverse();
    Json(out)
}
