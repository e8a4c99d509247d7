//! [`ApiError`]: every failure answered as `{"error": "...", "detail":
//! {"field": "..."}}` with the status that fits. Domain errors are mapped
//! by variant: 400 malformed, 401 no credentials, 403 wrong credentials,
//! 404 unknown, 409 conflict or refused transition, 422 invalid value,
//! 500 ours, 503 shutting down.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

use super::wire::{ErrorBody, FieldRef};
use crate::auth::AuthError;
use crate::engine::EngineError;
use crate::inventory::InventoryError;
use crate::state::StateError;
use crate::types::field::{FieldError, Refusal};
use crate::types::report::Report;

/// An error answer.
#[derive(Debug)]
pub(crate) struct ApiError {
    pub(crate) status: StatusCode,
    pub(crate) error: String,
    pub(crate) field: Option<String>,
}

/// Result of a handler.
pub(crate) type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub(crate) fn new(status: StatusCode, error: impl Into<String>) -> ApiError {
        ApiError { status, error: error.into(), field: None }
    }

    /// A problem with `field`.
    pub(crate) fn field(status: StatusCode, field: &str, error: impl Into<String>) -> ApiError {
        ApiError { status, error: error.into(), field: Some(field.to_string()) }
    }

    fn of_field(status: StatusCode, e: FieldError) -> ApiError {
        let error = e.to_string();
        ApiError { status, error, field: Some(e.field) }
    }
}

impl From<StateError> for ApiError {
    fn from(e: StateError) -> ApiError {
        let message = Report(&e).to_string();
        match e {
            StateError::Closed => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, message),
            StateError::Store(_) if e.is_disk_full() => {
                tracing::error!(error = %message, "a write was refused: the store's disk is full");
                ApiError::new(StatusCode::INSUFFICIENT_STORAGE, message)
            }
            StateError::Store(_) | StateError::Encode { .. } | StateError::Aborted => {
                tracing::error!(error = %message, "state failure");
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, message)
            }
        }
    }
}

impl From<Refusal> for ApiError {
    fn from(r: Refusal) -> ApiError {
        match r {
            Refusal::NotFound { .. } => ApiError::new(StatusCode::NOT_FOUND, r.to_string()),
            Refusal::Conflict(f) => ApiError::of_field(StatusCode::CONFLICT, f),
            Refusal::Invalid(f) => ApiError::of_field(StatusCode::UNPROCESSABLE_ENTITY, f),
        }
    }
}

impl From<InventoryError> for ApiError {
    fn from(e: InventoryError) -> ApiError {
        match e {
            InventoryError::Refused(r) => r.into(),
            InventoryError::Transition(t) => ApiError::field(StatusCode::CONFLICT, "target", t.to_string()),
            InventoryError::State(s) => s.into(),
        }
    }
}

impl From<EngineError> for ApiError {
    fn from(e: EngineError) -> ApiError {
        match e {
            EngineError::Refused(r) => r.into(),
            EngineError::Transition(t) => ApiError::field(StatusCode::CONFLICT, "state", t.to_string()),
            EngineError::HookTemplate { .. } => {
                ApiError::field(StatusCode::UNPROCESSABLE_ENTITY, "hooks", Report(&e).to_string())
            }
            EngineError::Disabled { .. } | EngineError::NotFromNode { .. } => {
                ApiError::new(StatusCode::FORBIDDEN, e.to_string())
            }
            EngineError::Inventory(i) => i.into(),
            EngineError::State(s) => s.into(),
            EngineError::PowerUnsupported { .. } => {
                ApiError::field(StatusCode::UNPROCESSABLE_ENTITY, "target", e.to_string())
            }
            // The BMC (or the operator's command) failed: a bad gateway.
            EngineError::Power { .. } => ApiError::new(StatusCode::BAD_GATEWAY, Report(&e).to_string()),
        }
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> ApiError {
        let message = Report(&e).to_string();
        match e {
            AuthError::Missing | AuthError::Unknown | AuthError::Expired { .. } | AuthError::Revoked { .. } => {
                ApiError::field(StatusCode::UNAUTHORIZED, "authorization", message)
            }
            AuthError::Forbidden { .. }
            | AuthError::MachineToken
            | AuthError::NotThisNode
            | AuthError::AdminOnly { .. } => ApiError::field(StatusCode::FORBIDDEN, "authorization", message),
            AuthError::Refused(r) => r.into(),
            AuthError::TokenFile { .. } => ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, message),
            AuthError::State(s) => s.into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let unauthorized = self.status == StatusCode::UNAUTHORIZED;
        let body = ErrorBody { error: self.error, detail: self.field.map(|field| FieldRef { field }) };
        let mut response = (self.status, Json(body)).into_response();
        if unauthorized {
            response
                .headers_mut()
                .insert(axum::http::header::WWW_AUTHENTICATE, axum::http::HeaderValue::from_static("Bearer"));
        }
        response
    }
}

impl From<crate::dns::DnsError> for ApiError {
    fn from(e: crate::dns::DnsError) -> ApiError {
        match e {
            crate::dns::DnsError::Refused(r) => r.into(),
            crate::dns::DnsError::State(s) => s.into(),
        }
    }
}

impl From<crate::explain::ExplainError> for ApiError {
    fn from(e: crate::explain::ExplainError) -> ApiError {
        use crate::explain::ExplainError as E;
        let status = match &e {
            E::NoSuchNode(_) => StatusCode::NOT_FOUND,
            E::NoSuchNetwork(_) | E::WhichNetwork(_) => {
                return ApiError::field(StatusCode::UNPROCESSABLE_ENTITY, "network", e.to_string())
            }
            E::NoMac(_) | E::NoNetworks => StatusCode::CONFLICT,
        };
        ApiError::new(status, e.to_string())
    }
}

impl From<crate::distro::ImportError> for ApiError {
    fn from(e: crate::distro::ImportError) -> ApiError {
        use crate::distro::ImportError as E;
        let field = match &e {
            E::Open { .. } => "path",
            E::Malformed(_) | E::UnknownDistro | E::Missing(_) => "iso",
            E::BadName(..) => "name",
            E::BadFileName(_) => "filename",
            E::Io { .. } => {
                tracing::error!(error = %Report(&e), "ISO import failed writing");
                return ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, Report(&e).to_string());
            }
        };
        ApiError::field(StatusCode::UNPROCESSABLE_ENTITY, field, Report(&e).to_string())
    }
}
