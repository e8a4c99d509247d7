//! The audit log: one durable record per API write, refused ones
//! included: who (the token's id, name and access, or the node, or
//! nobody), what (method, route, path, status) and when. It keeps the
//! newest `[api] audit_keep` entries: every record also lives in memory,
//! and machines' reports (alive, inventory) would otherwise grow it
//! without end.

use serde::{Deserialize, Serialize};

use super::access::Access;
use crate::state::{record, NoIndex, StateError, Txn};

/// Who made a request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub(crate) enum Who {
    /// An API token.
    Token { id: u64, name: String, access: Access },
    /// A machine token (the node it is for, when it is one).
    Machine { node: Option<String> },
    /// No token.
    Anonymous,
}

/// One API write.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub(crate) struct AuditEntry {
    pub(crate) id: u64,
    /// Unix milliseconds.
    pub(crate) at_ms: u64,
    pub(crate) who: Who,
    pub(crate) method: String,
    /// The route pattern (`/api/v1/nodes/{name}`).
    pub(crate) route: String,
    /// The path asked for (`/api/v1/nodes/n1.example`).
    pub(crate) path: String,
    /// The answer's status code.
    pub(crate) status: u16,
}

record!(AuditEntry, kind = "audit", table = "audit", key = id: u64, index = NoIndex);

/// Appends an entry (its id is assigned here, one more than the newest),
/// and drops the oldest beyond the newest `keep` in the same transaction.
pub(crate) fn append(txn: &mut Txn<'_>, mut entry: AuditEntry, keep: usize) -> Result<(), StateError> {
    entry.id = txn.world().table::<AuditEntry>().iter().next_back().map_or(1, |e| e.id + 1);
    txn.put(entry)?;
    while txn.world().table::<AuditEntry>().len() > keep.max(1) {
        let Some(oldest) = txn.world().table::<AuditEntry>().iter().next().map(|e| e.id) else { break };
        txn.delete::<AuditEntry, _>(&oldest)?;
    }
    Ok(())
}
