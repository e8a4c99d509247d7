//! The API's wire types: every request body, query and response of the v1
//! API as an explicit serde type, shared by the server (which builds the
//! views from records) and the CLI (which sends the requests and reads the
//! views). The JSON they produce is the API contract; the records behind
//! them can change without changing it.
//!
//! - [`inventory`]: networks, nodes, bootenvs, leases, discovery;
//! - [`engine`]: roles, deployments, noderoles, runs, annealing status;
//! - [`auth`]: API tokens and the audit log.

pub(crate) mod auth;
pub(crate) mod engine;
pub(crate) mod inventory;

use serde::{Deserialize, Serialize};

/// Every error answer: `{"error": "...", "detail": {"field": "..."}}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ErrorBody {
    /// What went wrong, for a person.
    pub(crate) error: String,
    /// The field at fault, when one is.
    pub(crate) detail: Option<FieldRef>,
}

/// The field an error is about.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct FieldRef {
    pub(crate) field: String,
}

/// `GET /healthz`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Health {
    pub(crate) status: String,
    pub(crate) version: String,
    /// The cluster's Global ID, 10 hex digits.
    pub(crate) global_id: String,
    pub(crate) nodes: usize,
    /// How many batches this process has committed.
    pub(crate) state_version: u64,
}
