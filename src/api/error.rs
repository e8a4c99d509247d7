//! API errors: every failure is `{"error": "...", "detail": ...}` with the
//! status that fits (400 malformed, 404 unknown, 409 conflict, 422 invalid
//! value, 5xx ours), and every client error names the field at fault.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use crate::state::StateError;

/// An error answer.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub error: String,
    pub detail: Value,
}

impl ApiError {
    pub fn new(status: StatusCode, error: impl Into<String>) -> ApiError {
        ApiError { status, error: error.into(), detail: Value::Null }
    }

    /// A bad value in `field`.
    pub fn field(status: StatusCode, field: &str, error: impl Into<String>) -> ApiError {
        ApiError { status, error: error.into(), detail: json!({ "field": field }) }
    }

    pub fn not_found(what: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, what)
    }
}

impl From<StateError> for ApiError {
    fn from(e: StateError) -> ApiError {
        let msg = e.to_string();
        match e {
            StateError::NotFound { .. } => ApiError::new(StatusCode::NOT_FOUND, msg),
            StateError::Conflict { field, .. } => ApiError::field(StatusCode::CONFLICT, &field, msg),
            StateError::Invalid { field, .. } => ApiError::field(StatusCode::UNPROCESSABLE_ENTITY, &field, msg),
            StateError::Closed => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, msg),
            StateError::Store(_) => {
                tracing::error!(error = %msg, "store failure");
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, msg)
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(json!({ "error": self.error, "detail": self.detail }))).into_response()
    }
}

/// Result of a handler.
pub type ApiResult<T> = Result<T, ApiError>;
