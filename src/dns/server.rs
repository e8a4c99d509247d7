//! The DNS service: hickory-server's `Server` owns the TCP listeners
//! (framing, timeouts), [`super::udp`] the UDP sockets;
//! [`Handler`] answers each request from the snapshot it takes when the
//! request arrives, so an API change is in the very next answer. It signs
//! with the TSIG key when the request was signed, streams transfers, and
//! hands names outside the zones to the forwarder (for the served
//! networks' clients) or refuses them.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use arc_swap::ArcSwap;
use hickory_proto::op::{Edns, MessageType, Metadata, OpCode, ResponseCode};
use hickory_proto::rr::rdata::tsig::TsigError;
use hickory_proto::rr::{RData, Record, RecordType};
use hickory_proto::serialize::binary::{BinDecoder, BinEncodable, BinEncoder};
use hickory_server::net::runtime::Time;
use hickory_server::server::{Request, RequestHandler, ResponseHandler, ResponseInfo};
use hickory_server::zone_handler::{MessageResponseBuilder, Queries};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::answer::{answer, plain, Answer, Question, Reply};
use super::error::DnsError;
use super::forward::Forwarder;
use super::lookup::{Layout, Settings, View};
use super::records::{self, DnsRecord, RecordSpec};
use super::transfer;
use super::tsig::{Check, TsigKey};
use crate::config::Config;
use crate::inventory::network::Network;
use crate::state::{State, World};
use crate::stats::{bump, Kind, Rcode, Stats};
use crate::types::time::now;

/// Largest UDP answer Fulcrum sends, whatever the client offers: the DNS
/// Flag Day 2020 size, which keeps answers unfragmented (RFC 9715);
/// anything larger is truncated and fetched over TCP.
const MAX_UDP_PAYLOAD: u16 = 1232;

/// The UDP payload size an answer is encoded for when the client offers
/// `offered` in its OPT record (RFC 6891: never below 512).
pub(crate) fn udp_payload(offered: u16) -> u16 {
    offered.clamp(512, MAX_UDP_PAYLOAD)
}
/// How long an idle TCP connection stays open.
const TCP_TIMEOUT: Duration = Duration::from_secs(10);

/// The layout and the snapshot it was made from (to tell when the
/// networks changed).
struct Cached {
    world: Arc<World>,
    layout: Arc<Layout>,
}

/// Everything an answer needs.
pub(crate) struct Dns {
    pub(crate) state: State,
    settings: Settings,
    cached: ArcSwap<Cached>,
    forwarder: Option<Forwarder>,
    key: Option<TsigKey>,
    pub(crate) secondaries: Vec<SocketAddr>,
    /// Recent differences per zone, for IXFR (kept when there are secondaries).
    journal: super::journal::Journal,
    /// Subnets besides the served networks whose clients may use the
    /// forwarder (the relayed segments of `http.boot_clients`).
    extra_clients: Vec<ipnet::IpNet>,
    /// Answers each UDP loop keeps ([`super::cache`]).
    pub(crate) answer_cache: usize,
    pub(crate) stats: Arc<Stats>,
}

fn host_addrs() -> Vec<Ipv4Addr> {
    crate::net::iface::list().into_iter().flat_map(|i| i.v4.into_iter().map(|(a, _)| a)).collect()
}

impl Dns {
    pub(crate) fn new(state: State, config: &Config, stats: Arc<Stats>) -> anyhow::Result<Dns> {
        let c = &config.dns;
        let key = c.tsig.as_ref().map(TsigKey::from_config).transpose().context("dns.tsig")?;
        let forwarder = (!c.forwarders.is_empty()).then(|| {
            Forwarder::new(c.forwarders.clone(), Duration::from_millis(c.forward_timeout_ms), c.forward_cache)
        });
        let world = state.snapshot();
        let layout = Arc::new(Layout::of(&world, &host_addrs()));
        Ok(Dns {
            state,
            settings: Settings { ttl: c.ttl, admin_name: c.admin_name.clone(), hostmaster: c.hostmaster.clone() },
            cached: ArcSwap::from_pointee(Cached { world, layout }),
            forwarder,
            key,
            secondaries: c.secondaries.clone(),
            journal: super::journal::Journal::default(),
            extra_clients: config.http.boot_clients.clone(),
            answer_cache: c.answer_cache,
            stats,
        })
    }

