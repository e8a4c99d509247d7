//! [`EngineError`]: what the engine's commands fail with.

use super::model::InvalidNrTransition;
use crate::inventory::InventoryError;
use crate::state::StateError;
use crate::types::field::FieldError;

/// Why an engine command was refused or failed; nothing was written.
#[derive(Debug, thiserror::Error)]
pub(crate) enum EngineError {
    /// The record does not exist.
    #[error("no {kind} named `{name}`")]
    NotFound { kind: &'static str, name: String },
    /// The change collides with what exists (a name taken, a binding
    /// twice, a deployment not in the state the command needs).
    #[error(transparent)]
    Conflict(FieldError),
    /// A field's value is not acceptable.
    #[error(transparent)]
    Invalid(FieldError),
    /// The noderole state machine has no such transition.
    #[error(transparent)]
    Transition(#[from] InvalidNrTransition),
    /// A hook's template does not render.
    #[error("hook template `{template}`: {source}")]
    HookTemplate {
        template: String,
        #[source]
        source: minijinja::Error,
    },
    /// A machine presented a token that is not its node's.
    #[error("the node token does not match")]
    BadNodeToken,
    /// An inventory rule refused the change.
    #[error(transparent)]
    Inventory(#[from] InventoryError),
    /// The state mechanism failed.
    #[error(transparent)]
    State(#[from] StateError),
}

impl EngineError {
    pub(crate) fn not_found(kind: &'static str, name: impl ToString) -> EngineError {
        EngineError::NotFound { kind, name: name.to_string() }
    }

    pub(crate) fn conflict(field: &str, message: impl Into<String>) -> EngineError {
        EngineError::Conflict(FieldError::new(field, message))
    }

    pub(crate) fn invalid(field: &str, message: impl Into<String>) -> EngineError {
        EngineError::Invalid(FieldError::new(field, message))
    }
}

impl From<FieldError> for EngineError {
    /// A bad field found by a validation rule.
    fn from(e: FieldError) -> EngineError {
        EngineError::Invalid(e)
    }
}
