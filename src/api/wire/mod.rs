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
pub(crate) mod dns;
pub(crate) mod engine;
pub(crate) mod explain;
pub(crate) mod inventory;

use serde::{Deserialize, Serialize};

/// Every error answer: `{"error": "...", "detail": {"field": "..."}}`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub(crate) struct ErrorBody {
    /// What went wrong, for a person.
    pub(crate) error: String,
    /// The field at fault, when one is.
    pub(crate) detail: Option<FieldRef>,
}

/// The field an error is about.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub(crate) struct FieldRef {
    pub(crate) field: String,
}

/// `GET /healthz`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub(crate) struct Health {
    pub(crate) status: String,
    pub(crate) version: String,
    /// The cluster's Global ID, 10 hex digits.
    pub(crate) global_id: String,
    pub(crate) nodes: usize,
    /// How many batches this process has committed.
    pub(crate) state_version: u64,
}

/// `GET /api/v1/status`: what runs where, and how to trust it.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub(crate) struct Status {
    pub(crate) version: String,
    /// The cluster's Global ID, 10 hex digits.
    pub(crate) global_id: String,
    /// `false` once the state writer has stopped.
    pub(crate) writing: bool,
    pub(crate) state_version: u64,
    /// Unix seconds when this process started.
    pub(crate) started_at: u64,
    /// The operator API's listener (`https://0.0.0.0:443`).
    pub(crate) api: String,
    /// The API's certificate; absent when `api.tls = false`.
    pub(crate) tls: Option<TlsView>,
    /// The plain-HTTP boot listener (`http://0.0.0.0:80`).
    pub(crate) boot: String,
    /// The other services and where each listens (`dhcp4`, `dhcp6`,
    /// `pxe`, `tftp`, `dns`); a service that is off is absent.
    #[serde(default)]
    pub(crate) services: Vec<ServiceView>,
    pub(crate) nodes: usize,
    pub(crate) networks: usize,
    pub(crate) leases: usize,
    /// Nodes per provisioning state (`active`: 3, ...).
    #[serde(default)]
    pub(crate) nodes_by_state: std::collections::BTreeMap<String, usize>,
}

/// A service and its sockets.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub(crate) struct ServiceView {
    pub(crate) name: String,
    pub(crate) listen: Vec<String>,
}

/// The API's certificate.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub(crate) struct TlsView {
    /// SHA-256 of the leaf certificate's DER.
    pub(crate) fingerprint: crate::types::fingerprint::Fingerprint,
    /// `self-signed` (made by Fulcrum) or `configured` (`api.cert`).
    pub(crate) origin: String,
    /// The certificate file on the admin node.
    pub(crate) cert: String,
}
