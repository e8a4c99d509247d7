//! The durable store behind the state: the [`Store`] interface every
//! backend implements, the [`Batch`] it commits, and opening a store for a
//! [`Schema`]: the schema version kept with the data is checked (data
//! written by a newer Fulcrum is refused; older data is migrated, one
//! version at a time, each step committed with its new version number),
//! the cluster's Global ID is created once, and every registered table is
//! loaded into a [`World`].
//!
//! Backends: [`redb`] (embedded, the default). The backend conformance
//! suite (`conformance`, in the tests) is what any other backend
//! (PostgreSQL next) must pass unchanged.

pub(crate) mod redb;

#[cfg(test)]
mod conformance;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use super::schema::Schema;
use super::world::World;
use crate::types::global_id::GlobalId;

/// The store's own table: Global ID and schema version.
pub(crate) const META: &str = "meta";
const GLOBAL_ID: &str = "global_id";
const SCHEMA_VERSION: &str = "schema_version";
/// The version of data written before the version was stored.
const UNVERSIONED: u32 = 1;

/// What a store backend can fail with. Every variant keeps its cause.
#[derive(Debug, thiserror::Error)]
pub(crate) enum StoreError {
    /// The store cannot be opened or created.
    #[error("cannot open {location}")]
    Open {
        location: PathBuf,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The backend failed a read or a commit.
    #[error(transparent)]
    Backend(Box<dyn std::error::Error + Send + Sync>),
    /// The disk under the store has no room: nothing of the batch was
    /// written; writes succeed again once there is room.
    #[error("{location}: the disk is full")]
    Full {
        location: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The data dir is not there, nor its parent (a volume not mounted, a
    /// typo): it is not created.
    #[error("{location} does not exist, nor does its parent: create it, or mount the volume it lives on")]
    Missing { location: PathBuf },
    /// A stored row does not decode.
    #[error("corrupt {table} record `{key}`")]
    Corrupt {
        table: String,
        key: String,
        #[source]
        source: serde_json::Error,
    },
    /// The data was written by a newer Fulcrum.
    #[error(
        "the data was written by a newer Fulcrum (schema version {found}; this one reads up to {supported}): \
         upgrade Fulcrum, or point data_dir at another directory"
    )]
    NewerSchema { found: u32, supported: u32 },
    /// Older data that no migration of this build can bring up to date.
    #[error("no migration from schema version {from} (this Fulcrum writes version {to})")]
    NoMigration { from: u32, to: u32 },
}

impl StoreError {
    /// A backend failure.
    pub(crate) fn backend(e: impl std::error::Error + Send + Sync + 'static) -> StoreError {
        StoreError::Backend(Box::new(e))
    }
}

/// Rows to write in one atomic, durable commit: per table and key, the new
/// JSON or `None` to delete. A later change to the same row wins.
#[derive(Debug, Default, Clone)]
pub(crate) struct Batch {
    rows: BTreeMap<(&'static str, String), Option<Arc<str>>>,
}

impl Batch {
    /// Writes `value` at `key` of `table`.
    pub(crate) fn put(&mut self, table: &'static str, key: String, value: Arc<str>) {
        self.rows.insert((table, key), Some(value));
    }

    /// Deletes `key` of `table`.
    pub(crate) fn delete(&mut self, table: &'static str, key: String) {
        self.rows.insert((table, key), None);
    }

    /// Adds `other`'s rows (later rows win).
    pub(crate) fn absorb(&mut self, other: Batch) {
        self.rows.extend(other.rows);
    }

    /// Whether nothing is to be written.
    pub(crate) fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Every row: table, key, new value (`None`: delete).
    pub(crate) fn rows(&self) -> impl Iterator<Item = (&'static str, &str, Option<&str>)> {
        self.rows.iter().map(|((t, k), v)| (*t, k.as_str(), v.as_deref()))
    }
}

/// What [`Store::scan`] calls for each row: key and value.
pub(crate) type RowFn<'a> = dyn FnMut(&str, &[u8]) -> Result<(), StoreError> + 'a;

/// A store backend.
pub(crate) trait Store: Send + 'static {
    /// Calls `row` with the key and value of every row of `table`, in key
    /// order; a table never written is empty.
    fn scan(&self, table: &str, row: &mut RowFn<'_>) -> Result<(), StoreError>;

    /// One row's value.
    fn get(&self, table: &str, key: &str) -> Result<Option<Vec<u8>>, StoreError>;

    /// Writes the whole batch or nothing; on disk when this returns `Ok`.
    fn commit(&self, batch: &Batch) -> Result<(), StoreError>;
}

fn meta_u64(store: &dyn Store, key: &str) -> Result<Option<u64>, StoreError> {
    match store.get(META, key)? {
        None => Ok(None),
        Some(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|source| StoreError::Corrupt {
            table: META.into(),
            key: key.into(),
            source,
        }),
    }
}

fn json(v: u64) -> Arc<str> {
    Arc::from(v.to_string())
}

/// Brings the store to `schema`'s version and returns its Global ID.
fn prepare(store: &dyn Store, schema: &Schema) -> Result<GlobalId, StoreError> {
    let want = schema.version();
    let gid = meta_u64(store, GLOBAL_ID)?;
    let stored = meta_u64(store, SCHEMA_VERSION)?;
    let Some(gid) = gid else {
        // A new store: stamp identity and version in one commit.
        let gid = GlobalId::random();
        let mut b = Batch::default();
        b.put(META, GLOBAL_ID.into(), json(gid.value()));
        b.put(META, SCHEMA_VERSION.into(), json(want.into()));
        store.commit(&b)?;
        return Ok(gid);
    };
    let mut version = match stored {
        Some(v) => u32::try_from(v).unwrap_or(u32::MAX),
        None => UNVERSIONED,
    };
    if version > want {
        return Err(StoreError::NewerSchema { found: version, supported: want });
    }
    while version < want {
        let step = schema.migration_from(version).ok_or(StoreError::NoMigration { from: version, to: want })?;
        let mut b = step(store)?;
        version += 1;
        b.put(META, SCHEMA_VERSION.into(), json(version.into()));
        store.commit(&b)?;
        tracing::info!(version, "store migrated");
    }
    Ok(GlobalId::from_u64(gid))
}

/// Checks and migrates the store, then reads every registered table.
pub(super) fn load(store: &dyn Store, schema: Arc<Schema>) -> Result<World, StoreError> {
    let gid = prepare(store, &schema)?;
    let mut world = World::empty(schema.clone(), gid);
    for (slot, kind) in schema.kinds.iter().enumerate() {
        store.scan(kind.table, &mut |key, bytes| {
            world.load(slot, bytes).map_err(|source| StoreError::Corrupt {
                table: kind.table.into(),
                key: key.into(),
                source,
            })
        })?;
    }
    Ok(world)
}
