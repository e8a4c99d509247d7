//! DHCPv6 sockets and the per-datagram loop: receive, take off the relay
//! envelope, parse (malformed datagrams counted and dropped, never a
//! panic), decide against the current snapshot, and act: an answer that
//! binds, releases or declines addresses leaves only after that write is
//! durable: each socket's writes are queued to a task that commits them
//! in folds (`dhcp::fold`) and sends their answers. Other answers are
//! sent from the loop (`dhcp::send`: in a task of the server's tracker
//! only when the socket is full); the folding task and its answers are
//! the tracker's, and [`Server6::drain`] waits for them at shutdown.

use std::net::{Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use dhcproto::v6::{DhcpOption, Message, MessageType, OptionCode};
use dhcproto::{Decodable, Decoder, Encodable, Encoder};
use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::handler::{in_prefix, Arrival6, Ctx6, Decision6, LocalAddrs, Write6};
use super::relay::{self, Hop};
use crate::config::Config;
use crate::dhcp::duid::{self, Duid};
use crate::dhcp::fold;
use crate::dhcp::lease6::{self, Lease6Error};
use crate::dhcp::send::{self, Family::V6};
use crate::dhcp::v4::limit::Limits;
use crate::inventory::trace::{Service, TraceEvent, Tracer};
use crate::net::iface;
use crate::state::{State, StateError, Txn};
use crate::stats::{bump, Kind, KindOn, Stats};
use crate::types::mac::Mac;
use crate::types::report::Report;
use crate::types::time::now;

/// All_DHCP_Relay_Agents_and_Servers (RFC 8415 7.1).
pub(crate) const ALL_SERVERS: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 1, 2);
/// How often expired leases are deleted, and how long after their end.
const REAP_EVERY: Duration = Duration::from_secs(60);
/// How often the host's interface addresses are re-read.
const IFACE_REFRESH: Duration = Duration::from_secs(10);
/// How soon they are re-read when a network's /64 has none of them (an
/// operator adds the admin node's address once the `auto` prefix is known;
/// boot URLs and DNS need it at once).
const IFACE_RETRY: Duration = Duration::from_millis(100);

/// Opens a DHCPv6 socket: IPv6 only, address reusable (one socket per
/// interface on the same port), each datagram's destination told
/// (`net::arrival`: what a client may not unicast), and on an interface
/// bound to it and a member of All_DHCP_Relay_Agents_and_Servers there.
pub(crate) fn bind(addr: SocketAddr, iface: Option<&iface::Interface>) -> std::io::Result<std::net::UdpSocket> {
    let s = Socket::new(Domain::IPV6, Type::DGRAM, Some(Protocol::UDP))?;
    s.set_only_v6(true)?;
    s.set_reuse_address(true)?;
    // A boot storm arrives faster than one loop reads: room for a burst
    // (the kernel caps it at net.core.rmem_max).
    s.set_recv_buffer_size(crate::dhcp::RECV_BUFFER)?;
    if let Some(i) = iface {
        s.bind_device(Some(i.name.as_bytes()))?;
    }
    s.set_nonblocking(true)?;
    crate::net::arrival::ask(&s)?;
    s.bind(&addr.into())?;
    if let Some(i) = iface {
        s.join_multicast_v6(&ALL_SERVERS, i.index)?;
    }
    Ok(s.into())
}

/// The MAC the server DUID is made from: the first served interface's,
/// else any interface's, else a random locally administered one.
fn duid_mac(config: &Config) -> Mac {
    let ifaces = iface::list();
    let served = ifaces.iter().filter(|i| config.dhcp.interfaces.contains(&i.name)).find_map(|i| i.mac);
    served.or_else(|| ifaces.iter().find_map(|i| i.mac)).unwrap_or_else(|| {
        let mut m: [u8; 6] = rand::random();
        m[0] = (m[0] | 0x02) & 0xfe;
        Mac(m)
    })
}

