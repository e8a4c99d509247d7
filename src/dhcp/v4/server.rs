//! DHCPv4 sockets and the per-packet loop: receive, parse (malformed
//! datagrams counted and dropped), decide against the current snapshot,
//! and act. A lease to commit is queued to the socket's folding task,
//! which commits the leases waiting together as one write (`dhcp::fold`)
//! and sends each one's ACK or NAK; a lease that learns a MAC for a
//! switch-port reservation is its own write. A reply that needs no
//! commit is sent from the loop (`dhcp::send`: in a task of the server's
//! tracker only when the socket is full); the folding task, its answers
//! and the learning writes are the tracker's. On shutdown the loops stop
//! receiving and [`Server::drain`] waits for the tracker, so every lease
//! being committed is either acknowledged or refused before the store
//! closes.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use dhcproto::v4::{Message, MessageType};
use dhcproto::{Decodable, Decoder};
use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::handler::{Arrival, Commit, Ctx, Decision, Learned};
use super::limit::Limits;
use super::offers::Offers;
use super::reply;
use crate::config::Config;
use crate::dhcp::firmware::BootClient;
use crate::dhcp::fold;
use crate::dhcp::lease::{self, ClientKey, Lease, LeaseError};
use crate::dhcp::send::{self, Family::V4};
use crate::inventory::node::{learn_mac, Node};
use crate::inventory::trace::{Service, TraceEvent, Tracer};
use crate::net::iface;
use crate::state::{State, StateError, Txn};
use crate::stats::{bump, Kind, KindOn, Stats};
use crate::types::mac::Mac;
use crate::types::report::Report;
use crate::types::time::now;

/// How often the host's interface addresses are re-read.
const IFACE_REFRESH: Duration = Duration::from_secs(10);
/// Port DHCP clients listen on.
const CLIENT_PORT: u16 = 68;

/// Opens a DHCP socket: broadcast allowed, address reusable (one socket per
/// interface on the same port), optionally bound to one interface.
pub(crate) fn bind(addr: SocketAddr, iface: Option<&str>) -> std::io::Result<std::net::UdpSocket> {
    let s = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
    s.set_reuse_address(true)?;
    s.set_broadcast(true)?;
    // A boot storm arrives faster than one loop reads: room for a burst
    // (the kernel caps it at net.core.rmem_max).
    s.set_recv_buffer_size(crate::dhcp::RECV_BUFFER)?;
    if let Some(name) = iface {
        s.bind_device(Some(name.as_bytes()))?;
    }
    s.set_nonblocking(true)?;
    s.bind(&addr.into())?;
    Ok(s.into())
}

/// What a socket is for.
#[derive(Debug, Clone)]
pub(crate) enum Listener {
    /// DHCP (port 67), bound to this interface or to none.
    Dhcp(Option<String>),
    /// The PXE boot server (port 4011): requests from clients that have an
    /// address already; answers go back to where each came from.
    BootServer,
}

/// Shared by every socket task.
pub(crate) struct Server {
    state: State,
    config: Arc<Config>,
    stats: Arc<Stats>,
    offers: Offers,
    addrs: Mutex<(Instant, Vec<iface::Interface>)>,
    /// Replies and commits in flight.
    tasks: TaskTracker,
    /// Per-MAC and per-source rate limits.
    limits: Limits,
    /// Nodes' boot traces.
    tracer: Tracer,
}

impl Server {
    pub(crate) fn new(state: State, config: Arc<Config>, stats: Arc<Stats>, tracer: Tracer) -> Arc<Server> {
        let limits = Limits::new(config.dhcp.rate_per_mac, config.dhcp.rate_per_source);
        Arc::new(Server {
            state,
            config,
            stats,
            offers: Offers::default(),
            addrs: Mutex::new((Instant::now(), iface::list())),
            tasks: TaskTracker::new(),
            limits,
            tracer,
        })
    }

    /// Waits for every reply and commit already started (call once the
    /// socket loops have stopped).
    pub(crate) async fn drain(&self) {
        self.tasks.close();
        self.tasks.wait().await;
    }

