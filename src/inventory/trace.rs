//! Each node's boot trace: what its machine asked the boot services and
//! what it was answered (DHCP exchanges, TFTP reads, HTTP scripts and
//! files, the agent's callbacks), newest last, at most [`KEPT`] events per
//! node. One record per node, moved when the node is renamed and deleted
//! with it.
//!
//! The services do not write it on their answer path: they hand events to
//! a [`Tracer`] (a bounded queue; a full queue drops the event rather than
//! slow an answer), and the [`Keeper`] task appends whatever has queued in
//! one transaction at a time. An event is therefore durable a moment after
//! its answer left, not before; at shutdown the keeper writes what is
//! queued before the store closes. It gathers events for a quarter of a
//! second before each write, so a node's trace (at most [`KEPT`] events)
//! is rewritten a few times a second at most, however busy its machine.
//! Only machines that are nodes are traced: a stranger's packets (a
//! flood, a load test) cost nothing here.

use std::collections::{BTreeMap, VecDeque};
use std::net::IpAddr;

use prometheus_client::metrics::counter::Counter;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::node::Node;
use crate::state::{NoIndex, Record, State, StateError, Txn};
use crate::types::mac::Mac;
use crate::types::report::Report;
use crate::types::time::now_ms;

/// Events kept per node; the oldest go first.
pub(crate) const KEPT: usize = 200;
/// Events queued for the keeper before new ones are dropped.
const QUEUE: usize = 8192;
/// Events appended in one transaction, at most.
const BATCH: usize = 2048;
/// How long the keeper gathers events before it writes them: a node's
/// trace is rewritten at most about this often.
const GATHER: std::time::Duration = std::time::Duration::from_millis(250);
/// Longest `request` or `answer` text kept (a path a client sent may be long).
const MAX_TEXT: usize = 300;

/// The service that saw the machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Service {
    Dhcp4,
    Dhcp6,
    Tftp,
    Http,
    /// The discovery agent or an installer reporting in.
    Callback,
}

/// One thing the machine asked and what it got.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub(crate) struct TraceEvent {
    /// Unix milliseconds.
    pub(crate) at_ms: u64,
    pub(crate) service: Service,
    /// The datagram's or connection's source.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) client: Option<IpAddr>,
    /// The MAC it came from, when the protocol says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) mac: Option<Mac>,
    /// What it asked: `DISCOVER from UEFI x64 PXE (arch 7)`, `RRQ snponly.efi`, `GET /boot/ipxe`.
    pub(crate) request: String,
    /// What it got: `OFFER 10.0.0.5, boot file snponly.efi`, `200`, `no answer: ...`.
    pub(crate) answer: String,
}

/// Whether `c` would change how a line shows: control characters (a
/// decoded `%0a`), bidi overrides and isolates, zero-width characters.
fn unruly(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{feff}')
}

/// Characters that would change how a line shows become U+FFFD, so an
/// event is one honest line wherever it is shown; long texts are cut short.
fn clip(s: String) -> String {
    let mut s: String =
        if s.chars().any(unruly) { s.chars().map(|c| if unruly(c) { '\u{fffd}' } else { c }).collect() } else { s };
    if s.len() > MAX_TEXT {
        let mut end = MAX_TEXT;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
        s.push('…');
    }
    s
}

impl TraceEvent {
    /// An event happening now; long texts are cut short.
    pub(crate) fn now(
        service: Service,
        client: Option<IpAddr>,
        mac: Option<Mac>,
        request: impl Into<String>,
        answer: impl Into<String>,
    ) -> TraceEvent {
        TraceEvent { at_ms: now_ms(), service, client, mac, request: clip(request.into()), answer: clip(answer.into()) }
    }
}

/// A node's trace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct BootTrace {
    pub(crate) node: String,
    pub(crate) events: VecDeque<TraceEvent>,
}