/// Shared by every socket task.
pub(crate) struct Server6 {
    state: State,
    config: Arc<Config>,
    stats: Arc<Stats>,
    duid: Duid,
    /// The host's routable IPv6 addresses, re-read now and then.
    addrs: HostAddrs,
    tasks: TaskTracker,
    limits: Limits,
    /// Nodes' boot traces.
    tracer: Tracer,
}

fn routable() -> Vec<Ipv6Addr> {
    iface::list().iter().flat_map(|i| i.routable_v6().collect::<Vec<_>>()).collect()
}

/// The host's routable IPv6 addresses and when they were read.
struct HostAddrs(Mutex<(Instant, Vec<Ipv6Addr>)>);

impl LocalAddrs for HostAddrs {
    fn in_prefix(&self, prefix: Ipv6Addr) -> Option<Ipv6Addr> {
        let mut g = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if g.0.elapsed() > IFACE_REFRESH {
            *g = (Instant::now(), routable());
        }
        if let Some(a) = in_prefix(&g.1, prefix) {
            return Some(a);
        }
        if g.0.elapsed() > IFACE_RETRY {
            *g = (Instant::now(), routable());
        }
        in_prefix(&g.1, prefix)
    }
}

impl Server6 {
    /// The server, with its DUID made and stored now at the first start.
    pub(crate) async fn new(
        state: State,
        config: Arc<Config>,
        stats: Arc<Stats>,
        tracer: Tracer,
    ) -> Result<Arc<Server6>, StateError> {
        let mac = duid_mac(&config);
        let t = now();
        let duid = state.write(move |txn| duid::server_duid(txn, mac, t)).await?;
        tracing::info!(%duid, "dhcpv6 server DUID");
        Ok(Arc::new(Server6 {
            state,
            limits: Limits::new(config.dhcp.rate_per_mac, config.dhcp.rate_per_source),
            config,
            stats,
            duid,
            addrs: HostAddrs(Mutex::new((Instant::now(), routable()))),
            tasks: TaskTracker::new(),
            tracer,
        }))
    }

    /// Waits for every write and answer already started (call once the
    /// socket loops have stopped).
    pub(crate) async fn drain(&self) {
        self.tasks.close();
        self.tasks.wait().await;
    }

    /// Deletes expired leases (a minute past their end, up to 10,000 per
    /// pass) every minute until `stop`: a stranger's address is never
    /// reused by another client, so nothing else would.
    pub(crate) async fn reap(self: Arc<Self>, stop: CancellationToken) {
        loop {
            tokio::select! {
                () = tokio::time::sleep(REAP_EVERY) => {}
                () = stop.cancelled() => return,
            }
            let before = now().saturating_sub(REAP_EVERY.as_secs());
            match self.state.write(move |t| lease6::reap(t, before, 10_000)).await {
                Ok(0) => {}
                Ok(n) => tracing::debug!(n, "expired dhcpv6 leases deleted"),
                Err(e) => tracing::warn!(error = %Report(&e), "expired dhcpv6 leases not deleted"),
            }
        }
    }

