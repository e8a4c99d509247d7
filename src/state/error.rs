//! [`StateError`]: what the state mechanism itself can fail with. Domain
//! errors (a name taken, a field invalid) are the domains' own; they wrap
//! this one for the failures of the mechanism underneath them.

use std::sync::Arc;

use super::store::StoreError;

/// A failure of the state mechanism; nothing was acknowledged.
#[derive(Debug, Clone, thiserror::Error)]
pub(crate) enum StateError {
    /// The store refused the batch (or could not be opened or read).
    #[error("the store failed")]
    Store(#[source] Arc<StoreError>),
    /// A record could not be encoded for the store.
    #[error("cannot encode {kind} `{key}`")]
    Encode {
        kind: &'static str,
        key: String,
        #[source]
        source: Arc<serde_json::Error>,
    },
    /// The operation panicked (a bug); nothing of it was kept.
    #[error("the write operation failed unexpectedly; nothing was written")]
    Aborted,
    /// The writer has stopped (Fulcrum is shutting down).
    #[error("the state writer has stopped")]
    Closed,
}

impl StateError {
    /// The store refused the batch because its disk is full.
    pub(crate) fn is_disk_full(&self) -> bool {
        matches!(self, StateError::Store(s) if matches!(**s, StoreError::Full { .. }))
    }
}

impl From<StoreError> for StateError {
    fn from(e: StoreError) -> StateError {
        StateError::Store(Arc::new(e))
    }
}