// Off the change feed: a trace is rewritten whole a few times a second
// while its machine boots, and a stalled event-stream reader would hold
// every copy.
impl Record for BootTrace {
    const KIND: &'static str = "boot_trace";
    const TABLE: &'static str = "boot_traces";
    const ON_FEED: bool = false;
    type Key = String;
    type Index = NoIndex;
    fn key(&self) -> String {
        self.node.clone()
    }
}

/// Appends `events` (node name, event) to their nodes' traces, dropping
/// each trace's oldest beyond [`KEPT`]. Events of nodes that no longer
/// exist are dropped.
pub(crate) fn append(txn: &mut Txn<'_>, events: Vec<(String, TraceEvent)>) -> Result<usize, StateError> {
    let mut by_node: BTreeMap<String, Vec<TraceEvent>> = BTreeMap::new();
    for (node, e) in events {
        by_node.entry(node).or_default().push(e);
    }
    let mut kept = 0;
    for (node, new) in by_node {
        if !txn.world().table::<Node>().contains(&node) {
            continue;
        }
        let mut trace = txn
            .world()
            .table::<BootTrace>()
            .get(&node)
            .map(|t| (**t).clone())
            .unwrap_or_else(|| BootTrace { node: node.clone(), events: VecDeque::new() });
        kept += new.len();
        trace.events.extend(new);
        let over = trace.events.len().saturating_sub(KEPT);
        trace.events.drain(..over);
        txn.put(trace)?;
    }
    Ok(kept)
}

/// Where the services hand their events: cheap to clone, never blocks.
#[derive(Clone, Debug)]
pub(crate) struct Tracer {
    tx: Option<mpsc::Sender<(String, TraceEvent)>>,
    /// Events dropped because the queue was full (`fulcrum_boot_trace_dropped_total`).
    dropped: Counter,
}

impl Tracer {
    /// A tracer that keeps nothing (the fuzz targets).
    #[cfg(any(fuzzing, test))]
    pub(crate) fn off() -> Tracer {
        Tracer { tx: None, dropped: Counter::default() }
    }

    /// Queues `event` for `node`'s trace; dropped (and counted) when the
    /// queue is full or the keeper has stopped.
    pub(crate) fn note(&self, node: &str, event: TraceEvent) {
        let Some(tx) = &self.tx else { return };
        if tx.try_send((node.to_string(), event)).is_err() {
            let n = self.dropped.inc() + 1;
            if n.is_power_of_two() {
                tracing::warn!(dropped = n, "boot trace events dropped (the trace keeper is behind or stopped)");
            }
        }
    }
}

/// The task that writes queued events to the store.
pub(crate) struct Keeper {
    rx: mpsc::Receiver<(String, TraceEvent)>,
}

/// A tracer and the keeper that writes what it is handed; `dropped`
/// counts the events the full queue refused.
pub(crate) fn channel(dropped: Counter) -> (Tracer, Keeper) {
    let (tx, rx) = mpsc::channel(QUEUE);
    (Tracer { tx: Some(tx), dropped }, Keeper { rx })
}

impl Keeper {
    /// Appends queued events until `stop`, then writes what is still queued
    /// and returns (call `stop` once the services have stopped, before the
    /// store closes).
    pub(crate) async fn run(mut self, state: State, stop: CancellationToken) {
        loop {
            let first = tokio::select! {
                e = self.rx.recv() => e,
                () = stop.cancelled() => None,
            };
            let Some(first) = first else { break };
            // Gather for a moment: a booting machine's events come in
            // bursts, and its trace is rewritten once per batch.
            let mut batch = vec![first];
            let until = tokio::time::Instant::now() + GATHER;
            while batch.len() < BATCH {
                tokio::select! {
                    e = self.rx.recv() => match e {
                        Some(e) => batch.push(e),
                        None => break,
                    },
                    () = tokio::time::sleep_until(until) => break,
                    () = stop.cancelled() => break,
                }
            }
            Self::write(&state, batch).await;
        }
        self.rx.close();
        let mut rest = Vec::new();
        while let Ok(e) = self.rx.try_recv() {
            rest.push(e);
        }
        if !rest.is_empty() {
            Self::write(&state, rest).await;
        }
    }

