//! What the state mechanism needs to know about a record kind, and nothing
//! more: a name for its table and for the change feed, a primary key, and
//! the domain's secondary indexes, which the mechanism keeps in step with
//! every insert and removal. Each domain implements [`Record`] for its own
//! types; the state room names none of them.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use serde::de::DeserializeOwned;
use serde::Serialize;

/// A kind of record the store keeps.
pub(crate) trait Record: Serialize + DeserializeOwned + Clone + fmt::Debug + Send + Sync + 'static {
    /// The kind's name on the change feed and in errors (`node`).
    const KIND: &'static str;
    /// Its table in the store (`nodes`).
    const TABLE: &'static str;
    /// The primary key.
    type Key: StoreKey + Clone + Ord + fmt::Debug + Send + Sync + 'static;
    /// The domain's indexes over this kind ([`NoIndex`] when it needs none).
    type Index: Index<Self>;

    /// This record's key.
    fn key(&self) -> Self::Key;

    /// The key of its row in the store: by default its own key. A kind
    /// written at a high rate in no key order (DHCPv6 leases, whose
    /// addresses are hashed) names a key that grows with each write
    /// instead, so that a batch of new rows is appended to the store's
    /// last pages rather than each dirtying a page of its own (redb,
    /// 100,000 rows in commits of 512: 73 µs a row in random key order,
    /// 5.4 µs in rising order). It must be a function of the record alone:
    /// the row of the record a write replaces or deletes is found by it.
    fn row_key(&self) -> String {
        self.key().store_key()
    }

    /// Whether its changes are announced on the change feed (and the event
    /// stream). A kind rewritten often and whole, that no one needs to
    /// watch (boot traces), stays off it.
    const ON_FEED: bool = true;
}

/// A primary key as the store spells it: unique and stable across
/// versions; numbers are zero-padded so that keys sort by value.
pub(crate) trait StoreKey {
    /// The stored spelling.
    fn store_key(&self) -> String;
}

impl StoreKey for String {
    fn store_key(&self) -> String {
        self.clone()
    }
}

impl StoreKey for u64 {
    fn store_key(&self) -> String {
        format!("{self:020}")
    }
}

impl StoreKey for Ipv4Addr {
    fn store_key(&self) -> String {
        self.to_string()
    }
}

impl StoreKey for Ipv6Addr {
    /// Fully expanded, so that keys sort by address.
    fn store_key(&self) -> String {
        let s = self.segments();
        format!(
            "{:04x}:{:04x}:{:04x}:{:04x}:{:04x}:{:04x}:{:04x}:{:04x}",
            s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7]
        )
    }
}

/// Implements [`Record`] for a type: its kind and table names, which field
/// is its key, and its index.
///
/// `record!(Network, kind = "network", table = "networks", key = name: String, index = NetworkIndex);`
macro_rules! record {
    ($ty:ty, kind = $kind:literal, table = $table:literal, key = $field:ident: $key:ty, index = $index:ty) => {
        impl $crate::state::Record for $ty {
            const KIND: &'static str = $kind;
            const TABLE: &'static str = $table;
            type Key = $key;
            type Index = $index;
            fn key(&self) -> $key {
                <$key as Clone>::clone(&self.$field)
            }
        }
    };
}
pub(crate) use record;

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
