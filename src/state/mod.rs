//! The single source of truth. A [`State`] is a cheap-to-clone handle over:
//! - the durable [`store`] (redb), written only by the single [`writer`]
//!   thread, in batches (group commit), durably before anyone is answered;
//! - the in-memory [`World`] snapshot every protocol handler reads from
//!   (never a disk read per packet), replaced atomically after each commit;
//! - the change [`feed`] announcing every committed change.
//!
//! Writes are closures over a [`Txn`]: all their effects commit together or
//! not at all. Callers with hooks (the engine) run them inside that closure.
//! The state module never calls the engine.

pub mod feed;
pub mod lifecycle;
pub mod model;
pub mod orchestration;
mod store;
mod txn;
mod world;
mod writer;

use std::path::Path;
use std::sync::mpsc::{self, Sender};
use std::sync::Arc;

use arc_swap::ArcSwap;
use tokio::sync::{broadcast, oneshot};

pub use feed::{Change, Op};
pub use model::Kind;
pub use txn::Txn;
pub use world::World;

use store::Store;
use writer::{Job, Writer};

/// Everything that can go wrong with a state operation.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum StateError {
    /// The record does not exist.
    #[error("no {kind} named `{name}`")]
    NotFound { kind: Kind, name: String },
    /// The write would break uniqueness (name, MAC, address, range).
    #[error("{field}: {message}")]
    Conflict { field: String, message: String },
    /// A field's value is not acceptable.
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
    /// The disk said no; nothing was acknowledged.
    #[error("store: {0}")]
    Store(String),
    /// The writer thread is gone (shutting down).
    #[error("state writer has stopped")]
    Closed,
}

impl StateError {
    pub fn not_found(kind: Kind, name: &str) -> StateError {
        StateError::NotFound { kind, name: name.to_string() }
    }
    pub fn conflict(field: &str, message: impl Into<String>) -> StateError {
        StateError::Conflict { field: field.to_string(), message: message.into() }
    }
    pub fn invalid(field: &str, message: impl Into<String>) -> StateError {
        StateError::Invalid { field: field.to_string(), message: message.into() }
    }
    pub fn store(e: impl std::fmt::Display) -> StateError {
        StateError::Store(e.to_string())
    }
}

/// Capacity of the change feed; a subscriber that falls further behind is
/// told it lagged.
const FEED_CAPACITY: usize = 16_384;

/// Handle to the state. Clone it freely.
#[derive(Clone)]
pub struct State {
    snapshot: Arc<ArcSwap<World>>,
    jobs: Sender<Box<dyn Job>>,
    feed: broadcast::Sender<Change>,
}

impl State {
    /// Opens the store under `data_dir` (creating it), loads the world and
    /// starts the writer thread.
    pub fn open(data_dir: &Path) -> Result<State, StateError> {
        std::fs::create_dir_all(data_dir)
            .map_err(|e| StateError::store(format!("create {}: {e}", data_dir.display())))?;
        let store = Store::open(&data_dir.join("fulcrum.redb"))?;
        let world = store.load()?;
        let snapshot = Arc::new(ArcSwap::from_pointee(world));
        let (feed, _) = broadcast::channel(FEED_CAPACITY);
        let (jobs, rx) = mpsc::channel::<Box<dyn Job>>();
        let writer = Writer { store, snapshot: snapshot.clone(), feed: feed.clone(), seq: 0 };
        std::thread::Builder::new()
            .name("state-writer".into())
            .spawn(move || writer.run(rx))
            .map_err(|e| StateError::store(format!("spawn writer: {e}")))?;
        Ok(State { snapshot, jobs, feed })
    }

    /// The current committed world. Hold it as long as you need a
    /// consistent view; it never changes under you.
    pub fn snapshot(&self) -> Arc<World> {
        self.snapshot.load_full()
    }

