//! [`AuthError`]: why a caller is not let in (401), may not do what it
//! asks (403), or an auth command failed.

use super::access::Access;
use crate::state::StateError;
use crate::types::field::{Refusal, Refuse};

/// Why a request or an auth command was refused.
#[derive(Debug, thiserror::Error)]
pub(crate) enum AuthError {
    /// No `Authorization: Bearer` header (401).
    #[error("this needs `Authorization: Bearer <token>`")]
    Missing,
    /// The token is not one Fulcrum issued (401).
    #[error("the bearer token is not valid")]
    Unknown,
    /// The token expired (401).
    #[error("token {id} has expired")]
    Expired { id: u64 },
    /// The token was revoked (401).
    #[error("token {id} was revoked")]
    Revoked { id: u64 },
    /// The token's access is too low (403).
    #[error("this needs {need} access; token {id} has {have}")]
    Forbidden { id: u64, need: Access, have: Access },
    /// A machine token on a route that is not its node's report (403).
    #[error("a machine token may only report for its own node")]
    MachineToken,
    /// A machine token for another node than the route's (403).
    #[error("the node token does not match")]
    NotThisNode,
    /// A dangerous feature asked for with less than an admin token (403).
    #[error("{what} needs an admin token")]
    AdminOnly { what: &'static str },
    /// Not found, or an invalid field.
    #[error(transparent)]
    Refused(#[from] Refusal),
    /// The admin token file could not be written.
    #[error("cannot write {path}")]
    TokenFile {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The state mechanism failed.
    #[error(transparent)]
    State(#[from] StateError),
}

impl Refuse for AuthError {}
