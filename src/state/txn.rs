//! [`Txn`]: a write transaction over a private copy of the [`World`]. Its
//! operations are generic: put a record, delete one (running the cascades
//! registered for its kind), and reach a kind's in-memory index for
//! bookkeeping that is not persisted. The domains build their typed
//! operations and invariants on top. Nothing a `Txn` does is visible to
//! anyone until the writer has committed it.

use std::any::TypeId;
use std::borrow::Borrow;
use std::sync::Arc;

use super::error::StateError;
use super::feed::{Change, Op};
use super::record::{Record, StoreKey};
use super::store::Batch;
use super::world::World;
use crate::types::secret;

/// What one or more operations will persist and announce.
#[derive(Default)]
pub(super) struct Pending {
    pub(super) batch: Batch,
    pub(super) changes: Vec<Change>,
}

impl Pending {
    pub(super) fn absorb(&mut self, other: Pending) {
        self.batch.absorb(other.batch);
        self.changes.extend(other.changes);
    }
}

/// A write transaction, handed to the closure given to
/// [`State::write`](super::State::write).
pub(crate) struct Txn<'a> {
    pub(super) world: &'a mut World,
    /// The world as it was when this transaction began.
    pub(super) before: &'a World,
    pub(super) pending: &'a mut Pending,
}

fn encode_error<R: Record>(key: &str, e: serde_json::Error) -> StateError {
    StateError::Encode { kind: R::KIND, key: key.to_string(), source: Arc::new(e) }
}

impl Txn<'_> {
    /// The world as this transaction has changed it so far.
    pub(crate) fn world(&self) -> &World {
        self.world
    }

    /// The world as it was when this transaction began: a domain checks
    /// what changed against it (a node's bootenv before and after).
    pub(crate) fn before(&self) -> &World {
        self.before
    }

    /// The keys (as stored) of the records of `R` this transaction has put
    /// or deleted so far, in order, repeats included. Only kinds on the
    /// change feed are tracked ([`Record::ON_FEED`]); others yield nothing.
    pub(crate) fn touched<R: Record>(&self) -> impl Iterator<Item = &str> {
        self.pending.changes.iter().filter(|c| c.kind == R::KIND).map(|c| c.key.as_str())
    }

    /// Creates or replaces a record.
    pub(crate) fn put<R: Record>(&mut self, rec: R) -> Result<Arc<R>, StateError> {
        let key = rec.key().store_key();
        let (stored, had_secret) = secret::for_storage(|| serde_json::to_string(&rec));
        let stored: Arc<str> = stored.map_err(|e| encode_error::<R>(&key, e))?.into();
        // The feed carries the public view: the same JSON unless a secret
        // was written, then the record again with its secrets redacted.
        let public: Arc<str> = if had_secret {
            serde_json::to_string(&rec).map_err(|e| encode_error::<R>(&key, e))?.into()
        } else {
            stored.clone()
        };
        let row = rec.row_key();
        let rec = Arc::new(rec);
        let op = match self.world.table_mut::<R>().insert(rec.clone()) {
            Some(old) => {
                // A row keyed by more than the key moves when it is rewritten.
                let old_row = old.row_key();
                if old_row != row {
                    self.pending.batch.delete(R::TABLE, old_row);
                }
                Op::Updated
            }
            None => Op::Created,
        };
        if R::ON_FEED {
            self.pending.changes.push(Change::new(R::KIND, key, op, Some(public)));
        }
        self.pending.batch.put(R::TABLE, row, stored);
        Ok(rec)
    }

    /// Deletes a record, then runs the cascades registered for its kind.
    /// `None` if there was no such record.
    pub(crate) fn delete<R: Record, Q>(&mut self, key: &Q) -> Result<Option<Arc<R>>, StateError>
    where
        R::Key: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        let Some(old) = self.take::<R, Q>(key) else { return Ok(None) };
        let schema = self.world.schema().clone();
        for cascade in schema.cascades_of(TypeId::of::<R>()) {
            cascade(self, &*old)?;
        }
        Ok(Some(old))
    }

    /// Replaces the record at `old_key` with `new`, whose key differs (a
    /// rename), and runs the rekey hooks registered for its kind instead of
    /// the delete cascades: what refers to the old key is moved, not lost.
    /// The caller has checked that nothing holds `new`'s key. `None` if
    /// there was no record at `old_key` (nothing is changed).
    pub(crate) fn rekey<R: Record, Q>(&mut self, old_key: &Q, new: R) -> Result<Option<Arc<R>>, StateError>
    where
        R::Key: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        let Some(old) = self.take::<R, Q>(old_key) else { return Ok(None) };
        let new = self.put(new)?;
        let schema = self.world.schema().clone();
        for rekey in schema.rekeys_of(TypeId::of::<R>()) {
            rekey(self, &*old, &*new)?;
        }
        Ok(Some(new))
    }

    /// Removes a record and records its deletion, running nothing else.
    fn take<R: Record, Q>(&mut self, key: &Q) -> Option<Arc<R>>
    where
        R::Key: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        // Looked up first so that removing nothing does not copy the table.
        if !self.world.table::<R>().contains(key) {
            return None;
        }
        let old = self.world.table_mut::<R>().remove(key)?;
        if R::ON_FEED {
            self.pending.changes.push(Change::new(R::KIND, old.key().store_key(), Op::Deleted, None));
        }
        self.pending.batch.delete(R::TABLE, old.row_key());
        Some(old)
    }

    /// The in-memory index of `R`, for bookkeeping that is part of the
    /// transaction but not persisted (allocation cursors).
    pub(crate) fn index_mut<R: Record>(&mut self) -> &mut R::Index {
        self.world.table_mut::<R>().index_mut()
    }
}