    /// The current snapshot and the layout of its networks.
    fn current(&self) -> (Arc<World>, Arc<Layout>) {
        let world = self.state.snapshot();
        let cached = self.cached.load();
        if cached.world.same_table::<Network>(&world) {
            return (world, cached.layout.clone());
        }
        let layout = Arc::new(Layout::of(&world, &host_addrs()));
        self.cached.store(Arc::new(Cached { world: world.clone(), layout: layout.clone() }));
        (world, layout)
    }

    /// The apex of every zone now.
    pub(crate) fn current_zones(&self) -> BTreeSet<String> {
        let (_, layout) = self.current();
        layout.catalog.zones().iter().map(|z| z.apex.clone()).collect()
    }

    /// Puts `zone` as it is now in the journal (IXFR's differences).
    pub(crate) fn observe(&self, zone: &str) {
        let (world, layout) = self.current();
        let view = View { world: &world, layout: &layout, settings: &self.settings };
        if let Some(z) = layout.catalog.get(zone) {
            self.journal.observe(zone, view.zone_records(z));
        }
    }

    /// A NOTIFY for `zone` as it is now: its id and bytes.
    pub(crate) fn notify_message(&self, zone: &str) -> Option<(u16, Vec<u8>)> {
        let (world, layout) = self.current();
        let view = View { world: &world, layout: &layout, settings: &self.settings };
        let z = layout.catalog.get(zone)?;
        super::notify::message(zone, view.soa(z), self.key.as_ref())
    }

    /// What Fulcrum would answer now to `name`/`qtype` (for the API): the
    /// rcode and the records of each section, or `None` when the name is
    /// outside the zones.
    pub(crate) fn show(&self, name: &str, qtype: RecordType) -> Option<Reply> {
        let (world, layout) = self.current();
        let view = View { world: &world, layout: &layout, settings: &self.settings };
        let q = Question {
            name: name.trim_end_matches('.').to_ascii_lowercase(),
            qtype,
            qclass: hickory_proto::rr::DNSClass::IN,
        };
        match answer(&view, &q) {
            Answer::Authoritative(r) => Some(r),
            Answer::Outside | Answer::Refused => None,
        }
    }

    /// The TTL of records that set none.
    pub(crate) fn default_ttl(&self) -> u32 {
        self.settings.ttl
    }

    /// Adds an operator record (see [`records::create`]).
    pub(crate) async fn add_record(&self, spec: RecordSpec) -> Result<Arc<DnsRecord>, DnsError> {
        self.state.write(move |txn| records::create(txn, spec)).await
    }

    /// Deletes an operator record by id.
    pub(crate) async fn delete_record(&self, id: String) -> Result<Arc<DnsRecord>, DnsError> {
        self.state.write(move |txn| records::delete(txn, &id)).await
    }

    /// Every zone with its serial.
    pub(crate) fn zones(&self) -> Vec<(String, u32)> {
        let (world, layout) = self.current();
        layout.catalog.zones().iter().map(|z| (z.apex.clone(), super::serial::of(&world, &z.apex))).collect()
    }

