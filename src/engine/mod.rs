//! The engine: every write that has consequences beyond one record goes
//! through here (API -> engine -> state), so that the hooks and derived
//! changes it implies run inside the same transaction as the write.
//! This slice holds node registration, updates, bootenv changes and the
//! Ironic provisioning verbs; the noderole engine will live beside them.

pub mod nodes;

use std::sync::Arc;

use crate::config::Config;
use crate::state::State;

/// Cheap-to-clone handle to the engine.
#[derive(Clone)]
pub struct Engine {
    pub(crate) state: State,
    pub(crate) config: Arc<Config>,
}

impl Engine {
    pub fn new(state: State, config: Arc<Config>) -> Engine {
        Engine { state, config }
    }

    pub fn state(&self) -> &State {
        &self.state
    }

    pub fn config(&self) -> &Config {
        &self.config
    }
}
