//! What the state mechanism needs to know about a record kind, and nothing
//! more: a name for its table and for the change feed, a primary key, and
//! the domain's secondary indexes, which the mechanism keeps in step with
//! every insert and removal. Each domain implements [`Record`] for its own
//! types; the state room names none of them.

use std::fmt;

use serde::de::DeserializeOwned;
use serde::Serialize;

/// A kind of record the store keeps.
pub(crate) trait Record: Serialize + DeserializeOwned + Clone + fmt::Debug + Send + Sync + 'static {
    /// The kind's name on the change feed and in errors (`node`).
    const KIND: &'static str;
    /// Its table in the store (`nodes`).
    const TABLE: &'static str;
    /// The primary key.
    type Key: Clone + Ord + fmt::Debug + Send + Sync + 'static;
    /// The domain's indexes over this kind ([`NoIndex`] when it needs none).
    type Index: Index<Self>;

    /// This record's key.
    fn key(&self) -> Self::Key;

    /// The key as the store keeps it: unique and stable across versions.
    fn store_key(key: &Self::Key) -> String;
}

/// Secondary indexes over one record kind (node by MAC, noderoles by
/// node...). Built from persistent maps so that cloning is O(1); told of
/// every change to the table, with the record it replaced.
pub(crate) trait Index<R>: Clone + Default + Send + Sync + 'static {
    /// `new` was stored, replacing `old`.
    fn inserted(&mut self, old: Option<&R>, new: &R);
    /// `old` was removed.
    fn removed(&mut self, old: &R);
}

/// The index of a kind that needs none.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct NoIndex;

impl<R> Index<R> for NoIndex {
    fn inserted(&mut self, _: Option<&R>, _: &R) {}
    fn removed(&mut self, _: &R) {}
}