    /// Counts an answer sent from a UDP loop's cache as
    /// [`Handler::handle`] counts it.
    pub(crate) fn count_cached(&self, answer: &[u8]) {
        let qtype = question_type(answer).map_or("other", |t| type_name(RecordType::from(t)));
        self.stats.dns_queries.get_or_create(&Kind { r#type: qtype }).inc();
        bump(&self.stats.dns_answers);
        bump(&self.stats.dns_cached);
        let nxdomain = answer.get(3).is_some_and(|b| b & 0x0F == 3);
        if nxdomain {
            bump(&self.stats.dns_nxdomain);
        }
        let rcode = if nxdomain { "NXDOMAIN" } else { "NOERROR" };
        self.stats.dns_responses.get_or_create(&Rcode { rcode }).inc();
    }

    /// Whether `ip` may use the forwarder.
    fn may_forward(&self, world: &World, ip: IpAddr) -> bool {
        world.table::<Network>().serves_client(world.global_id(), ip, &self.extra_clients)
    }
}

/// hickory-server's request handler over [`Dns`].
#[derive(Clone)]
pub(crate) struct Handler(pub(crate) Arc<Dns>);

/// A response's sections and flags, before encoding.
struct Out {
    rcode: ResponseCode,
    authoritative: bool,
    recursion_available: bool,
    answers: Vec<Record>,
    authorities: Vec<Record>,
    additionals: Vec<Record>,
}

impl Out {
    fn rcode(rcode: ResponseCode) -> Out {
        Out {
            rcode,
            authoritative: false,
            recursion_available: false,
            answers: Vec::new(),
            authorities: Vec::new(),
            additionals: Vec::new(),
        }
    }
}

/// The question section a response echoes. hickory replays the request's
/// question bytes as they came; a name compressed by a pointer into the
/// request's header (or anywhere outside the question) would then point at
/// the response's own header and not decode. Such a question is encoded
/// afresh from what was parsed (`Some`); every other one is echoed as it
/// came (`None`).
fn reencoded(queries: &Queries) -> Option<Queries> {
    // Encoded where it will sit, after the 12-byte header, so that the
    // encoder's own compression pointers hold in the response.
    const HEADER: usize = 12;
    let mut fresh = vec![0; HEADER];
    let mut enc = BinEncoder::with_offset(&mut fresh, HEADER as u32);
    if queries.queries().iter().any(|q| q.emit(&mut enc).is_err()) || fresh[HEADER..] == *queries.as_bytes() {
        return None;
    }
    let mut dec = BinDecoder::new(&fresh);
    dec.read_slice(HEADER).ok()?;
    Queries::read(&mut dec, queries.len()).ok()
}

/// How the response is signed.
enum Signing<'k> {
    None,
    /// With the key, chained from the request's MAC.
    Chained {
        key: &'k TsigKey,
        prior: Vec<u8>,
    },
    /// The request's signature failed: an unsigned error TSIG.
    Error {
        key: &'k TsigKey,
        error: TsigError,
    },
}

impl Handler {
    /// Sends one response message; returns the MAC it was signed with.
    async fn send<R: ResponseHandler>(
        request: &Request,
        handle: &mut R,
        out: &Out,
        signing: &Signing<'_>,
        first: bool,
    ) -> (ResponseInfo, Option<Vec<u8>>) {
        let mut meta = Metadata::new(request.metadata.id, MessageType::Response, request.metadata.op_code);
        meta.authoritative = out.authoritative;
        meta.recursion_desired = request.metadata.recursion_desired;
        meta.recursion_available = out.recursion_available;
        meta.checking_disabled = request.metadata.checking_disabled;
        meta.response_code = out.rcode;
        let edns = request.edns.as_ref().map(|e| {
            let mut r = Edns::new();
            r.set_max_payload(udp_payload(e.max_payload()));
            r
        });
        let fresh = reencoded(&request.queries);
        let queries = fresh.as_ref().unwrap_or(&request.queries);
        let build = || {
            let mut b = MessageResponseBuilder::new(queries, None);
            if let Some(e) = &edns {
                b.edns(e);
            }
            b.build(meta, out.answers.iter(), out.authorities.iter(), std::iter::empty(), out.additionals.iter())
        };
        let mut response = build();
        let mut mac = None;
        match signing {
            Signing::None => {}
            Signing::Chained { key, prior } => {
                let mut bytes = Vec::with_capacity(512);
                let mut enc = BinEncoder::new(&mut bytes);
                if build().destructive_emit(&mut enc).is_ok() {
                    let sig = key.sign(&bytes, Some(prior), first, now());
                    mac = Some(sig.data.mac.clone());
                    response.set_signature(sig);
                }
            }
            Signing::Error { key, error } => {
                response.set_signature(key.error_record(request.metadata.id, *error, now()));
            }
        }
        match handle.send_response(response).await {
            Ok(info) => (info, mac),
            Err(e) => {
                tracing::debug!(error = %e, "dns response not sent");
                (failed(request), mac)
            }
        }
    }

