//! The single writer: one thread that owns the store. It takes queued
//! operations in batches, runs each against a private copy of the world (a
//! failed operation leaves no trace), commits the whole batch to the store
//! in one durable transaction (group commit), and only then publishes the
//! new snapshot, answers the callers and announces the changes. It stops
//! when told to, after the operations queued before the stop.

use std::panic::AssertUnwindSafe;
use std::sync::mpsc::{Receiver, TryRecvError};
use std::sync::Arc;

use arc_swap::ArcSwap;
use tokio::sync::{broadcast, oneshot};

use super::error::StateError;
use super::feed::Change;
use super::store::Store;
use super::txn::{Pending, Txn};
use super::world::World;

/// Most operations folded into one commit.
const MAX_BATCH: usize = 512;

/// What the writer is sent.
pub(super) enum Msg {
    /// An operation to run.
    Job(Box<dyn Job>),
    /// Finish what was queued before this, then stop.
    Stop,
}

/// An operation waiting for the writer.
pub(super) trait Job: Send {
    /// Runs against `world`; `true` if it succeeded and its effects stay.
    fn apply(&mut self, world: &mut World, pending: &mut Pending) -> bool;
    /// Delivers the outcome once the batch's fate is known.
    fn finish(self: Box<Self>, commit: Result<(), StateError>);
}

/// A typed operation and the channel its caller waits on.
pub(super) struct Op<F, T, E> {
    pub(super) f: Option<F>,
    pub(super) result: Option<Result<T, E>>,
    pub(super) reply: oneshot::Sender<Result<T, E>>,
}

impl<F, T, E> Job for Op<F, T, E>
where
    F: FnOnce(&mut Txn<'_>) -> Result<T, E> + Send,
    T: Send,
    E: From<StateError> + Send,
{
    fn apply(&mut self, world: &mut World, pending: &mut Pending) -> bool {
        let Some(f) = self.f.take() else { return false };
        let mut scratch = world.clone();
        let mut mine = Pending::default();
        // A panicking operation (a bug) fails alone: its scratch copy is
        // dropped like any failed operation's, and the writer goes on.
        let res = std::panic::catch_unwind(AssertUnwindSafe(|| {
            f(&mut Txn { world: &mut scratch, before: world, pending: &mut mine })
        }))
        .unwrap_or_else(|_| {
            tracing::error!("a write operation panicked; it was discarded");
            Err(E::from(StateError::Aborted))
        });
        let ok = res.is_ok();
        if ok {
            *world = scratch;
            pending.absorb(mine);
        }
        self.result = Some(res);
        ok
    }

    fn finish(self: Box<Self>, commit: Result<(), StateError>) {
        let out = match (self.result, commit) {
            (Some(Ok(v)), Ok(())) => Ok(v),
            (Some(Ok(_)), Err(e)) => Err(E::from(e)),
            (Some(Err(e)), _) => Err(e),
            (None, _) => Err(E::from(StateError::Closed)),
        };
        // The caller may have stopped waiting; that is not the writer's problem.
        let _ = self.reply.send(out);
    }
}

/// Runs the schema's derives over a batch's changes, each on its own copy:
/// a failing one leaves nothing and is logged.
fn derive(base: &World, world: &mut World, pending: &mut Pending) {
    let schema = world.schema().clone();
    for f in schema.derives() {
        let mut scratch = world.clone();
        let mut mine = Pending::default();
        let res = std::panic::catch_unwind(AssertUnwindSafe(|| {
            f(base, &mut Txn { world: &mut scratch, before: world, pending: &mut mine }, &pending.changes)
        }));
        match res {
            Ok(Ok(())) => {
                *world = scratch;
                pending.absorb(mine);
            }
            Ok(Err(e)) => {
                tracing::error!(error = %crate::types::report::Report(&e), "a derived write failed; the batch commits without it")
            }
            Err(_) => tracing::error!("a derived write panicked; the batch commits without it"),
        }
    }
}

/// The writer's own state.
pub(super) struct Writer {
    pub(super) store: Box<dyn Store>,
    pub(super) snapshot: Arc<ArcSwap<World>>,
    pub(super) feed: broadcast::Sender<Change>,
    pub(super) seq: u64,
    /// Told of every durable commit: how long it took and how many writes
    /// it held.
    pub(super) observer: Arc<std::sync::OnceLock<CommitObserver>>,
}

/// What [`Writer`] tells of each commit (see `State::observe_commits`).
pub(crate) type CommitObserver = Box<dyn Fn(std::time::Duration, usize) + Send + Sync>;

impl Writer {
    /// Serves the queue until told to stop or every sender is gone; the
    /// store is closed when this returns.
    pub(super) fn run(mut self, rx: Receiver<Msg>) {
        let mut stopping = false;
        while !stopping {
            let Ok(first) = rx.recv() else { break };
            let mut batch = Vec::new();
            match first {
                Msg::Job(job) => batch.push(job),
                Msg::Stop => break,
            }
            while batch.len() < MAX_BATCH {
                match rx.try_recv() {
                    Ok(Msg::Job(job)) => batch.push(job),
                    Ok(Msg::Stop) => {
                        stopping = true;
                        break;
                    }
                    Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
                }
            }
            self.process(batch);
        }
    }

    fn process(&mut self, mut batch: Vec<Box<dyn Job>>) {
        let base = self.snapshot.load_full();
        let mut world = (*base).clone();
        let mut pending = Pending::default();
        let mut any = false;
        for job in batch.iter_mut() {
            any |= job.apply(&mut world, &mut pending);
        }
        if any && !pending.changes.is_empty() {
            derive(&base, &mut world, &mut pending);
        }
        let commit = if any && !pending.batch.is_empty() {
            let start = std::time::Instant::now();
            let commit = self.store.commit(&pending.batch).map_err(StateError::from);
            if let (Ok(()), Some(observe)) = (&commit, self.observer.get()) {
                observe(start.elapsed(), batch.len());
            }
            commit
        } else {
            Ok(())
        };
        if commit.is_ok() && any {
            world.version = base.version + 1;
            self.snapshot.store(Arc::new(world));
        }
        // Announce before acknowledging: once a write returns, its changes
        // are already queued for every subscriber, and a subscriber that
        // joins after the acknowledgement never hears of it.
        if commit.is_ok() {
            for mut change in pending.changes {
                self.seq += 1;
                change.seq = self.seq;
                // No subscribers is fine.
                let _ = self.feed.send(change);
            }
        }
        for job in batch {
            job.finish(commit.clone());
        }
    }
}
