//! Folding: the writes DHCP answers wait for, taken from a socket's queue
//! together and committed as one state-writer operation, instead of an
//! operation (and a task, and a wake-up) per answer. Inside one operation
//! the world's copy is changed in place after its first touch, so a fold
//! of N bindings copies each touched path of the lease table and its
//! index once, not N times (the copies were 15 % of DHCPv6's time at
//! 20,000 REPLYs/s: BENCHMARKS.md).
//!
//! A fold is all or nothing only for the store: each write in it is
//! refused or kept on its own, because each is checked before it changes
//! anything (a refused binding leaves no trace for the next one to see).

use std::future::Future;

use tokio::sync::mpsc;

use crate::state::{State, StateError, Txn};

/// The most writes one fold takes.
pub(crate) const MAX_FOLD: usize = 512;
/// How many writes a socket may have waiting; past that a request is
/// dropped (counted as `busy`) and its client asks again, rather than
/// being answered after it has given up.
pub(crate) const QUEUE: usize = 4096;

/// Why a write was not queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NotQueued {
    /// [`QUEUE`] writes wait already.
    Busy,
    /// The socket's loop has stopped.
    Stopping,
}

impl NotQueued {
    /// The metrics label of the dropped request.
    pub(crate) fn label(self) -> &'static str {
        match self {
            NotQueued::Busy => "busy",
            NotQueued::Stopping => "stopping",
        }
    }

    /// What the boot trace says of it.
    pub(crate) fn why(self) -> &'static str {
        match self {
            NotQueued::Busy => "no answer: too many writes waiting (the client asks again)",
            NotQueued::Stopping => "no answer: the server is stopping",
        }
    }
}

/// Queues `write` and its answer for the folding task, or gives the
/// answer back with the reason it was not queued.
pub(crate) fn enqueue<W, A>(queue: &mpsc::Sender<(W, A)>, write: W, answer: A) -> Result<(), (A, NotQueued)> {
    queue.try_send((write, answer)).map_err(|e| match e {
        mpsc::error::TrySendError::Full((_, a)) => (a, NotQueued::Busy),
        mpsc::error::TrySendError::Closed((_, a)) => (a, NotQueued::Stopping),
    })
}

/// Gives `each` every write waiting on `rx`, up to [`MAX_FOLD`] at a time,
/// as soon as the previous fold is done; returns once every sender is
/// gone and the last fold is done.
pub(crate) async fn folds<T, F, Fut>(mut rx: mpsc::Receiver<T>, mut each: F)
where
    F: FnMut(Vec<T>) -> Fut,
    Fut: Future<Output = ()>,
{
    let mut batch = Vec::with_capacity(MAX_FOLD);
    while rx.recv_many(&mut batch, MAX_FOLD).await > 0 {
        each(std::mem::replace(&mut batch, Vec::with_capacity(MAX_FOLD))).await;
    }
}

/// Runs `one` on each of `writes` in one write operation; their
/// outcomes in order once it is durable. `one` refuses a write by its
/// outcome, after changing nothing; its `Err` fails the whole fold.
pub(crate) async fn commit<W, O, F>(state: &State, writes: Vec<W>, one: F) -> Result<Vec<O>, StateError>
where
    W: Send + 'static,
    O: Send + 'static,
    F: Fn(&mut Txn<'_>, W) -> Result<O, StateError> + Send + 'static,
{
    state.write(move |txn| writes.into_iter().map(|w| one(txn, w)).collect()).await
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What is queued while a fold runs goes in the next one, whole and
    /// in order; the loop ends when the sender goes, after its last fold.
    #[tokio::test]
    async fn what_waits_goes_together_in_order() {
        let (tx, rx) = mpsc::channel(QUEUE);
        let (seen_tx, mut seen) = mpsc::unbounded_channel();
        tx.send(0).await.expect("queued");
        let gate = std::sync::Arc::new(tokio::sync::Notify::new());
        let open = gate.clone();
        let folder = tokio::spawn(folds(rx, move |batch: Vec<u32>| {
            let seen_tx = seen_tx.clone();
            let gate = gate.clone();
            async move {
                let first = batch[0] == 0;
                let _ = seen_tx.send(batch);
                if first {
                    gate.notified().await;
                }
            }
        }));
        assert_eq!(seen.recv().await, Some(vec![0]));
        for i in 1..=1000 {
            tx.send(i).await.expect("queued");
        }
        drop(tx);
        open.notify_one();
        folder.await.expect("no panic");
        let mut rest = Vec::new();
        while let Some(batch) = seen.recv().await {
            assert!(batch.len() <= MAX_FOLD);
            rest.push(batch);
        }
        assert_eq!(rest.len(), 2, "1000 waiting writes go in two folds of at most {MAX_FOLD}");
        assert_eq!(rest.concat(), (1..=1000).collect::<Vec<_>>());
    }
}