    /// Serves one socket until `stop` is cancelled.
    pub(crate) async fn run(self: Arc<Self>, socket: Arc<UdpSocket>, iface: Option<String>, stop: CancellationToken) {
        let mut buf = vec![0u8; 65_536];
        // This socket's bindings, committed in folds by a task of the
        // tracker that ends when `queue` goes with this loop.
        let (queue, waiting) = mpsc::channel(fold::QUEUE);
        self.tasks.spawn(self.clone().commit_folds(socket.clone(), waiting));
        loop {
            let received = tokio::select! {
                r = crate::net::arrival::recv(&socket, &mut buf) => r,
                () = stop.cancelled() => return,
            };
            let (len, src6, unicast) = match received {
                Ok(a) => (a.len, a.src, a.unicast()),
                Err(e) => {
                    tracing::warn!(error = %Report(&e), "dhcpv6 recv");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            };
            bump(&self.stats.dhcp6_received);
            let src = SocketAddr::V6(src6);
            if let Err(over) = self.limits.admit(src.ip(), &[], Instant::now()) {
                self.stats.dhcp6_dropped.count(over.label());
                continue;
            }
            let unwrapped = match relay::unwrap(&buf[..len]) {
                Ok(u) => u,
                Err(e) => {
                    self.stats.dhcp6_dropped.count(e.label());
                    tracing::debug!(%src, error = %e, "dhcpv6 relay message dropped");
                    continue;
                }
            };
            let Some(msg) = parse(unwrapped.inner) else {
                self.stats.dhcp6_dropped.count("malformed");
                tracing::debug!(%src, len, "malformed dhcpv6 datagram dropped");
                continue;
            };
            if let Some(DhcpOption::ClientId(duid)) = msg.opts().get(OptionCode::ClientId) {
                if let Err(over) = self.limits.admit_duid(duid, Instant::now()) {
                    self.stats.dhcp6_dropped.count(over.label());
                    continue;
                }
            }
            self.stats.dhcp6_requests.get_or_create(&Kind { r#type: kind_name(msg.msg_type()) }).inc();
            let hops = unwrapped.hops;
            let arrival = Arrival6 { iface: iface.as_deref(), local: &self.addrs, src: Some(*src6.ip()), unicast };
            let world = self.state.snapshot();
            let ctx =
                Ctx6 { world: &world, config: &self.config, arrival: &arrival, server_duid: &self.duid, now: now() };
            // A bug in the decision costs this datagram, not the loop.
            let decided = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                let node = ctx.node_of(&msg, &hops).map(|n| n.name.clone());
                (ctx.decide(&msg, &hops), node)
            }));
            let Ok((decision, node)) = decided else {
                self.stats.dhcp6_dropped.count("internal_error");
                tracing::error!(%src, len, "dhcpv6 decision panicked; datagram dropped (please report it)");
                continue;
            };
            let traced = node.map(|node| {
                let via = if hops.is_empty() { "" } else { " via a relay" };
                let request = format!(
                    "{} from {}{via}",
                    kind_name(msg.msg_type()).to_uppercase(),
                    super::boot::classify(msg.opts())
                );
                Traced { node, request, client: src.ip() }
            });
            self.act(&socket, &queue, src, hops, decision, traced);
        }
    }

    fn act(
        self: &Arc<Self>,
        socket: &Arc<UdpSocket>,
        queue: &mpsc::Sender<(Write6, Answer6)>,
        src: SocketAddr,
        hops: Vec<Hop>,
        decision: Decision6,
        traced: Option<Traced>,
    ) {
        let note = |tracer: &Tracer, answer: String| note(tracer, traced.as_ref(), answer);
        match decision {
            Decision6::Ignore(skip) => {
                note(&self.tracer, format!("no answer: {}", skip.label().replace('_', " ")));
                self.stats.dhcp6_dropped.count(skip.label());
                tracing::debug!(%src, why = skip.label(), "dhcpv6 message not answered");
            }
            Decision6::Reply(msg) => {
                note(&self.tracer, summary(&msg));
                if let Some(bytes) = self.encode(&msg, &hops) {
                    send::now_or_later(&self.tasks, socket, bytes, src, &self.stats.dhcp6_send_errors, V6);
                }
            }
            Decision6::Write { write, reply, refused } => {
                let answer = Answer6 { reply, refused, hops, src, traced };
                if let Err((answer, not)) = fold::enqueue(queue, write, answer) {
                    answer.note(&self.tracer, not.why().into());
                    self.stats.dhcp6_dropped.count(not.label());
                }
            }
        }
    }