    fn arrival(&self, iface_name: Option<&str>, src: SocketAddr, boot_server: bool) -> Arrival {
        let mut g = self.addrs.lock().unwrap_or_else(|p| p.into_inner());
        if g.0.elapsed() > IFACE_REFRESH {
            *g = (Instant::now(), iface::list());
        }
        let local_addrs = g.1.iter().flat_map(|i| i.v4.iter().map(|(ip, _)| *ip)).collect();
        let iface_addrs = iface_name
            .map(|n| g.1.iter().filter(|i| i.name == n).flat_map(|i| i.v4.iter().map(|(ip, _)| *ip)).collect())
            .unwrap_or_default();
        Arrival { iface: iface_name.map(str::to_string), local_addrs, iface_addrs, src: Some(src.ip()), boot_server }
    }

    /// Serves one socket until `stop` is cancelled.
    pub(crate) async fn run(self: Arc<Self>, socket: Arc<UdpSocket>, listener: Listener, stop: CancellationToken) {
        let (iface_name, boot_server) = match listener {
            Listener::Dhcp(iface) => (iface, false),
            Listener::BootServer => (None, true),
        };
        let mut buf = vec![0u8; 2048];
        // This socket's leases, committed in folds by a task of the
        // tracker that ends when `queue` goes with this loop.
        let (queue, waiting) = mpsc::channel(fold::QUEUE);
        self.tasks.spawn(self.clone().commit_folds(socket.clone(), waiting));
        loop {
            let received = tokio::select! {
                r = socket.recv_from(&mut buf) => r,
                () = stop.cancelled() => return,
            };
            let (len, src) = match received {
                Ok(x) => x,
                Err(e) => {
                    tracing::warn!(error = %Report(&e), "dhcp recv");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            };
            bump(&self.stats.dhcp4_received);
            if let Err(over) = self.limits.admit(src.ip(), &buf[..len], Instant::now()) {
                self.stats.dhcp4_dropped.count(over.label());
                continue;
            }
            let Some(msg) = parse(&buf[..len]) else {
                bump(&self.stats.dhcp4_malformed);
                self.stats.dhcp4_dropped.count("malformed");
                tracing::debug!(%src, len, "malformed dhcp datagram dropped");
                continue;
            };
            self.stats.dhcp4_requests.get_or_create(&Kind { r#type: kind_name(msg.opts().msg_type()) }).inc();
            let arrival = self.arrival(iface_name.as_deref(), src, boot_server);
            let world = self.state.snapshot();
            let ctx = Ctx { world: &world, config: &self.config, offers: &self.offers, arrival: &arrival, now: now() };
            // A bug in the decision costs this packet, not the receive loop.
            let Ok(decision) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| ctx.decide(&msg))) else {
                self.stats.dhcp4_dropped.count("internal_error");
                tracing::error!(%src, len, "dhcp decision panicked; datagram dropped (please report it)");
                continue;
            };
            self.act(&socket, &queue, &msg, src, decision, boot_server, &world);
        }
    }

    /// Carries out a decision; `to_source`: replies go back to the
    /// datagram's source (the boot server), not where RFC 2131 says.
    #[allow(clippy::too_many_arguments)]
    fn act(
        self: &Arc<Self>,
        socket: &Arc<UdpSocket>,
        queue: &mpsc::Sender<(Write4, Option<Answer4>)>,
        req: &Message,
        src: SocketAddr,
        decision: Decision,
        to_source: bool,
        world: &crate::state::World,
    ) {
        let traced = self.traced(world, req, to_source);
        // A client without an address yet sends from 0.0.0.0: no address to show.
        let from = Some(src.ip()).filter(|ip| !ip.is_unspecified());
        let note = |answer: String| {
            if let Some((node, request, mac)) = &traced {
                self.tracer.note(node, TraceEvent::now(Service::Dhcp4, from, *mac, request.clone(), answer));
            }
        };
        match &decision {
            Decision::Ignore(skip) => note(format!("no answer: {}", skip.why())),
            Decision::Reply(msg) => note(reply::summary(msg)),
            Decision::Release { ip, .. } => note(format!("{ip} released")),
            Decision::Decline { ip, .. } => note(format!("{ip} quarantined")),
            // Told once the lease is stored or refused.
            Decision::Commit(_) => {}
        }
        match decision {
            Decision::Ignore(skip) => {
                bump(&self.stats.dhcp4_ignored);
                self.stats.dhcp4_dropped.count(skip.label());
                tracing::debug!(%src, why = skip.why(), "dhcp request ignored");
            }
            Decision::Reply(msg) => {
                let dest = if to_source { src } else { destination(req, &msg, src) };
                if let Some(bytes) = self.encode(&msg, world) {
                    send::now_or_later(&self.tasks, socket, bytes, dest, &self.stats.dhcp4_send_errors, V4);
                }
            }
            Decision::Commit(commit) => {
                let Commit { lease, firmware, learned, ack, nak } = *commit;
                // Firmware (or an OS starting) asks without an address of
                // its own; a running OS renewing has one (ciaddr).
                let booting = req.ciaddr().is_unspecified();
                let answer = Answer4 {
                    mac: lease.mac,
                    booting,
                    dest: destination(req, &ack, src),
                    nak_dest: destination(req, &nak, src),
                    ack,
                    nak,
                    learning: learned.as_ref().map(|l| l.node.clone()),
                    traced,
                    from,
                };
                let write = LeaseWrite { lease, firmware, booting };
                if let Some(learned) = learned {
                    // Learning a MAC can be refused after it changed the
                    // node: its own operation, all or nothing.
                    let me = self.clone();
                    let socket = socket.clone();
                    self.tasks.spawn(async move {
                        let t = now();
                        let written = me.state.write(move |txn| commit_learning(txn, learned, write, t)).await;
                        me.answer_commit(&socket, answer, written).await;
                    });
                    return;
                }
                self.queue(queue, Write4::Lease(write), Some(answer));
            }
            // Through the same queue as the leases: a RELEASE is never
            // overtaken by a REQUEST the client sent before it.
            Decision::Release { ip, client } => self.queue(queue, Write4::Release { ip, client }, None),
            Decision::Decline { ip, client, network } => {
                let until = now().saturating_add(self.config.dhcp.decline_seconds);
                self.queue(queue, Write4::Decline { ip, client, network, until }, None);
            }
        }
    }

    /// Queues a write for the socket's folding task, or counts it dropped.
    fn queue(&self, queue: &mpsc::Sender<(Write4, Option<Answer4>)>, write: Write4, answer: Option<Answer4>) {
        if let Err((answer, not)) = fold::enqueue(queue, write, answer) {
            if let Some(answer) = answer {
                answer.note(&self.tracer, not.why().into());
            }
            self.stats.dhcp4_dropped.count(not.label());
        }
    }

    /// Commits the writes queued by `run` in folds (`dhcp::fold`) and
    /// has each lease answered once its fold is durable, by a task of the
    /// tracker, so that the next fold commits meanwhile. Returns when
    /// `run` has gone and the last fold is committed.
    async fn commit_folds(self: Arc<Self>, socket: Arc<UdpSocket>, waiting: mpsc::Receiver<(Write4, Option<Answer4>)>) {
        fold::folds(waiting, |batch: Vec<(Write4, Option<Answer4>)>| {
            let me = self.clone();
            let socket = socket.clone();
            async move {
                let (writes, answers): (Vec<Write4>, Vec<Option<Answer4>>) = batch.into_iter().unzip();
                let t = now();
                let outcomes = fold::commit(&me.state, writes, move |txn, w| commit_folded(txn, w, t)).await;
                let tasks = me.tasks.clone();
                tasks.spawn(async move {
                    for (a, outcome) in answers.into_iter().zip(outcomes) {
                        let outcome = outcome.unwrap_or_else(|e| Err(LeaseError::State(e)));
                        match (a, outcome) {
                            (Some(a), Ok(Some(l))) => me.answer_commit(&socket, a, Ok(l)).await,
                            (Some(a), Err(e)) => me.answer_commit(&socket, a, Err(e)).await,
                            (None, Err(e)) => tracing::warn!(error = %Report(&e), "release or decline not recorded"),
                            // A release or decline done; a lease always gives its record.
                            (None, Ok(_)) | (Some(_), Ok(None)) => {}
                        }
                    }
                });
            }
        })
        .await;
    }

    /// Sends what a commit's outcome calls for: the ACK for a stored
    /// lease, the NAK for a refused one, nothing if the store failed (the
    /// client asks again later, and a renewing client keeps its address
    /// meanwhile; a NAK would take it away).
    async fn answer_commit(&self, socket: &UdpSocket, a: Answer4, outcome: Result<Arc<Lease>, LeaseError>) {
        let (mac, booting) = (a.mac, a.booting);
        match outcome {
            Ok(l) => {
                if let Some(node) = &a.learning {
                    tracing::info!(%mac, %node, "MAC learned in the node's reserved switch port");
                }
                // A node's lease is part of its boot story; a stranger's
                // (a flood, a load test) only at debug.
                match a.traced.as_ref().map(|(node, ..)| node).or(a.learning.as_ref()) {
                    Some(node) => tracing::info!(%node, %mac, ip = %l.ip, network = %l.network, booting, "lease"),
                    None => tracing::debug!(%mac, ip = %l.ip, network = %l.network, "lease"),
                }
                // The offer is NOT forgotten here: a DISCOVER being decided
                // right now may hold a snapshot from before this commit,
                // and the offer is then the only place that shows the
                // address as taken. It expires on its own after
                // `offer_seconds`.
                a.note(&self.tracer, reply::summary(&a.ack));
                self.send(socket, &a.ack, a.dest).await;
            }
            Err(e @ (LeaseError::Taken(_) | LeaseError::NotLearned { .. })) => {
                a.note(&self.tracer, format!("{} (the lease was refused: {})", reply::summary(&a.nak), Report(&e)));
                tracing::info!(%mac, error = %Report(&e), "lease refused at commit; NAK");
                self.send(socket, &a.nak, a.nak_dest).await;
            }
            Err(e @ LeaseError::State(_)) => {
                a.note(&self.tracer, format!("no answer: the lease could not be stored ({})", Report(&e)));
                self.stats.dhcp4_dropped.count("store_failed");
                tracing::warn!(%mac, error = %Report(&e), "lease not stored; request not answered");
            }
        }
    }

    /// For a request from a node's MAC (its own, or one its switch port
    /// reservation would claim once learned, which is not traced until
    /// then): the node, what it asked, and the MAC.
    fn traced(
        &self,
        world: &crate::state::World,
        req: &Message,
        boot_server: bool,
    ) -> Option<(String, String, Option<Mac>)> {
        let mac = Mac::from_chaddr(req.chaddr()).filter(|_| req.hlen() == 6)?;
        let node = world.table::<Node>().by_mac(&mac)?.name.clone();
        let kind = kind_name(req.opts().msg_type()).to_uppercase();
        let via = if req.giaddr().is_unspecified() { String::new() } else { format!(" via relay {}", req.giaddr()) };
        let at = if boot_server { " to the PXE boot server" } else { "" };
        Some((node, format!("{kind} from {}{via}{at}", crate::dhcp::pxe::describe(req.opts())), Some(mac)))
    }

    /// Sends `msg` to `dest` (an answer that waited for its commit).
    async fn send(&self, socket: &UdpSocket, msg: &Message, dest: SocketAddr) {
        let world = self.state.snapshot();
        if let Some(bytes) = self.encode(msg, &world) {
            send::send(socket, &bytes, dest, &self.stats.dhcp4_send_errors, V4).await;
        }
    }

    /// The datagram of `msg`, counted as a reply of its network; `None`
    /// (counted as a send error) if it cannot be encoded.
    fn encode(&self, msg: &Message, world: &crate::state::World) -> Option<Vec<u8>> {
        let bytes = match reply::encode(msg) {
            Ok(b) => b,
            Err(e) => {
                bump(&self.stats.dhcp4_send_errors);
                tracing::error!(error = %Report(&e), "cannot encode dhcp reply");
                return None;
            }
        };
        // The network the answer is for: the one holding the address it
        // gives (or the client's own, for an INFORM).
        let given = if msg.yiaddr().is_unspecified() { msg.ciaddr() } else { msg.yiaddr() };
        let network = world
            .table::<crate::inventory::network::Network>()
            .containing(given)
            .map(|n| n.name.clone())
            .unwrap_or_default();
        tracing::debug!(kind = ?msg.opts().msg_type(), yiaddr = %msg.yiaddr(), %network, "dhcp reply");
        self.stats.dhcp4_replies.get_or_create(&KindOn { r#type: kind_name(msg.opts().msg_type()), network }).inc();
        Some(bytes)
    }
}

/// A DHCPv4 message type's name, as metrics label it.
fn kind_name(t: Option<MessageType>) -> &'static str {
    match t {
        Some(MessageType::Discover) => "discover",
        Some(MessageType::Offer) => "offer",
        Some(MessageType::Request) => "request",
        Some(MessageType::Decline) => "decline",
        Some(MessageType::Ack) => "ack",
        Some(MessageType::Nak) => "nak",
        Some(MessageType::Release) => "release",
        Some(MessageType::Inform) => "inform",
        None => "bootp",
        Some(_) => "other",
    }
}

/// The longest hardware address `chaddr` holds (RFC 2131: 16 bytes).
const MAX_HLEN: u8 = 16;

/// Decodes a datagram; `None` for anything that does not parse. The decoder
/// is guarded so that a bug in it costs one packet, not the server. A
/// message whose `hlen` exceeds the 16 bytes of `chaddr` is refused here:
/// dhcproto keeps it as sent, and its `Message::chaddr()` then slices out
/// of bounds and panics (found by the fuzz target; it took the receive loop
/// down).
pub(crate) fn parse(bytes: &[u8]) -> Option<Message> {
    std::panic::catch_unwind(|| Message::decode(&mut Decoder::new(bytes)).ok())
        .ok()
        .flatten()
        .filter(|m| m.hlen() <= MAX_HLEN)
}

/// RFC 2131 4.1: relayed -> back to the relay (the port it sent from);
/// NAK or no client address yet -> broadcast; else unicast to ciaddr.
pub(crate) fn destination(req: &Message, reply: &Message, src: SocketAddr) -> SocketAddr {
    if !req.giaddr().is_unspecified() {
        return SocketAddr::V4(SocketAddrV4::new(req.giaddr(), src.port()));
    }
    let is_nak = reply.opts().msg_type() == Some(MessageType::Nak);
    if !is_nak && !req.ciaddr().is_unspecified() {
        return SocketAddr::V4(SocketAddrV4::new(req.ciaddr(), CLIENT_PORT));
    }
    SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::BROADCAST, CLIENT_PORT))
}

