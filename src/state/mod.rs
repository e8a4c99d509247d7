//! The state mechanism every domain shares, and nothing domain-specific:
//! it names no record kind.
//!
//! - [`record`]: the [`Record`] and [`Index`] traits a domain implements
//!   for each of its kinds;
//! - [`schema`]: the registry of kinds, delete cascades, the data's
//!   version and its migrations;
//! - [`table`], [`world`]: the in-memory read model, one persistent table
//!   per kind, published as an immutable snapshot ([`State::snapshot`]);
//! - [`txn`]: write transactions (typed put and delete over the world);
//! - [`writer`]: the single writer thread with group commit;
//! - [`store`]: the durable [`Store`](store::Store) interface, its redb
//!   backend, schema checks at open;
//! - [`feed`]: the change feed of public views.
//!
//! A [`State`] is a cheap-to-clone handle. A write is a closure over a
//! [`Txn`]: all its effects commit together or none do; it returns once
//! they are on disk and in the snapshot. Domains put their rules inside
//! such closures; the state module never calls a domain (other than the
//! cascades a domain registered for its own records).

pub(crate) mod error;
pub(crate) mod feed;
pub(crate) mod record;
pub(crate) mod schema;
pub(crate) mod store;
pub(crate) mod table;
pub(crate) mod txn;
pub(crate) mod world;
mod writer;

use std::path::Path;
use std::sync::mpsc::{self, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use arc_swap::ArcSwap;
use tokio::sync::{broadcast, oneshot};

pub(crate) use error::StateError;
pub(crate) use feed::Change;
pub(crate) use record::{record, Index, NoIndex, Record, StoreKey};
pub(crate) use schema::Schema;
pub(crate) use store::Store;
pub(crate) use table::Table;
pub(crate) use txn::Txn;
pub(crate) use world::World;

use store::redb::RedbStore;
use writer::{Msg, Writer};

/// Capacity of the change feed; a subscriber that falls further behind is
/// told it lagged.
const FEED_CAPACITY: usize = 16_384;

struct Inner {
    snapshot: Arc<ArcSwap<World>>,
    jobs: Sender<Msg>,
    feed: broadcast::Sender<Change>,
    /// The writer thread, until [`State::close`] joins it.
    writer: Mutex<Option<JoinHandle<()>>>,
    /// Who hears of each commit (the metrics), once set.
    observer: Arc<std::sync::OnceLock<writer::CommitObserver>>,
}

/// Handle to the state. Clone it freely.
#[derive(Clone)]
pub(crate) struct State {
    inner: Arc<Inner>,
}

impl State {
    /// Opens the redb store in `data_dir`, creating the store and the dir
    /// (not its parent) at a first start.
    pub(crate) fn open_dir(data_dir: &Path, schema: Schema) -> Result<State, StateError> {
        // The data dir itself is made at a first start; a missing parent
        // is a mistake to report, not a tree to create.
        if !data_dir.exists() && !data_dir.parent().is_some_and(|p| p.as_os_str().is_empty() || p.is_dir()) {
            return Err(store::StoreError::Missing { location: data_dir.to_path_buf() }.into());
        }
        std::fs::create_dir_all(data_dir)
            .map_err(|e| store::StoreError::Open { location: data_dir.to_path_buf(), source: Box::new(e) })?;
        let store = RedbStore::open(&data_dir.join(store::redb::FILE))?;
        State::open(Box::new(store), schema)
    }

    /// Checks and migrates `store` for `schema`, loads the world and starts
    /// the writer thread.
    pub(crate) fn open(store: Box<dyn Store>, schema: Schema) -> Result<State, StateError> {
        let world = store::load(&*store, Arc::new(schema))?;
        let snapshot = Arc::new(ArcSwap::from_pointee(world));
        let (feed, _) = broadcast::channel(FEED_CAPACITY);
        let (jobs, rx) = mpsc::channel::<Msg>();
        let observer = Arc::new(std::sync::OnceLock::new());
        let writer =
            Writer { store, snapshot: snapshot.clone(), feed: feed.clone(), seq: 0, observer: observer.clone() };
        let handle = std::thread::Builder::new()
            .name("state-writer".into())
            .spawn(move || writer.run(rx))
            .map_err(store::StoreError::backend)?;
        Ok(State { inner: Arc::new(Inner { snapshot, jobs, feed, writer: Mutex::new(Some(handle)), observer }) })
    }

    /// Has `observe` told of every durable commit from now on: how long
    /// the store took and how many writes the batch held. Set once; a
    /// second observer is ignored.
    pub(crate) fn observe_commits(&self, observe: impl Fn(std::time::Duration, usize) + Send + Sync + 'static) {
        let _ = self.inner.observer.set(Box::new(observe));
    }

    /// The current committed world. Hold it as long as you need a
    /// consistent view; it never changes under you.
    pub(crate) fn snapshot(&self) -> Arc<World> {
        self.inner.snapshot.load_full()
    }

    /// Subscribes to the change feed from now on.
    pub(crate) fn subscribe(&self) -> broadcast::Receiver<Change> {
        self.inner.feed.subscribe()
    }

    /// Runs `f` as one atomic write. Returns once its effects are on disk
    /// and visible in [`State::snapshot`]; on `Err` nothing it did remains.
    pub(crate) async fn write<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut Txn<'_>) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<StateError> + Send + 'static,
    {
        let (reply, rx) = oneshot::channel();
        let job = writer::Op { f: Some(f), result: None, reply };
        self.inner.jobs.send(Msg::Job(Box::new(job))).map_err(|_| E::from(StateError::Closed))?;
        rx.await.unwrap_or_else(|_| Err(E::from(StateError::Closed)))
    }

    /// Whether the writer thread is still taking writes.
    pub(crate) fn is_writing(&self) -> bool {
        self.inner.writer.lock().unwrap_or_else(|p| p.into_inner()).as_ref().is_some_and(|h| !h.is_finished())
    }

    /// Lets the writes queued so far commit, stops the writer thread and
    /// closes the store. Later writes fail with [`StateError::Closed`].
    pub(crate) async fn close(&self) {
        // If the writer is already gone there is nothing to stop.
        let _ = self.inner.jobs.send(Msg::Stop);
        let handle = self.inner.writer.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(handle) = handle {
            if !matches!(tokio::task::spawn_blocking(move || handle.join()).await, Ok(Ok(()))) {
                tracing::error!("the state writer thread panicked");
            }
        }
    }
}

#[cfg(test)]
mod tests;
