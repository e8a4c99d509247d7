//! The inventory: what Fulcrum serves and boots. It owns three record
//! kinds and their rules:
//! - [`network`]: networks (subnets, ranges, domains, v6 prefixes);
//! - [`node`]: nodes (MACs, static addresses, bootenv, aliveness,
//!   provisioning state, power, token);
//! - [`bootenv`]: boot environments, shipped and operator-made;
//! - [`lifecycle`]: the node provisioning state machine (Ironic's);
//! - [`facts`]: each node's hardware report;
//! - [`trace`]: each node's boot trace (what it asked, what it got);
//! - [`readiness`]: whether a node may be given a bootenv (its files are
//!   there, the params it requires are set).
//!
//! Its operations run inside a [`Txn`](crate::state::Txn), so the engine
//! can combine them with hooks in one transaction; [`Inventory`] wraps the
//! ones that have no hooks (networks and bootenvs) as commands of their
//! own. Node writes go through the engine, which runs the role hooks they
//! trigger.

pub(crate) mod bootenv;
pub(crate) mod error;
pub(crate) mod facts;
pub(crate) mod lifecycle;
pub(crate) mod network;
pub(crate) mod node;
pub(crate) mod readiness;
pub(crate) mod trace;

use std::sync::Arc;

pub(crate) use error::InventoryError;

use crate::state::{Schema, State};
use bootenv::Bootenv;
use network::{Network, NetworkChange, NetworkSpec};
use node::Node;

/// Registers the inventory's record kinds.
pub(crate) fn register(schema: &mut Schema) {
    schema.register::<Network>().register::<Bootenv>().register::<Node>();
    facts::register(schema);
    trace::register(schema);
}

/// The inventory's commands that have no hooks.
#[derive(Clone)]
pub(crate) struct Inventory {
    state: State,
}

impl Inventory {
    pub(crate) fn new(state: State) -> Inventory {
        Inventory { state }
    }

    /// Creates a network.
    pub(crate) async fn create_network(&self, spec: NetworkSpec) -> Result<Arc<Network>, InventoryError> {
        self.state.write(move |txn| network::create(txn, spec)).await
    }

    /// Changes a network's settings.
    pub(crate) async fn update_network(
        &self,
        name: String,
        changes: Vec<NetworkChange>,
    ) -> Result<Arc<Network>, InventoryError> {
        self.state.write(move |txn| network::update(txn, &name, changes)).await
    }

    /// Deletes a network no node uses.
    pub(crate) async fn delete_network(&self, name: String) -> Result<Arc<Network>, InventoryError> {
        self.state.write(move |txn| network::delete(txn, &name)).await
    }

    /// Creates a bootenv.
    pub(crate) async fn create_bootenv(&self, env: Bootenv) -> Result<Arc<Bootenv>, InventoryError> {
        env.check()?;
        self.state.write(move |txn| bootenv::create(txn, env)).await
    }

    /// An imported ISO's bootenv: created when there is none of its name;
    /// an existing one keeps its command line and templates and boots the
    /// new kernel and initrds. Whether it was created.
    pub(crate) async fn import_bootenv(&self, env: Bootenv) -> Result<(Arc<Bootenv>, bool), InventoryError> {
        env.check()?;
        self.state.write(move |txn| bootenv::import(txn, env)).await
    }

    /// Adds the shipped bootenvs that are missing; returns how many.
    pub(crate) async fn seed_bootenvs(&self, envs: Vec<Bootenv>) -> Result<usize, InventoryError> {
        self.state.write(move |txn| bootenv::seed(txn, envs)).await
    }
}
