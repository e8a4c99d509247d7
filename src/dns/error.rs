//! [`DnsError`]: what the DNS room's commands (operator records) fail with.

use crate::state::StateError;
use crate::types::field::{FieldError, Refusal, Refuse};

/// Why a DNS command was refused or failed; nothing was written.
#[derive(Debug, thiserror::Error)]
pub(crate) enum DnsError {
    /// Not found, a conflict, or an invalid field.
    #[error(transparent)]
    Refused(#[from] Refusal),
    /// The state mechanism failed.
    #[error(transparent)]
    State(#[from] StateError),
}

impl Refuse for DnsError {}

impl From<FieldError> for DnsError {
    fn from(e: FieldError) -> DnsError {
        DnsError::Refused(Refusal::Invalid(e))
    }
}