/// A write of the DHCPv4 server's, in the order its requests came.
#[derive(Clone)]
enum Write4 {
    /// Answered by the ACK or NAK of its [`Answer4`].
    Lease(LeaseWrite),
    Release {
        ip: Ipv4Addr,
        client: ClientKey,
    },
    /// Quarantined until `until`.
    Decline {
        ip: Ipv4Addr,
        client: ClientKey,
        network: String,
        until: u64,
    },
}

/// A lease to store, with what the request said of the firmware.
#[derive(Clone)]
struct LeaseWrite {
    lease: Lease,
    firmware: Option<BootClient>,
    /// Asked without an address of its own: a boot (see `confirm_boot`).
    booting: bool,
}

/// What to send once a lease is stored or refused, and where.
struct Answer4 {
    mac: Mac,
    booting: bool,
    ack: Message,
    dest: SocketAddr,
    nak: Message,
    nak_dest: SocketAddr,
    /// The node whose switch port taught it this MAC, if so.
    learning: Option<String>,
    /// The node, request and MAC, for the node's boot trace.
    traced: Option<(String, String, Option<Mac>)>,
    from: Option<std::net::IpAddr>,
}

impl Answer4 {
    fn note(&self, tracer: &Tracer, answer: String) {
        if let Some((node, request, mac)) = &self.traced {
            tracer.note(node, TraceEvent::now(Service::Dhcp4, self.from, *mac, request.clone(), answer));
        }
    }
}