    /// Subscribes to the change feed from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Change> {
        self.feed.subscribe()
    }

    /// Runs `f` as one atomic write. Returns once its effects are on disk
    /// and visible in [`State::snapshot`]; on `Err` nothing it did remains.
    pub async fn write<T, F>(&self, f: F) -> Result<T, StateError>
    where
        F: FnOnce(&mut Txn<'_>) -> Result<T, StateError> + Send + 'static,
        T: Send + 'static,
    {
        let (reply, rx) = oneshot::channel();
        let job = writer::Op { f: Some(f), result: None, reply };
        self.jobs.send(Box::new(job)).map_err(|_| StateError::Closed)?;
        rx.await.map_err(|_| StateError::Closed)?
    }
}

#[cfg(test)]
mod tests {
    use super::model::*;
    use super::*;
    use crate::net::mac::Mac;

    fn bootenv(name: &str) -> Bootenv {
        Bootenv {
            name: name.into(),
            description: String::new(),
            os: String::new(),
            kind: BootKind::Local,
            kernel: None,
            initrds: vec![],
            kernel_params: String::new(),
            ipxe: String::new(),
            templates: Default::default(),
        }
    }

    fn node(name: &str, mac: &str, ip: &str) -> Node {
        Node {
            name: name.into(),
            macs: vec![mac.parse().unwrap()],
            network: None,
            ipv4: Some(ip.parse().unwrap()),
            bootenv: "local".into(),
            alive: false,
            available: true,
            provision_state: Default::default(),
            power: None,
            token: String::new(),
            created_at: 0,
            updated_at: 0,
        }
    }

    #[tokio::test]
    async fn failed_write_leaves_no_trace_and_good_ones_persist() {
        let dir = tempfile::tempdir().unwrap();
        let state = State::open(dir.path()).unwrap();
        let mut feed = state.subscribe();
        state.write(|t| t.put_bootenv(bootenv("local"))).await.unwrap();
        state.write(|t| t.put_node(node("a.x", "52:54:00:00:00:01", "10.0.0.5"))).await.unwrap();
        // Second op creates a node then fails on a duplicate MAC: neither half stays.
        let err = state
            .write(|t| {
                t.put_node(node("b.x", "52:54:00:00:00:02", "10.0.0.6"))?;
                t.put_node(node("c.x", "52:54:00:00:00:01", "10.0.0.7"))
            })
            .await
            .unwrap_err();
        assert!(matches!(err, StateError::Conflict { ref field, .. } if field == "macs"), "{err}");
        let w = state.snapshot();
        assert!(w.node("b.x").is_none());
        assert_eq!(w.node_by_mac(&"52:54:00:00:00:01".parse::<Mac>().unwrap()).unwrap().name, "a.x");
        assert_eq!(feed.recv().await.unwrap().event_name(), "bootenv.created");
        assert_eq!(feed.recv().await.unwrap().event_name(), "node.created");
        assert!(feed.try_recv().is_err(), "the failed write announced something");
        let gid = w.global_id();
        drop(state);
        // Reopen (once the writer thread has let go of the file): the same
        // world, the same Global ID.
        let state = reopen(dir.path());
        let w = state.snapshot();
        assert_eq!(w.global_id(), gid);
        assert!(w.node("a.x").is_some());
        assert!(w.node("b.x").is_none());
    }

    fn reopen(dir: &Path) -> State {
        for _ in 0..200 {
            if let Ok(s) = State::open(dir) {
                return s;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        panic!("store did not reopen");
    }

    #[tokio::test]
    async fn concurrent_writes_are_batched_and_all_acknowledged() {
        let dir = tempfile::tempdir().unwrap();
        let state = State::open(dir.path()).unwrap();
        let mut tasks = Vec::new();
        for i in 0..200u32 {
            let s = state.clone();
            tasks.push(tokio::spawn(async move {
                let lease = Lease {
                    ip: std::net::Ipv4Addr::from(0x0a00_0000 + i),
                    mac: Mac([0x52, 0, 0, 0, (i >> 8) as u8, i as u8]),
                    network: "n".into(),
                    hostname: None,
                    expires_at: now() + 60,
                };
                s.write(move |t| t.put_lease(lease, now())).await
            }));
        }
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        assert_eq!(state.snapshot().leases().count(), 200);
        assert!(state.snapshot().version() <= 200);
    }
}
