//! The durable store: redb tables of JSON records, one table per
//! [`Kind`]. Only the state module's writer touches it: at start-up to load
//! the world, then once per committed batch.

use std::path::Path;
use std::sync::Arc;

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};

use serde::de::DeserializeOwned;

use super::model::{Bootenv, Kind, Lease, Network, Node};
use super::orchestration::{Deployment, NodeRole, Role, Run};
use super::world::World;
use super::StateError;
use crate::net::ula::GlobalId;

/// One change to persist: the record's new JSON, or `None` to delete it.
pub type Put = Option<Arc<str>>;

fn table(kind: Kind) -> TableDefinition<'static, &'static str, &'static [u8]> {
    TableDefinition::new(kind.table())
}

const GLOBAL_ID_KEY: &str = "global_id";

/// redb page cache.
const CACHE_BYTES: usize = 32 << 20;

/// The redb database behind the state.
pub struct Store {
    db: Database,
}

impl Store {
    /// Opens (or creates) the database file and makes sure every table exists.
    pub fn open(path: &Path) -> Result<Store, StateError> {
        // Reads are served from the in-memory world, so redb's page cache
        // only needs to help writes; its 1 GiB default would be memory spent
        // twice.
        let db = redb::Builder::new()
            .set_cache_size(CACHE_BYTES)
            .create(path)
            .map_err(|e| StateError::store(format!("open {}: {e}", path.display())))?;
        let tx = db.begin_write().map_err(StateError::store)?;
        for kind in Kind::ALL {
            tx.open_table(table(kind)).map_err(StateError::store)?;
        }
        tx.commit().map_err(StateError::store)?;
        Ok(Store { db })
    }

    /// Reads every record into a fresh [`World`]. Generates and persists the
    /// cluster's Global ID on first start.
    pub fn load(&self) -> Result<World, StateError> {
        let gid = self.global_id()?;
        let mut world = World::empty(gid);
        let tx = self.db.begin_read().map_err(StateError::store)?;
        for kind in Kind::ALL {
            let t = tx.open_table(table(kind)).map_err(StateError::store)?;
            for row in t.iter().map_err(StateError::store)? {
                let (k, v) = row.map_err(StateError::store)?;
                let (key, bytes) = (k.value(), v.value());
                match kind {
                    Kind::Meta => {}
                    Kind::Network => world.insert_network(Arc::new(decode::<Network>(kind, key, bytes)?)),
                    Kind::Bootenv => world.insert_bootenv(Arc::new(decode::<Bootenv>(kind, key, bytes)?)),
                    Kind::Node => world.insert_node(Arc::new(decode::<Node>(kind, key, bytes)?)),
                    Kind::Lease => world.insert_lease(Arc::new(decode::<Lease>(kind, key, bytes)?)),
                    Kind::Role => world.insert_role(Arc::new(decode::<Role>(kind, key, bytes)?)),
                    Kind::Deployment => world.insert_deployment(Arc::new(decode::<Deployment>(kind, key, bytes)?)),
                    Kind::NodeRole => world.insert_noderole(Arc::new(decode::<NodeRole>(kind, key, bytes)?)),
                    Kind::Run => world.insert_run(Arc::new(decode::<Run>(kind, key, bytes)?)),
                }
            }
        }
        Ok(world)
    }

    fn global_id(&self) -> Result<GlobalId, StateError> {
        let tx = self.db.begin_write().map_err(StateError::store)?;
        let gid = {
            let mut t = tx.open_table(table(Kind::Meta)).map_err(StateError::store)?;
            let existing = t
                .get(GLOBAL_ID_KEY)
                .map_err(StateError::store)?
                .map(|v| decode::<u64>(Kind::Meta, GLOBAL_ID_KEY, v.value()));
            match existing {
                Some(v) => GlobalId::from_u64(v?),
                None => {
                    let gid = GlobalId::random();
                    let bytes = serde_json::to_vec(&gid.value()).map_err(StateError::store)?;
                    t.insert(GLOBAL_ID_KEY, bytes.as_slice()).map_err(StateError::store)?;
                    gid
                }
            }
        };
        tx.commit().map_err(StateError::store)?;
        Ok(gid)
    }

    /// Writes one batch of changes in a single durable transaction: on disk
    /// when this returns `Ok`.
    pub fn commit<'a>(&self, changes: impl Iterator<Item = (&'a (Kind, String), &'a Put)>) -> Result<(), StateError> {
        let tx = self.db.begin_write().map_err(StateError::store)?;
        {
            let mut tables: Vec<(Kind, redb::Table<&str, &[u8]>)> = Vec::new();
            for ((kind, key), put) in changes {
                let idx = match tables.iter().position(|(k, _)| k == kind) {
                    Some(i) => i,
                    None => {
                        tables.push((*kind, tx.open_table(table(*kind)).map_err(StateError::store)?));
                        tables.len() - 1
                    }
                };
                let t = &mut tables[idx].1;
                match put {
                    Some(json) => {
                        t.insert(key.as_str(), json.as_bytes()).map_err(StateError::store)?;
                    }
                    None => {
                        t.remove(key.as_str()).map_err(StateError::store)?;
                    }
                }
            }
        }
        tx.commit().map_err(StateError::store)
    }
}

fn decode<T: DeserializeOwned>(kind: Kind, key: &str, bytes: &[u8]) -> Result<T, StateError> {
    serde_json::from_slice(bytes).map_err(|e| StateError::store(format!("corrupt {kind} record `{key}`: {e}")))
}
