//! [`Table`]: every record of one kind, in key order, with the domain's
//! index over them. Persistent (`imbl`) maps make a clone O(1), so a write
//! transaction edits its own copy and readers keep theirs.

use std::borrow::Borrow;
use std::sync::Arc;

use imbl::OrdMap;

use super::record::{Index, Record};

/// The records of one kind and their index.
pub(crate) struct Table<R: Record> {
    rows: OrdMap<R::Key, Arc<R>>,
    index: R::Index,
}

impl<R: Record> Clone for Table<R> {
    fn clone(&self) -> Self {
        Table { rows: self.rows.clone(), index: self.index.clone() }
    }
}

impl<R: Record> Default for Table<R> {
    fn default() -> Self {
        Table { rows: OrdMap::new(), index: R::Index::default() }
    }
}

impl<R: Record> Table<R> {
    /// The record with this key.
    pub(crate) fn get<Q>(&self, key: &Q) -> Option<&Arc<R>>
    where
        R::Key: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        self.rows.get(key)
    }

    /// Whether a record has this key.
    pub(crate) fn contains<Q>(&self, key: &Q) -> bool
    where
        R::Key: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        self.rows.contains_key(key)
    }

    /// Every record, in key order.
    pub(crate) fn iter(&self) -> impl DoubleEndedIterator<Item = &Arc<R>> {
        self.rows.values()
    }

    /// How many records there are.
    pub(crate) fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether there are none.
    pub(crate) fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The domain's index.
    pub(crate) fn index(&self) -> &R::Index {
        &self.index
    }

    pub(super) fn index_mut(&mut self) -> &mut R::Index {
        &mut self.index
    }

    /// Stores `rec`, returning the record it replaced.
    pub(super) fn insert(&mut self, rec: Arc<R>) -> Option<Arc<R>> {
        let old = self.rows.insert(rec.key(), rec.clone());
        self.index.inserted(old.as_deref(), &rec);
        old
    }

    /// Removes the record with this key.
    pub(super) fn remove<Q>(&mut self, key: &Q) -> Option<Arc<R>>
    where
        R::Key: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        let old = self.rows.remove(key)?;
        self.index.removed(&old);
        Some(old)
    }
}
