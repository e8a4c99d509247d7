//! [`World`]: one consistent, immutable view of every record, the one that
//! protocol handlers and the API read. It is a [`Table`] per registered
//! kind; cloning it is O(1), and a write changes only its own copy of the
//! tables it touches (copy on write), so readers keep their snapshot for
//! as long as they hold it.

use std::any::{Any, TypeId};
use std::sync::Arc;

use super::record::Record;
use super::schema::Schema;
use super::table::Table;
use crate::types::global_id::GlobalId;

/// A table of some kind, as the world holds it.
pub(super) trait AnyTable: Send + Sync {
    fn as_any(&self) -> &dyn Any;
    fn as_any_mut(&mut self) -> &mut dyn Any;
    fn cloned(&self) -> Arc<dyn AnyTable>;
    /// Adds a row read from the store.
    fn load(&mut self, bytes: &[u8]) -> Result<(), serde_json::Error>;
}

impl<R: Record> AnyTable for Table<R> {
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
    fn cloned(&self) -> Arc<dyn AnyTable> {
        Arc::new(self.clone())
    }
    fn load(&mut self, bytes: &[u8]) -> Result<(), serde_json::Error> {
        let rec: R = serde_json::from_slice(bytes)?;
        self.insert(Arc::new(rec));
        Ok(())
    }
}

/// One consistent view of all state. Cheap to clone.
#[derive(Clone)]
pub(crate) struct World {
    schema: Arc<Schema>,
    tables: Vec<Arc<dyn AnyTable>>,
    global_id: GlobalId,
    pub(super) version: u64,
}

impl World {
    pub(super) fn empty(schema: Arc<Schema>, global_id: GlobalId) -> World {
        let tables = schema.kinds.iter().map(|k| (k.empty)()).collect();
        World { schema, tables, global_id, version: 0 }
    }

    /// The cluster's RFC 4193 Global ID.
    pub(crate) fn global_id(&self) -> GlobalId {
        self.global_id
    }

    /// How many batches were committed before this snapshot (in this
    /// process); tells snapshots apart.
    pub(crate) fn version(&self) -> u64 {
        self.version
    }

    pub(super) fn schema(&self) -> &Arc<Schema> {
        &self.schema
    }

    fn slot<R: Record>(&self) -> usize {
        match self.schema.position(TypeId::of::<R>()) {
            Some(i) => i,
            // A kind used without its registration line: a programming
            // error that the first test touching the kind reveals.
            None => panic!("record kind `{}` is not registered in the schema", R::KIND),
        }
    }

    /// Whether `other` holds the very same table of `R` (nothing of that
    /// kind changed between the two snapshots).
    pub(crate) fn same_table<R: Record>(&self, other: &World) -> bool {
        let i = self.slot::<R>();
        Arc::ptr_eq(&self.tables[i], &other.tables[i])
    }

    /// Every record of kind `R`.
    pub(crate) fn table<R: Record>(&self) -> &Table<R> {
        let slot = self.slot::<R>();
        match self.tables[slot].as_any().downcast_ref::<Table<R>>() {
            Some(t) => t,
            None => unreachable!("slot {slot} holds the table of `{}`", R::KIND),
        }
    }

    /// The table of `R`, to change; cloned first if a snapshot shares it.
    pub(super) fn table_mut<R: Record>(&mut self) -> &mut Table<R> {
        let slot = self.slot::<R>();
        let entry = &mut self.tables[slot];
        if Arc::get_mut(entry).is_none() {
            *entry = entry.cloned();
        }
        match Arc::get_mut(entry).and_then(|t| t.as_any_mut().downcast_mut::<Table<R>>()) {
            Some(t) => t,
            None => unreachable!("slot {slot} holds an unshared table of `{}`", R::KIND),
        }
    }

    /// Loads one stored row into table number `slot`.
    pub(super) fn load(&mut self, slot: usize, bytes: &[u8]) -> Result<(), serde_json::Error> {
        let entry = &mut self.tables[slot];
        if Arc::get_mut(entry).is_none() {
            *entry = entry.cloned();
        }
        match Arc::get_mut(entry) {
            Some(t) => t.load(bytes),
            None => unreachable!("a just-cloned table is unshared"),
        }
    }
}