    /// Commits the writes queued by `run` in folds (`dhcp::fold`), and
    /// has each one's answer sent once its fold is durable (by a task of
    /// the tracker, so that the next fold commits meanwhile): the REPLY,
    /// the refusal if its address was taken meanwhile, or nothing if the
    /// store failed (the client asks again, and a renewing client keeps
    /// its address meanwhile). Returns when `run` has gone and the last
    /// fold is committed.
    async fn commit_folds(self: Arc<Self>, socket: Arc<UdpSocket>, waiting: mpsc::Receiver<(Write6, Answer6)>) {
        fold::folds(waiting, |batch: Vec<(Write6, Answer6)>| {
            let me = self.clone();
            let socket = socket.clone();
            async move {
                let (writes, answers): (Vec<Write6>, Vec<Answer6>) = batch.into_iter().unzip();
                let t = now();
                let cap = me.config.dhcp.unknown_leases6;
                let outcomes = fold::commit(&me.state, writes, move |txn, w| commit_one(txn, w, t, cap)).await;
                let tasks = me.tasks.clone();
                tasks.spawn(async move {
                    for (a, outcome) in answers.into_iter().zip(outcomes) {
                        me.answer(&socket, a, outcome).await;
                    }
                });
            }
        })
        .await;
    }

    /// Sends what a write's outcome calls for.
    async fn answer(&self, socket: &UdpSocket, a: Answer6, outcome: Result<Result<(), Lease6Error>, StateError>) {
        match outcome {
            Ok(Ok(())) => {
                a.note(&self.tracer, summary(&a.reply));
                self.send(socket, &a.reply, &a.hops, a.src).await;
            }
            Ok(Err(e)) => {
                a.note(&self.tracer, format!("{} (refused at commit: {})", summary(&a.refused), Report(&e)));
                tracing::info!(error = %Report(&e), "dhcpv6 binding refused at commit");
                self.send(socket, &a.refused, &a.hops, a.src).await;
            }
            Err(e) => {
                a.note(&self.tracer, format!("no answer: the binding could not be stored ({})", Report(&e)));
                self.stats.dhcp6_dropped.count("store_failed");
                tracing::warn!(error = %Report(&e), "dhcpv6 binding not stored; not answered");
            }
        }
    }

    /// The network whose /64 holds the first address `msg` gives, for
    /// the metrics (empty when it gives none).
    fn network_of(&self, msg: &Message) -> String {
        let given = msg.opts().iter().find_map(|o| match o {
            DhcpOption::IANA(ia) => ia.opts.iter().find_map(|o| match o {
                DhcpOption::IAAddr(a) => Some(a.addr),
                _ => None,
            }),
            _ => None,
        });
        let Some(addr) = given else { return String::new() };
        let w = self.state.snapshot();
        let gid = w.global_id();
        let net = w
            .table::<crate::inventory::network::Network>()
            .iter()
            .find(|n| n.v6_prefix(gid).is_some_and(|p| p.segments()[..4] == addr.segments()[..4]));
        net.map(|n| n.name.clone()).unwrap_or_default()
    }

    /// Sends `msg` back through `hops` to `dest` (an answer that waited
    /// for its commit).
    async fn send(&self, socket: &UdpSocket, msg: &Message, hops: &[Hop], dest: SocketAddr) {
        if let Some(bytes) = self.encode(msg, hops) {
            send::send(socket, &bytes, dest, &self.stats.dhcp6_send_errors, V6).await;
        }
    }