/// Stores a lease, then what goes with it.
fn commit(txn: &mut Txn<'_>, w: LeaseWrite, t: u64) -> Result<Arc<Lease>, LeaseError> {
    let mac = w.lease.mac;
    let l = lease::put(txn, w.lease, t)?;
    if let Some(fw) = w.firmware {
        crate::dhcp::firmware::record(txn, fw)?;
    }
    if w.booting {
        confirm_boot(txn, &mac)?;
    }
    Ok(l)
}

/// One write of a fold: the stored lease, for a lease. `Ok(Err(_))`:
/// refused, and nothing of it was changed (`lease::put` and
/// `lease::quarantine` refuse before they change anything, and nothing
/// after them refuses); `Err`: the store failed, and so does the fold.
fn commit_folded(txn: &mut Txn<'_>, w: Write4, t: u64) -> Result<Result<Option<Arc<Lease>>, LeaseError>, StateError> {
    let outcome = match w {
        Write4::Lease(w) => commit(txn, w, t).map(Some),
        Write4::Release { ip, client } => lease::release(txn, ip, &client).map(|()| None),
        Write4::Decline { ip, client, network, until } => {
            lease::quarantine(txn, ip, &client, network, until).map(|()| None)
        }
    };
    match outcome {
        Err(LeaseError::State(e)) => Err(e),
        outcome => Ok(outcome),
    }
}

