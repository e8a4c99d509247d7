//! [`InventoryError`]: what the inventory's commands fail with.

use super::lifecycle::InvalidTransition;
use crate::state::StateError;
use crate::types::field::FieldError;

/// Why an inventory command was refused or failed; nothing was written.
#[derive(Debug, thiserror::Error)]
pub(crate) enum InventoryError {
    /// The record does not exist.
    #[error("no {kind} named `{name}`")]
    NotFound { kind: &'static str, name: String },
    /// The change would break uniqueness (name, MAC, address, subnet) or
    /// another record depends on what it removes.
    #[error(transparent)]
    Conflict(FieldError),
    /// A field's value is not acceptable.
    #[error(transparent)]
    Invalid(FieldError),
    /// The node's provisioning state does not allow the verb.
    #[error(transparent)]
    Transition(#[from] InvalidTransition),
    /// The state mechanism failed.
    #[error(transparent)]
    State(#[from] StateError),
}

impl InventoryError {
    pub(crate) fn not_found(kind: &'static str, name: &str) -> InventoryError {
        InventoryError::NotFound { kind, name: name.to_string() }
    }

    pub(crate) fn conflict(field: &str, message: impl Into<String>) -> InventoryError {
        InventoryError::Conflict(FieldError::new(field, message))
    }

    pub(crate) fn invalid(field: &str, message: impl Into<String>) -> InventoryError {
        InventoryError::Invalid(FieldError::new(field, message))
    }
}

impl From<FieldError> for InventoryError {
    /// A bad field found by a validation rule.
    fn from(e: FieldError) -> InventoryError {
        InventoryError::Invalid(e)
    }
}
