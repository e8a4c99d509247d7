//! [`EngineError`]: what the engine's commands fail with.

use super::model::InvalidNrTransition;
use crate::inventory::InventoryError;
use crate::state::StateError;
use crate::types::field::{FieldError, Refusal, Refuse};

/// Why an engine command was refused or failed; nothing was written.
#[derive(Debug, thiserror::Error)]
pub(crate) enum EngineError {
    /// Not found, a conflict (a name taken, a binding twice, a deployment
    /// not in the state the command needs), or an invalid field.
    #[error(transparent)]
    Refused(#[from] Refusal),
    /// The noderole state machine has no such transition.
    #[error(transparent)]
    Transition(#[from] InvalidNrTransition),
    /// A hook's template does not render.
    #[error("hook template `{template}` does not render")]
    HookTemplate {
        template: String,
        #[source]
        source: minijinja::Error,
    },
    /// A registered machine's discovery asked from another address.
    #[error("node `{node}` is registered with this MAC: only the machine itself, from its address, may ask again")]
    NotFromNode { node: String },
    /// A dangerous feature the config has not turned on.
    #[error("{what} is off: set `{setting} = true` in the config (and use an admin token)")]
    Disabled { what: &'static str, setting: &'static str },
    /// An inventory rule refused the change.
    #[error(transparent)]
    Inventory(#[from] InventoryError),
    /// The state mechanism failed.
    #[error(transparent)]
    State(#[from] StateError),
    /// The node's power driver cannot do this at all (ssh cannot switch
    /// a machine on).
    #[error("the power driver of node `{node}` cannot do `{action}`")]
    PowerUnsupported { node: String, action: &'static str },
    /// The node's power driver could not do what was asked (its BMC
    /// refused or did not answer).
    #[error("the power driver of node `{node}` failed")]
    Power {
        node: String,
        #[source]
        source: crate::power::PowerError,
    },
}

impl Refuse for EngineError {}

impl From<FieldError> for EngineError {
    /// A bad field found by a validation rule.
    fn from(e: FieldError) -> EngineError {
        EngineError::Refused(Refusal::Invalid(e))
    }
}
