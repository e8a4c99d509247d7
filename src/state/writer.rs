//! The single writer: one thread that owns the store. It takes queued
//! operations in batches, runs each against a private copy of the world
//! (a failed operation leaves no trace), commits the whole batch to disk in
//! one durable transaction (group commit), and only then publishes the new
//! snapshot, answers the callers and announces the changes.

use std::sync::mpsc::{Receiver, TryRecvError};
use std::sync::Arc;

use arc_swap::ArcSwap;
use tokio::sync::{broadcast, oneshot};

use super::feed::Change;
use super::store::Store;
use super::txn::{Pending, Txn};
use super::world::World;
use super::StateError;

/// Most operations folded into one commit.
const MAX_BATCH: usize = 512;

/// An operation waiting for the writer.
pub(super) trait Job: Send {
    /// Runs against `world`; `true` if it succeeded and its effects stay.
    fn apply(&mut self, world: &mut World, pending: &mut Pending) -> bool;
    /// Delivers the outcome once the batch's fate is known.
    fn finish(self: Box<Self>, commit: Result<(), StateError>);
}

/// A typed operation and the channel its caller waits on.
pub(super) struct Op<F, T> {
    pub(super) f: Option<F>,
    pub(super) result: Option<Result<T, StateError>>,
    pub(super) reply: oneshot::Sender<Result<T, StateError>>,
}

impl<F, T> Job for Op<F, T>
where
    F: FnOnce(&mut Txn<'_>) -> Result<T, StateError> + Send,
    T: Send,
{
    fn apply(&mut self, world: &mut World, pending: &mut Pending) -> bool {
        let Some(f) = self.f.take() else { return false };
        let mut scratch = world.clone();
        let mut mine = Pending::default();
        let res = {
            let mut txn = Txn { world: &mut scratch, pending: &mut mine };
            f(&mut txn)
        };
        let ok = res.is_ok();
        if ok {
            *world = scratch;
            pending.puts.extend(mine.puts);
            pending.changes.extend(mine.changes);
        }
        self.result = Some(res);
        ok
    }

    fn finish(self: Box<Self>, commit: Result<(), StateError>) {
        let out = match (self.result, commit) {
            (Some(Ok(v)), Ok(())) => Ok(v),
            (Some(Ok(_)), Err(e)) => Err(e),
            (Some(Err(e)), _) => Err(e),
            (None, _) => Err(StateError::store("operation was not run")),
        };
        // The caller may have given up waiting; that is not the writer's problem.
        let _ = self.reply.send(out);
    }
}

pub(super) struct Writer {
    pub(super) store: Store,
    pub(super) snapshot: Arc<ArcSwap<World>>,
    pub(super) feed: broadcast::Sender<Change>,
    pub(super) seq: u64,
}

impl Writer {
    /// Serves the queue until every sender is gone.
    pub(super) fn run(mut self, rx: Receiver<Box<dyn Job>>) {
        while let Ok(first) = rx.recv() {
            let mut batch = vec![first];
            while batch.len() < MAX_BATCH {
                match rx.try_recv() {
                    Ok(job) => batch.push(job),
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
        let commit = if any && !pending.puts.is_empty() { self.store.commit(pending.puts.iter()) } else { Ok(()) };
        if commit.is_ok() && any {
            world.version = base.version + 1;
            self.snapshot.store(Arc::new(world));
        }
        for job in batch {
            job.finish(commit.clone());
        }
        if commit.is_ok() {
            for mut change in pending.changes {
                self.seq += 1;
                change.seq = self.seq;
                // No subscribers is fine.
                let _ = self.feed.send(change);
            }
        }
    }
}
