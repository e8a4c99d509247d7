//! Forwarding for the nodes: a name outside the cluster's zones is asked
//! of the configured upstream resolvers (UDP, then TCP when the answer was
//! truncated), each given the configured time; the upstream's answer is
//! passed on whole (rcode, answer, authority, additional) and cached for
//! its smallest TTL (a negative answer for its SOA's minimum), capped.
//! Only clients on the served networks (and loopback) are served; the
//! server refuses everyone else before it gets here. A small forwarder of
//! its own rather than hickory-resolver: the resolver's lookup API hands
//! back records, not the upstream's whole response with its rcode and SOA.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Longest a forwarded answer is cached.
const MAX_CACHE_TTL: u32 = 3600;
/// Largest UDP answer asked of an upstream.
const UPSTREAM_PAYLOAD: u16 = 1232;

/// A forwarded answer's sections.
#[derive(Clone, Debug)]
pub(crate) struct Forwarded {
    pub(crate) rcode: ResponseCode,
    pub(crate) answers: Vec<Record>,
    pub(crate) authorities: Vec<Record>,
    pub(crate) additionals: Vec<Record>,
}

struct Entry {
    answer: Forwarded,
    stored: Instant,
    ttl: u32,
}

type Key = (Name, RecordType, DNSClass);

/// The upstreams, their timeout and the cache.
pub(crate) struct Forwarder {
    upstreams: Vec<SocketAddr>,
    timeout: Duration,
    capacity: usize,
    cache: Mutex<HashMap<Key, Entry>>,
}

impl Forwarder {
    pub(crate) fn new(upstreams: Vec<SocketAddr>, timeout: Duration, capacity: usize) -> Forwarder {
        Forwarder { upstreams, timeout, capacity, cache: Mutex::new(HashMap::new()) }
    }

    fn cached(&self, key: &Key) -> Option<Forwarded> {
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        let e = cache.get(key)?;
        let age = u32::try_from(e.stored.elapsed().as_secs()).unwrap_or(u32::MAX);
        if age >= e.ttl {
            cache.remove(key);
            return None;
        }
        let mut a = e.answer.clone();
        for r in a.answers.iter_mut().chain(&mut a.authorities).chain(&mut a.additionals) {
            r.ttl = r.ttl.saturating_sub(age);
        }
        Some(a)
    }

    fn store(&self, key: Key, answer: &Forwarded) {
        let ttl = match answer.rcode {
            ResponseCode::NoError | ResponseCode::NXDomain => cache_ttl(answer),
            _ => 0,
        };
        if ttl == 0 {
            return;
        }
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() >= self.capacity {
            // Expired entries first; if none, any one (bounded memory over
            // perfect recency).
            cache.retain(|_, e| e.stored.elapsed().as_secs() < u64::from(e.ttl));
            if cache.len() >= self.capacity {
                if let Some(k) = cache.keys().next().cloned() {
                    cache.remove(&k);
                }
            }
        }
        cache.insert(key, Entry { answer: answer.clone(), stored: Instant::now(), ttl });
    }

    /// The upstreams' answer to `name`/`qtype`, from the cache when fresh;
    /// `None` when no upstream answered in time.
    pub(crate) async fn resolve(&self, name: &Name, qtype: RecordType, qclass: DNSClass) -> Option<Forwarded> {
        let key = (name.to_lowercase(), qtype, qclass);
        if let Some(hit) = self.cached(&key) {
            return Some(hit);
        }
        let mut q = Message::new(rand::random(), MessageType::Query, OpCode::Query);
        q.metadata.recursion_desired = true;
        let mut query = Query::query(name.clone(), qtype);
        query.set_query_class(qclass);
        q.add_query(query);
        let mut edns = Edns::new();
        edns.set_max_payload(UPSTREAM_PAYLOAD);
        q.set_edns(edns);
        let bytes = q.to_vec().ok()?;
        for up in &self.upstreams {
            let got = tokio::time::timeout(self.timeout, ask(*up, &bytes, q.metadata.id)).await;
            if let Ok(Some(m)) = got {
                let answer = Forwarded {
                    rcode: m.metadata.response_code,
                    answers: m.answers,
                    authorities: m.authorities,
                    additionals: m.additionals,
                };
                self.store(key, &answer);
                return Some(answer);
            }
        }
        None
    }
}

/// The smallest TTL in the answer, or the SOA minimum of a negative one.
fn cache_ttl(a: &Forwarded) -> u32 {
    let soa_min = a.authorities.iter().find_map(|r| match &r.data {
        RData::SOA(s) => Some(s.minimum.min(r.ttl)),
        _ => None,
    });
    let ttl =
        if a.answers.is_empty() { soa_min.unwrap_or(0) } else { a.answers.iter().map(|r| r.ttl).min().unwrap_or(0) };
    ttl.min(MAX_CACHE_TTL)
}

/// One exchange with one upstream: UDP, and TCP if the answer was cut.
async fn ask(up: SocketAddr, bytes: &[u8], id: u16) -> Option<Message> {
    let local: SocketAddr = if up.is_ipv4() { ([0, 0, 0, 0], 0).into() } else { ([0u16; 8], 0).into() };
    let sock = tokio::net::UdpSocket::bind(local).await.ok()?;
    sock.connect(up).await.ok()?;
    sock.send(bytes).await.ok()?;
    let mut buf = vec![0u8; 65535];
    let m = loop {
        let n = sock.recv(&mut buf).await.ok()?;
        match Message::from_vec(&buf[..n]) {
            Ok(m) if m.metadata.id == id && m.metadata.message_type == MessageType::Response => break m,
            // Not ours (a late answer, noise): keep waiting, the caller's timeout bounds it.
            _ => continue,
        }
    };
    if !m.metadata.truncation {
        return Some(m);
    }
    let mut tcp = tokio::net::TcpStream::connect(up).await.ok()?;
    let len = u16::try_from(bytes.len()).ok()?;
    tcp.write_all(&len.to_be_bytes()).await.ok()?;
    tcp.write_all(bytes).await.ok()?;
    let n = usize::from(tcp.read_u16().await.ok()?);
    let mut body = vec![0u8; n];
    tcp.read_exact(&mut body).await.ok()?;
    Message::from_vec(&body).ok().filter(|m| m.metadata.id == id)
}
