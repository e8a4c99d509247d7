//! [`Schema`]: the record kinds the store holds, registered by the domains
//! that own them at start-up (one line per kind), what happens to
//! dependent records when a record is deleted or its key changes
//! (registered by the domain that depends on it, so references point one
//! way), the records other domains derive from a batch's changes in the
//! same commit (zone serials), the version of the data's format, and the
//! migrations from older versions.

use std::any::{Any, TypeId};
use std::sync::Arc;

use super::error::StateError;
use super::feed::Change;
use super::record::Record;
use super::store::{Batch, Store, StoreError};
use super::table::Table;
use super::txn::Txn;
use super::world::{AnyTable, World};

/// A registered record kind.
pub(super) struct KindInfo {
    pub(super) type_id: TypeId,
    pub(super) table: &'static str,
    pub(super) empty: fn() -> Arc<dyn AnyTable>,
}

/// Runs inside the transaction that deleted a record of another kind.
type Cascade = Arc<dyn Fn(&mut Txn<'_>, &dyn Any) -> Result<(), StateError> + Send + Sync>;

/// Runs inside the transaction that changed the key of a record of another
/// kind, with the record before and after.
type Rekey = Arc<dyn Fn(&mut Txn<'_>, &dyn Any, &dyn Any) -> Result<(), StateError> + Send + Sync>;

/// Runs once per batch, after its operations and before its commit, with
/// the world before the batch and the batch's changes: records derived from
/// other kinds' changes (a zone's serial) commit with them or not at all.
pub(crate) type Derive = fn(&World, &mut Txn<'_>, &[Change]) -> Result<(), StateError>;

/// Rewrites the rows of one schema version into the next; its batch is
/// committed together with the new version number.
pub(crate) type MigrationFn = fn(&dyn Store) -> Result<Batch, StoreError>;

/// The data's format: its kinds, cascades, version and migrations.
pub(crate) struct Schema {
    version: u32,
    pub(super) kinds: Vec<KindInfo>,
    cascades: Vec<(TypeId, Cascade)>,
    rekeys: Vec<(TypeId, Rekey)>,
    derives: Vec<Derive>,
    migrations: Vec<(u32, MigrationFn)>,
}

fn empty_table<R: Record>() -> Arc<dyn AnyTable> {
    Arc::new(Table::<R>::default())
}

impl Schema {
    /// An empty schema whose data format is `version`.
    pub(crate) fn new(version: u32) -> Schema {
        Schema {
            version,
            kinds: Vec::new(),
            cascades: Vec::new(),
            rekeys: Vec::new(),
            derives: Vec::new(),
            migrations: Vec::new(),
        }
    }

    /// The version this build writes.
    pub(crate) fn version(&self) -> u32 {
        self.version
    }

    /// Registers a record kind. Registering one twice, or two kinds on one
    /// table, is a programming error caught at start-up.
    pub(crate) fn register<R: Record>(&mut self) -> &mut Schema {
        let id = TypeId::of::<R>();
        assert!(
            !self.kinds.iter().any(|k| k.type_id == id || k.table == R::TABLE),
            "record kind `{}` (table `{}`) is registered twice",
            R::KIND,
            R::TABLE
        );
        self.kinds.push(KindInfo { type_id: id, table: R::TABLE, empty: empty_table::<R> });
        self
    }

    /// When a `P` is deleted, `f` runs in the same transaction (to delete
    /// or fix the records that refer to it).
    pub(crate) fn on_delete<P: Record>(&mut self, f: fn(&mut Txn<'_>, &P) -> Result<(), StateError>) -> &mut Schema {
        let cascade: Cascade = Arc::new(move |txn: &mut Txn<'_>, old: &dyn Any| match old.downcast_ref::<P>() {
            Some(p) => f(txn, p),
            None => Ok(()),
        });
        self.cascades.push((TypeId::of::<P>(), cascade));
        self
    }

    /// When a `P`'s key changes ([`Txn::rekey`]: a node renamed), `f` runs
    /// in the same transaction with the record before and after (to point
    /// the records that refer to it at the new key).
    pub(crate) fn on_rekey<P: Record>(&mut self, f: fn(&mut Txn<'_>, &P, &P) -> Result<(), StateError>) -> &mut Schema {
        let rekey: Rekey = Arc::new(move |txn: &mut Txn<'_>, old: &dyn Any, new: &dyn Any| {
            match (old.downcast_ref::<P>(), new.downcast_ref::<P>()) {
                (Some(o), Some(n)) => f(txn, o, n),
                _ => Ok(()),
            }
        });
        self.rekeys.push((TypeId::of::<P>(), rekey));
        self
    }

    /// After every batch that changed anything, `f` runs in the batch's
    /// transaction (see [`Derive`]). A failing derive is logged and leaves
    /// nothing; the batch's own operations still commit.
    pub(crate) fn on_commit(&mut self, f: Derive) -> &mut Schema {
        self.derives.push(f);
        self
    }

    pub(super) fn derives(&self) -> &[Derive] {
        &self.derives
    }

    /// How to bring data of version `from` to `from + 1`.
    pub(crate) fn migration(&mut self, from: u32, f: MigrationFn) -> &mut Schema {
        self.migrations.push((from, f));
        self
    }

    pub(super) fn migration_from(&self, from: u32) -> Option<MigrationFn> {
        self.migrations.iter().find(|(v, _)| *v == from).map(|(_, f)| *f)
    }

    pub(super) fn position(&self, id: TypeId) -> Option<usize> {
        self.kinds.iter().position(|k| k.type_id == id)
    }

    pub(super) fn cascades_of(&self, id: TypeId) -> Vec<Cascade> {
        self.cascades.iter().filter(|(t, _)| *t == id).map(|(_, c)| c.clone()).collect()
    }

    pub(super) fn rekeys_of(&self, id: TypeId) -> Vec<Rekey> {
        self.rekeys.iter().filter(|(t, _)| *t == id).map(|(_, c)| c.clone()).collect()
    }
}

/// The migration to a version that keeps the rows of `R` under their
/// [`Record::row_key`] rather than their key: each row whose stored key
/// is not its row key is moved there, its value unchanged.
pub(crate) fn rows_rekeyed<R: Record>(store: &dyn Store) -> Result<Batch, StoreError> {
    let mut batch = Batch::default();
    store.scan(R::TABLE, &mut |key, value| {
        let rec: R = serde_json::from_slice(value).map_err(|source| StoreError::Corrupt {
            table: R::TABLE.into(),
            key: key.into(),
            source,
        })?;
        let row = rec.row_key();
        if row != key {
            batch.delete(R::TABLE, key.to_string());
            // It decoded as JSON, so it is UTF-8.
            batch.put(R::TABLE, row, Arc::from(String::from_utf8_lossy(value)));
        }
        Ok(())
    })?;
    Ok(batch)
}

/// The migration of a version whose rows the next version reads as they
/// are (only the version number changes).
pub(crate) fn unchanged(_: &dyn Store) -> Result<Batch, StoreError> {
    Ok(Batch::default())
}