/// The MAC first, so that the node's address is this client's when the
/// lease is checked; then the lease.
fn commit_learning(txn: &mut Txn<'_>, learned: Learned, w: LeaseWrite, t: u64) -> Result<Arc<Lease>, LeaseError> {
    let Learned { node, mac } = learned;
    learn_mac(txn, &node, mac).map_err(|e| match e {
        // The store failed, not the learning: no answer, as for any store failure.
        crate::inventory::error::InventoryError::State(s) => LeaseError::State(s),
        e => LeaseError::NotLearned { mac, node, source: Box::new(e) },
    })?;
    commit(txn, w, t)
}

/// A node Fulcrum powered on or rebooted for a network boot has asked
/// DHCP for it: the power action worked (in the lease's transaction).
fn confirm_boot(txn: &mut crate::state::Txn<'_>, mac: &Mac) -> Result<(), LeaseError> {
    let Some(name) =
        txn.world().table::<Node>().by_mac(mac).filter(|n| n.awaiting_boot.is_some()).map(|n| n.name.clone())
    else {
        return Ok(());
    };
    match crate::inventory::node::booted(txn, &name) {
        Ok(_) => Ok(()),
        Err(crate::inventory::error::InventoryError::State(s)) => Err(LeaseError::State(s)),
        // The node's record refused the change (it cannot, today): the
        // lease still counts, the watchdog will judge the boot.
        Err(e) => {
            tracing::warn!(node = %name, error = %Report(&e), "the network boot was not recorded");
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(ip: &str, last: u8) -> LeaseWrite {
        let lease = Lease {
            ip: ip.parse().expect("fixture"),
            mac: Mac([2, 0, 0, 0, 9, last]),
            client_id: None,
            network: "n".into(),
            hostname: None,
            port: None,
            expires_at: 5000,
        };
        LeaseWrite { lease, firmware: None, booting: true }
    }

    /// Leases folded into one write operation are kept or refused each on
    /// its own, and a refused one changes nothing: its client's earlier
    /// lease stays where it was.
    #[tokio::test]
    async fn a_refused_lease_in_a_fold_changes_nothing_and_its_neighbours_stay() {
        let (_dir, state) = crate::dhcp::fixture::world(crate::dhcp::fixture::network()).await;
        state.write(|t| commit(t, write("10.9.0.99", 2), 1000)).await.expect("client 2's lease");
        let outcomes = state
            .write(|t| {
                [write("10.9.0.50", 1), write("10.9.0.50", 2), write("10.9.0.51", 3)]
                    .into_iter()
                    .map(|w| commit_folded(t, Write4::Lease(w), 1000).map(|o| o.map(|l| l.map(|l| l.ip.to_string()))))
                    .collect::<Result<Vec<_>, StateError>>()
            })
            .await
            .expect("the fold is stored");
        assert!(matches!(&outcomes[0], Ok(Some(ip)) if ip == "10.9.0.50"), "{outcomes:?}");
        assert!(matches!(outcomes[1], Err(LeaseError::Taken(_))), "{outcomes:?}");
        assert!(matches!(&outcomes[2], Ok(Some(ip)) if ip == "10.9.0.51"), "{outcomes:?}");
        let w = state.snapshot();
        let held: Vec<(String, u8)> = w.table::<Lease>().iter().map(|l| (l.ip.to_string(), l.mac.0[5])).collect();
        let want = [("10.9.0.50", 1), ("10.9.0.51", 3), ("10.9.0.99", 2)].map(|(ip, m)| (ip.to_string(), m));
        assert_eq!(held, want, "the refused lease moved its client");
    }

    /// A RELEASE queued behind its client's REQUEST is written after it,
    /// in the same fold: the address ends up free.
    #[tokio::test]
    async fn a_release_in_a_fold_follows_the_request_before_it() {
        let (_dir, state) = crate::dhcp::fixture::world(crate::dhcp::fixture::network()).await;
        let lease = write("10.9.0.60", 4);
        let client = lease.lease.key();
        let release = Write4::Release { ip: lease.lease.ip, client };
        let outcomes =
            fold::commit(&state, vec![Write4::Lease(lease), release], |t, w| commit_folded(t, w, 1000)).await;
        assert!(outcomes.iter().all(|o| matches!(o, Ok(Ok(_)))));
        assert!(state.snapshot().table::<Lease>().is_empty(), "the release was overtaken");
    }
}