    async fn write(state: &State, batch: Vec<(String, TraceEvent)>) {
        let n = batch.len();
        if let Err(e) = state.write(move |txn| append(txn, batch)).await {
            tracing::warn!(events = n, error = %Report(&e), "boot trace events not stored");
        }
    }
}

/// A deleted node's trace goes with it.
fn node_deleted(txn: &mut Txn<'_>, node: &Node) -> Result<(), StateError> {
    txn.delete::<BootTrace, _>(&node.name)?;
    Ok(())
}

/// A renamed node's trace moves to its new name.
fn node_renamed(txn: &mut Txn<'_>, old: &Node, new: &Node) -> Result<(), StateError> {
    if let Some(t) = txn.delete::<BootTrace, _>(&old.name)? {
        txn.put(BootTrace { node: new.name.clone(), ..(*t).clone() })?;
    }
    Ok(())
}

pub(crate) fn register(schema: &mut crate::state::Schema) {
    schema.register::<BootTrace>().on_delete::<Node>(node_deleted).on_rekey::<Node>(node_renamed);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_texts_are_cut_on_a_character_boundary() {
        let e = TraceEvent::now(Service::Http, None, None, "é".repeat(400), "ok");
        assert!(e.request.len() <= MAX_TEXT + '…'.len_utf8(), "{}", e.request.len());
        assert!(e.request.ends_with('…'));
        assert_eq!(e.answer, "ok");
        let e = TraceEvent::now(Service::Http, None, None, "GET /x\ny\u{1b}[2J", "ok");
        assert_eq!(e.request, "GET /x\u{fffd}y\u{fffd}[2J");
        let e = TraceEvent::now(Service::Http, None, None, "GET /a\u{202e}gpj.exe", "ok");
        assert_eq!(e.request, "GET /a\u{fffd}gpj.exe");
    }

    #[test]
    fn a_full_queue_drops_and_counts_instead_of_blocking() {
        let dropped = Counter::default();
        let (tracer, _keeper) = channel(dropped.clone());
        for i in 0..(QUEUE + 7) {
            tracer.note("a.t", TraceEvent::now(Service::Http, None, None, format!("GET /{i}"), "200"));
        }
        assert_eq!(dropped.get(), 7);
    }

    #[tokio::test]
    async fn a_trace_keeps_the_newest_events_and_goes_with_its_node() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut schema = crate::state::Schema::new(1);
        crate::inventory::register(&mut schema);
        let state = State::open_dir(dir.path(), schema).expect("store");
        state.write(|t| t.put(Node::bare("a.t", vec![], "local")).map(|_| ())).await.expect("node");
        let mut feed = state.subscribe();
        let (tracer, keeper) = channel(Counter::default());
        let stop = CancellationToken::new();
        let task = tokio::spawn(keeper.run(state.clone(), stop.clone()));
        for i in 0..(KEPT + 5) {
            tracer.note("a.t", TraceEvent::now(Service::Tftp, None, None, format!("RRQ {i}"), "sent"));
        }
        tracer.note("nobody.t", TraceEvent::now(Service::Tftp, None, None, "RRQ x", "sent"));
        stop.cancel();
        task.await.expect("keeper");
        let w = state.snapshot();
        let trace = w.table::<BootTrace>().get("a.t").expect("a trace");
        assert_eq!(trace.events.len(), KEPT);
        assert_eq!(trace.events.front().map(|e| e.request.as_str()), Some("RRQ 5"));
        assert_eq!(trace.events.back().map(|e| e.request.as_str()), Some(format!("RRQ {}", KEPT + 4).as_str()));
        assert!(w.table::<BootTrace>().get("nobody.t").is_none());
        // Stored, not announced: the feed (and the event stream) hear nothing.
        assert!(feed.try_recv().is_err(), "a trace write reached the change feed");
        state.write(|t| t.delete::<Node, _>("a.t").map(|_| ())).await.expect("deleted");
        assert!(state.snapshot().table::<BootTrace>().get("a.t").is_none());
        state.close().await;
    }
}