    /// The datagram of `msg` wrapped for `hops`, counted as a reply of its
    /// network; `None` (counted as a send error) if it cannot be encoded.
    fn encode(&self, msg: &Message, hops: &[Hop]) -> Option<Vec<u8>> {
        let mut bytes = Vec::with_capacity(512);
        if let Err(e) = msg.encode(&mut Encoder::new(&mut bytes)) {
            bump(&self.stats.dhcp6_send_errors);
            tracing::error!(error = %Report(&e), "cannot encode dhcpv6 answer");
            return None;
        }
        let network = self.network_of(msg);
        tracing::debug!(kind = ?msg.msg_type(), %network, "dhcpv6 answer");
        self.stats.dhcp6_replies.get_or_create(&KindOn { r#type: kind_name(msg.msg_type()), network }).inc();
        Some(relay::wrap(hops, bytes))
    }
}

/// A request from a node, for its boot trace.
struct Traced {
    node: String,
    request: String,
    client: std::net::IpAddr,
}

/// Adds what became of a node's request to its boot trace.
fn note(tracer: &Tracer, traced: Option<&Traced>, answer: String) {
    if let Some(t) = traced {
        tracer.note(&t.node, TraceEvent::now(Service::Dhcp6, Some(t.client), None, t.request.clone(), answer));
    }
}

/// What to send once a write is durable, and where.
struct Answer6 {
    reply: Message,
    /// Sent instead if the binding is refused at commit.
    refused: Message,
    hops: Vec<Hop>,
    src: SocketAddr,
    traced: Option<Traced>,
}

impl Answer6 {
    fn note(&self, tracer: &Tracer, answer: String) {
        note(tracer, self.traced.as_ref(), answer);
    }
}

/// One write of a fold. `Ok(Err(_))`: this write is refused, and nothing
/// of it was changed (`lease6::bind` refuses before it changes
/// anything); `Err`: the store failed, and so does the whole fold.
fn commit_one(txn: &mut Txn<'_>, write: Write6, t: u64, cap: u32) -> Result<Result<(), Lease6Error>, StateError> {
    match write {
        Write6::Bind(leases) => match lease6::bind(txn, leases, t, cap) {
            Ok(()) => Ok(Ok(())),
            Err(e @ Lease6Error::Taken(_)) => Ok(Err(e)),
            Err(Lease6Error::State(e)) => Err(e),
        },
        Write6::Release { duid, ias } => {
            ias.iter().try_for_each(|(iaid, a)| lease6::release(txn, a, &duid, *iaid))?;
            Ok(Ok(()))
        }
        Write6::Decline { duid, ias, until } => {
            ias.iter().try_for_each(|(iaid, a)| lease6::quarantine(txn, a, &duid, *iaid, until))?;
            Ok(Ok(()))
        }
    }
}

/// An answer for a person: `REPLY fd00::5, boot URL http://...`, with a
/// status that is not success.
pub(crate) fn summary(m: &Message) -> String {
    let mut s = kind_name(m.msg_type()).to_uppercase();
    for o in m.opts().iter() {
        match o {
            DhcpOption::IANA(ia) => {
                for o in ia.opts.iter() {
                    match o {
                        DhcpOption::IAAddr(a) => s.push_str(&format!(" {}", a.addr)),
                        DhcpOption::StatusCode(c) => s.push_str(&format!(" (IA {:?}: {})", c.status, c.msg)),
                        _ => {}
                    }
                }
            }
            DhcpOption::StatusCode(c) => s.push_str(&format!(" ({:?}: {})", c.status, c.msg)),
            DhcpOption::Unknown(u) if u16::from(u.code()) == super::handler::OPT_BOOTFILE_URL => {
                s.push_str(&format!(", boot URL {}", String::from_utf8_lossy(u.data())));
            }
            _ => {}
        }
    }
    s
}

/// A DHCPv6 message type's name, as metrics label it.
fn kind_name(t: MessageType) -> &'static str {
    match t {
        MessageType::Solicit => "solicit",
        MessageType::Advertise => "advertise",
        MessageType::Request => "request",
        MessageType::Confirm => "confirm",
        MessageType::Renew => "renew",
        MessageType::Rebind => "rebind",
        MessageType::Reply => "reply",
        MessageType::Release => "release",
        MessageType::Decline => "decline",
        MessageType::InformationRequest => "information_request",
        _ => "other",
    }
}

/// Decodes a client's message; `None` for anything that does not parse
/// (the decoder is guarded: a bug in it costs one datagram).
pub(crate) fn parse(bytes: &[u8]) -> Option<Message> {
    std::panic::catch_unwind(|| Message::decode(&mut Decoder::new(bytes)).ok()).ok().flatten()
}