    /// Whether `request` is answered without waiting on anything (all but
    /// the questions the forwarder takes).
    pub(crate) fn answers_in_place(&self, request: &Request) -> bool {
        let dns = &self.0;
        if dns.forwarder.is_none() || request.metadata.op_code != OpCode::Query {
            return true;
        }
        let [q] = request.queries.queries() else { return true };
        let (_, layout) = dns.current();
        layout.catalog.find(&plain(&q.name().into())).is_some()
    }

    /// Answers one request (the transport has parsed it), counting it by
    /// query type and its response by code.
    pub(crate) async fn handle<R: ResponseHandler>(&self, request: &Request, handle: R) -> ResponseInfo {
        let stats = &self.0.stats;
        let qtype = request.queries.queries().first().map_or("none", |q| type_name(q.query_type()));
        stats.dns_queries.get_or_create(&Kind { r#type: qtype }).inc();
        let info = self.answer_one(request, handle).await;
        stats.dns_responses.get_or_create(&Rcode { rcode: rcode_name(info.response_code) }).inc();
        info
    }

    async fn answer_one<R: ResponseHandler>(&self, request: &Request, mut handle: R) -> ResponseInfo {
        let dns = &self.0;
        // The key checks any signed request; an unsigned one is fine except
        // for a transfer when a key is set.
        let (check, signing) = match &dns.key {
            Some(key) => match key.check(request.as_slice(), now()) {
                Check::Valid { mac } => (true, Signing::Chained { key, prior: mac }),
                Check::Invalid(error) => {
                    bump(&dns.stats.dns_refused);
                    let out = Out::rcode(ResponseCode::NotAuth);
                    return Self::send(request, &mut handle, &out, &Signing::Error { key, error }, true).await.0;
                }
                Check::Unsigned => (false, Signing::None),
            },
            None => (false, Signing::None),
        };
        let op = request.metadata.op_code;
        if op != OpCode::Query {
            let rcode =
                if op == OpCode::Notify || op == OpCode::Update { ResponseCode::Refused } else { ResponseCode::NotImp };
            return Self::send(request, &mut handle, &Out::rcode(rcode), &signing, true).await.0;
        }
        let queries = request.queries.queries();
        if queries.len() != 1 || request.metadata.message_type != MessageType::Query {
            bump(&dns.stats.dns_formerr);
            return Self::send(request, &mut handle, &Out::rcode(ResponseCode::FormErr), &signing, true).await.0;
        }
        let lq = &queries[0];
        let q = Question { name: plain(&lq.name().into()), qtype: lq.query_type(), qclass: lq.query_class() };
        let (world, layout) = dns.current();
        let view = View { world: &world, layout: &layout, settings: &dns.settings };
        if matches!(q.qtype, RecordType::AXFR | RecordType::IXFR) {
            return self.transfer(request, handle, &view, &q, check, signing).await;
        }
        let out = match answer(&view, &q) {
            Answer::Authoritative(r) => {
                bump(&dns.stats.dns_answers);
                if r.rcode == ResponseCode::NXDomain {
                    bump(&dns.stats.dns_nxdomain);
                }
                Out {
                    rcode: r.rcode,
                    authoritative: true,
                    recursion_available: false,
                    answers: r.answers,
                    authorities: r.authorities,
                    additionals: r.additionals,
                }
            }
            Answer::Refused => {
                bump(&dns.stats.dns_refused);
                Out::rcode(ResponseCode::Refused)
            }
            Answer::Outside => match &dns.forwarder {
                Some(fwd) if request.metadata.recursion_desired && dns.may_forward(&world, request.src().ip()) => {
                    bump(&dns.stats.dns_forwarded);
                    match fwd.resolve(&lq.name().into(), q.qtype, q.qclass).await {
                        Some(f) => Out {
                            rcode: f.rcode,
                            authoritative: false,
                            recursion_available: true,
                            answers: f.answers,
                            authorities: f.authorities,
                            additionals: f.additionals,
                        },
                        None => {
                            let mut o = Out::rcode(ResponseCode::ServFail);
                            o.recursion_available = true;
                            o
                        }
                    }
                }
                _ => {
                    bump(&dns.stats.dns_refused);
                    Out::rcode(ResponseCode::Refused)
                }
            },
        };
        Self::send(request, &mut handle, &out, &signing, true).await.0
    }

    async fn transfer<R: ResponseHandler>(
        &self,
        request: &Request,
        mut handle: R,
        view: &View<'_>,
        q: &Question,
        signed: bool,
        mut signing: Signing<'_>,
    ) -> ResponseInfo {
        let dns = &self.0;
        let tcp = request.protocol() == hickory_server::net::xfer::Protocol::Tcp;
        let allowed =
            if dns.key.is_some() { signed } else { transfer::unsigned_allowed(request.src().ip(), &dns.secondaries) };
        let zone = view.layout.catalog.get(&q.name);
        let (Some(zone), true, true) = (zone, allowed, tcp || q.qtype == RecordType::IXFR) else {
            bump(&dns.stats.dns_refused);
            let rcode = if zone.is_none() { ResponseCode::NotAuth } else { ResponseCode::Refused };
            return Self::send(request, &mut handle, &Out::rcode(rcode), &signing, true).await.0;
        };
        bump(&dns.stats.dns_transfers);
        let messages = match q.qtype {
            RecordType::IXFR => {
                let client = request.authorities.iter().find_map(|r| match &r.data {
                    RData::SOA(s) => Some(s.serial),
                    _ => None,
                });
                let m = transfer::ixfr(view, zone, client, &dns.journal);
                // Over UDP only the "you are current" answer fits; else ask for TCP.
                if !tcp && (m.len() > 1 || m.first().is_some_and(|r| r.len() > 1)) {
                    let mut out = Out::rcode(ResponseCode::NoError);
                    out.authoritative = true;
                    out.answers = vec![view.soa(zone)];
                    return Self::send(request, &mut handle, &out, &signing, true).await.0;
                }
                m
            }
            _ => transfer::axfr(view, zone),
        };
        tracing::info!(zone = %zone.apex, client = %request.src(), kind = %q.qtype, messages = messages.len(), "zone transfer");
        let mut info = failed(request);
        for (i, records) in messages.into_iter().enumerate() {
            let out = Out {
                rcode: ResponseCode::NoError,
                authoritative: true,
                recursion_available: false,
                answers: records,
                authorities: Vec::new(),
                additionals: Vec::new(),
            };
            let (sent, mac) = Self::send(request, &mut handle, &out, &signing, i == 0).await;
            info = sent;
            if let (Signing::Chained { prior, .. }, Some(mac)) = (&mut signing, mac) {
                *prior = mac;
            }
        }
        info
    }
}

fn failed(request: &Request) -> ResponseInfo {
    let mut meta = Metadata::new(request.metadata.id, MessageType::Response, request.metadata.op_code);
    meta.response_code = ResponseCode::ServFail;
    hickory_proto::op::Header { metadata: meta, counts: Default::default() }.into()
}

#[async_trait::async_trait]
impl RequestHandler for Handler {
    async fn handle_request<R: ResponseHandler, T: Time>(&self, request: &Request, handle: R) -> ResponseInfo {
        self.handle(request, handle).await
    }
}

/// The running DNS service.
pub(crate) struct Service {
    pub(crate) addrs: Vec<SocketAddr>,
    server: hickory_server::Server<Handler>,
    udp: Vec<super::udp::Loops>,
    notifier: JoinHandle<()>,
    stop: CancellationToken,
}

/// UDP sockets per address: one per core, `SO_REUSEPORT`, so the kernel
/// spreads queries over the receive loops.
fn udp_sockets(addr: SocketAddr) -> std::io::Result<Vec<std::net::UdpSocket>> {
    use socket2::{Domain, Protocol, Socket, Type};
    let n = std::thread::available_parallelism().map_or(1, |n| n.get()).min(4);
    let mut out = Vec::new();
    let mut bound = addr;
    for _ in 0..n {
        let s = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
        s.set_reuse_port(true)?;
        if addr.is_ipv6() {
            s.set_only_v6(true)?;
        }
        s.set_nonblocking(true)?;
        s.set_recv_buffer_size(4 << 20).ok();
        s.bind(&bound.into())?;
        // Port 0: the others join the port the first one got.
        if let Some(a) = s.local_addr()?.as_socket() {
            bound = a;
        }
        out.push(s.into());
    }
    Ok(out)
}

impl Service {
    /// Binds every `dns.listen` address (UDP and TCP) and starts serving.
    pub(crate) async fn start(dns: Arc<Dns>, config: &Config) -> anyhow::Result<Service> {
        let mut server = hickory_server::Server::new(Handler(dns.clone()));
        let stop = CancellationToken::new();
        let mut addrs = Vec::new();
        let mut loops = Vec::new();
        for &listen in &config.dns.listen {
            let udp = udp_sockets(listen).with_context(|| format!("dns.listen {listen} (udp)"))?;
            let bound = udp.first().and_then(|s| s.local_addr().ok()).unwrap_or(listen);
            let tcp =
                tokio::net::TcpListener::bind(bound).await.with_context(|| format!("dns.listen {bound} (tcp)"))?;
            let rt = tokio::runtime::Handle::current();
            loops.push(super::udp::Loops::start(udp, Handler(dns.clone()), rt, stop.clone())?);
            server.register_listener(tcp, TCP_TIMEOUT, 64 * 1024);
            tracing::info!(addr = %bound, "dns listening (udp, tcp)");
            addrs.push(bound);
        }
        let notifier = tokio::spawn(super::notify::run(dns.clone(), stop.clone()));
        Ok(Service { addrs, server, udp: loops, notifier, stop })
    }

    /// Stops the listeners and the notifier, and waits for both.
    pub(crate) async fn shutdown(mut self) {
        self.stop.cancel();
        if let Err(e) = self.server.shutdown_gracefully().await {
            tracing::warn!(error = %e, "dns server shutdown");
        }
        for l in std::mem::take(&mut self.udp) {
            l.join().await;
        }
        if self.notifier.await.is_err() {
            tracing::error!("the dns notifier panicked");
        }
    }
}

/// The type of a message's first question, read from its wire form (a
/// cached answer of Fulcrum's own, whose question is never compressed).
fn question_type(msg: &[u8]) -> Option<u16> {
    let mut at = 12;
    loop {
        let len = usize::from(*msg.get(at)?);
        if len == 0 {
            break;
        }
        if len & 0xC0 != 0 {
            return None;
        }
        at += 1 + len;
    }
    Some(u16::from_be_bytes([*msg.get(at + 1)?, *msg.get(at + 2)?]))
}

/// A query type's name for the metrics: the common ones, else `other`
/// (a label per possible type would let clients make series at will).
fn type_name(t: RecordType) -> &'static str {
    match t {
        RecordType::A => "A",
        RecordType::AAAA => "AAAA",
        RecordType::PTR => "PTR",
        RecordType::SOA => "SOA",
        RecordType::NS => "NS",
        RecordType::CNAME => "CNAME",
        RecordType::MX => "MX",
        RecordType::TXT => "TXT",
        RecordType::SRV => "SRV",
        RecordType::ANY => "ANY",
        RecordType::AXFR => "AXFR",
        RecordType::IXFR => "IXFR",
        RecordType::CAA => "CAA",
        RecordType::HTTPS => "HTTPS",
        RecordType::SVCB => "SVCB",
        _ => "other",
    }
}

/// A response code's name for the metrics.
fn rcode_name(r: ResponseCode) -> &'static str {
    match r {
        ResponseCode::NoError => "NOERROR",
        ResponseCode::FormErr => "FORMERR",
        ResponseCode::ServFail => "SERVFAIL",
        ResponseCode::NXDomain => "NXDOMAIN",
        ResponseCode::NotImp => "NOTIMP",
        ResponseCode::Refused => "REFUSED",
        ResponseCode::NotAuth => "NOTAUTH",
        _ => "other",
    }
}
