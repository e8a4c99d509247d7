//! [`InventoryError`]: what the inventory's operations fail with.

use super::lifecycle::InvalidTransition;
use crate::state::StateError;
use crate::types::field::{FieldError, Refusal, Refuse};

/// Why an inventory operation was refused or failed; nothing was written.
#[derive(Debug, thiserror::Error)]
pub(crate) enum InventoryError {
    /// Not found, a conflict, or an invalid field.
    #[error(transparent)]
    Refused(#[from] Refusal),
    /// The node's provisioning state does not allow the verb.
    #[error(transparent)]
    Transition(#[from] InvalidTransition),
    /// The state mechanism failed.
    #[error(transparent)]
    State(#[from] StateError),
}

impl Refuse for InventoryError {}

impl From<FieldError> for InventoryError {
    /// A bad field found by a validation rule.
    fn from(e: FieldError) -> InventoryError {
        InventoryError::Refused(Refusal::Invalid(e))
    }
}
