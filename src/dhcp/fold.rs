//! Folding: the writes DHCP answers wait for, taken from a socket's queue
//! together and committed as one state-writer operation, instead of an
//! operation (and a task, and a wake-up) per answer. Inside one operation
//! the world's copy is changed in place after its first touch, so a fold
//! of N bindings should copy each touched path of the lease table and
//! its index once, not N times (those copies were 15 % of DHCPv6's time
//! at 20,000 REPLYs/s before folds: BENCHMARKS.md; not measured alone
//! since). The price: each fold's writes are copied once, to be written
//! again one by one if a write panics.
//!
//! A fold is all or nothing only for the store: each write in it is
//! refused or kept on its own, because each is checked before it changes
//! anything (a refused binding leaves no trace for the next one to see).
//! A write that panics fails its fold, which is then written again one
//! write per operation. A socket's writes (RELEASEs and DECLINEs with
//! its leases) are written in the order they came.

use std::future::Future;

use tokio::sync::mpsc;

use crate::state::{State, StateError, Txn};

/// The most writes one fold takes.
const MAX_FOLD: usize = 512;
/// How many writes a socket may have waiting; past that a request is
/// dropped (counted as `busy`) and its client asks again, rather than
/// being answered after it has given up.
pub(crate) const QUEUE: usize = 4096;

/// Why a write was not queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NotQueued {
    /// [`QUEUE`] writes wait already.
    Busy,
    /// The folding task has ended while its socket's loop still runs
    /// (a bug: it ends only after the loop).
    Gone,
}

impl NotQueued {
    /// The metrics label of the dropped request.
    pub(crate) fn label(self) -> &'static str {
        match self {
            NotQueued::Busy => "busy",
            NotQueued::Gone => "internal_error",
        }
    }

    /// What the boot trace says of it.
    pub(crate) fn why(self) -> &'static str {
        match self {
            NotQueued::Busy => "no answer: too many writes waiting (the client asks again)",
            NotQueued::Gone => "no answer: the server's lease writer has stopped (please report it)",
        }
    }
}

/// Queues `write` and its answer for the folding task, or gives the
/// answer back with the reason it was not queued.
pub(crate) fn enqueue<W, A>(queue: &mpsc::Sender<(W, A)>, write: W, answer: A) -> Result<(), (A, NotQueued)> {
    queue.try_send((write, answer)).map_err(|e| match e {
        mpsc::error::TrySendError::Full((_, a)) => (a, NotQueued::Busy),
        mpsc::error::TrySendError::Closed((_, a)) => {
            tracing::error!("a DHCP socket's folding task has ended; its request is dropped (please report it)");
            (a, NotQueued::Gone)
        }
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
    // Sized by what waits, not by MAX_FOLD: a DHCPv4 write with its answer
    // is about 630 bytes, and a fresh vector of 512 of them (as this loop
    // once took for every fold) had the allocator map and zero new pages
    // each time: 2 % of the DHCPv4 server's CPU in the kernel's page
    // zeroing alone, at 18,000 offered/s (BENCHMARKS.md).
    let mut batch = Vec::new();
    while rx.recv_many(&mut batch, MAX_FOLD).await > 0 {
        each(std::mem::take(&mut batch)).await;
    }
}

/// Runs `one` on each of `writes` in one write operation; their
/// outcomes in order once it is durable. `one` refuses a write by its
/// outcome, after changing nothing; its `Err` fails the whole fold, and
/// every write gets it. A write that panics (a bug) would take its whole
/// fold with it: then each write is run again in an operation of its
/// own, so that the bug costs only its own request.
pub(crate) async fn commit<W, O, F>(state: &State, writes: Vec<W>, one: F) -> Vec<Result<O, StateError>>
where
    W: Clone + Send + 'static,
    O: Send + 'static,
    F: Fn(&mut Txn<'_>, W) -> Result<O, StateError> + Clone + Send + 'static,
{
    let n = writes.len();
    let again = writes.clone();
    let all = one.clone();
    let folded = state.write(move |txn| writes.into_iter().map(|w| all(txn, w)).collect::<Result<Vec<O>, _>>()).await;
    match folded {
        Ok(outcomes) => outcomes.into_iter().map(Ok).collect(),
        Err(StateError::Aborted) if n > 1 => {
            tracing::error!(n, "a folded write panicked; its fold is written again one by one");
            let mut outcomes = Vec::with_capacity(n);
            for w in again {
                let one = one.clone();
                outcomes.push(state.write(move |txn| one(txn, w)).await);
            }
            outcomes
        }
        Err(e) => (0..n).map(|_| Err(e.clone())).collect(),
    }
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

    /// A write that panics costs its own request, not its fold's: the
    /// others are written again one by one and kept.
    #[tokio::test]
    async fn a_panicking_write_fails_alone() {
        use crate::dhcp::lease::{self, Lease};
        use crate::types::mac::Mac;
        let (_dir, state) = crate::dhcp::fixture::world(crate::dhcp::fixture::network()).await;
        let outcomes = commit(&state, vec![1u8, 2, 3], |t, n| {
            assert!(n != 2, "a bug in one write");
            let l = Lease {
                ip: std::net::Ipv4Addr::new(10, 9, 0, 100 + n),
                mac: Mac([2, 0, 0, 0, 8, n]),
                client_id: None,
                network: "n".into(),
                hostname: None,
                port: None,
                expires_at: 5000,
            };
            lease::put(t, l, 1000).map(|_| n).map_err(|e| match e {
                lease::LeaseError::State(e) => e,
                e => panic!("refused: {e}"),
            })
        })
        .await;
        assert!(matches!(outcomes[..], [Ok(1), Err(StateError::Aborted), Ok(3)]), "{outcomes:?}");
        let w = state.snapshot();
        let held: Vec<u8> = w.table::<Lease>().iter().map(|l| l.ip.octets()[3]).collect();
        assert_eq!(held, [101, 103]);
    }
}
