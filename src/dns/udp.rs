//! Fulcrum's own UDP receive loops. hickory-server's UDP transport spawns a
//! task and passes a channel per datagram; on the benchmark (BENCHMARKS.md,
//! "DNS queries/s") that held Fulcrum to 0.46x Knot's rate. Here each
//! `SO_REUSEPORT` socket has a thread that receives, parses with
//! hickory-server's own parser, answers authoritative questions in place
//! (the handler's future is ready at once: no await but the send), and
//! sends the encoding hickory-server would (the client's EDNS payload, 512
//! without EDNS, TC when it does not fit), keeping it in the loop's
//! [`AnswerCache`] for the next time the same question comes while the
//! tables answers are made from have not changed. Questions the forwarder
//! answers go to the tokio runtime, which replies from the same socket.

use std::net::{SocketAddr, UdpSocket};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use hickory_proto::op::{Header, HeaderCounts, MessageType, Metadata, OpCode, ResponseCode};
use hickory_proto::rr::Record;
use hickory_proto::serialize::binary::{BinDecodable, BinDecoder, BinEncodable, BinEncoder};
use hickory_server::net::xfer::Protocol;
use hickory_server::net::NetError;
use hickory_server::server::{Request, ResponseHandler, ResponseInfo};
use hickory_server::zone_handler::MessageResponse;
use tokio_util::sync::CancellationToken;

use super::cache::{self, AnswerCache};
use super::server::Handler;

/// How often a receive loop looks at the stop token.
const POLL: Duration = Duration::from_millis(200);

/// Encodes a response as hickory-server's UDP transport does.
pub(crate) fn encode_udp<'a>(
    response: MessageResponse<
        '_,
        'a,
        impl Iterator<Item = &'a Record> + Send + 'a,
        impl Iterator<Item = &'a Record> + Send + 'a,
        impl Iterator<Item = &'a Record> + Send + 'a,
        impl Iterator<Item = &'a Record> + Send + 'a,
    >,
) -> Result<(ResponseInfo, Vec<u8>), NetError> {
    let id = response.metadata().id;
    let op = response.metadata().op_code;
    let max = response.edns().map_or(512, |e| e.max_payload());
    let mut bytes = Vec::with_capacity(512);
    let mut enc = BinEncoder::new(&mut bytes);
    enc.set_max_size(max);
    match response.destructive_emit(&mut enc) {
        Ok(info) => Ok((info, bytes)),
        Err(e) => {
            tracing::debug!(error = %e, "dns answer not encodable; SERVFAIL");
            Ok(servfail(id, op))
        }
    }
}

fn servfail(id: u16, op: OpCode) -> (ResponseInfo, Vec<u8>) {
    let mut metadata = Metadata::new(id, MessageType::Response, op);
    metadata.response_code = ResponseCode::ServFail;
    let header = Header { metadata, counts: HeaderCounts::default() };
    let mut bytes = Vec::with_capacity(12);
    let _ = header.emit(&mut BinEncoder::new(&mut bytes));
    (header.into(), bytes)
}

/// Collects what the handler sends, encoded for UDP.
#[derive(Clone, Default)]
pub(crate) struct Collected(pub(crate) Arc<Mutex<Vec<Vec<u8>>>>);

#[async_trait::async_trait]
impl ResponseHandler for Collected {
    async fn send_response<'a>(
        &mut self,
        response: MessageResponse<
            '_,
            'a,
            impl Iterator<Item = &'a Record> + Send + 'a,
            impl Iterator<Item = &'a Record> + Send + 'a,
            impl Iterator<Item = &'a Record> + Send + 'a,
            impl Iterator<Item = &'a Record> + Send + 'a,
        >,
    ) -> Result<ResponseInfo, NetError> {
        let (info, bytes) = encode_udp(response)?;
        self.0.lock().unwrap_or_else(|p| p.into_inner()).push(bytes);
        Ok(info)
    }
}

/// Sends the handler's answers from a socket to one client.
#[derive(Clone)]
struct Reply {
    sock: Arc<UdpSocket>,
    to: SocketAddr,
}

#[async_trait::async_trait]
impl ResponseHandler for Reply {
    async fn send_response<'a>(
        &mut self,
        response: MessageResponse<
            '_,
            'a,
            impl Iterator<Item = &'a Record> + Send + 'a,
            impl Iterator<Item = &'a Record> + Send + 'a,
            impl Iterator<Item = &'a Record> + Send + 'a,
            impl Iterator<Item = &'a Record> + Send + 'a,
        >,
    ) -> Result<ResponseInfo, NetError> {
        let (info, bytes) = encode_udp(response)?;
        self.sock.send_to(&bytes, self.to).map_err(NetError::from)?;
        Ok(info)
    }
}

/// The receive loops, until stopped.
pub(crate) struct Loops {
    threads: Vec<JoinHandle<()>>,
}

impl Loops {
    /// Starts one loop per socket.
    pub(crate) fn start(
        sockets: Vec<UdpSocket>,
        handler: Handler,
        rt: tokio::runtime::Handle,
        stop: CancellationToken,
    ) -> std::io::Result<Loops> {
        let mut threads = Vec::new();
        for (i, s) in sockets.into_iter().enumerate() {
            s.set_nonblocking(false)?;
            s.set_read_timeout(Some(POLL))?;
            let (h, rt, stop) = (handler.clone(), rt.clone(), stop.clone());
            let sock = Arc::new(s);
            threads.push(
                std::thread::Builder::new().name(format!("dns-udp-{i}")).spawn(move || serve(sock, h, rt, stop))?,
            );
        }
        Ok(Loops { threads })
    }

    /// Waits for the loops to see the stop.
    pub(crate) async fn join(self) {
        let threads = self.threads;
        let joined = tokio::task::spawn_blocking(move || threads.into_iter().all(|t| t.join().is_ok())).await;
        if !matches!(joined, Ok(true)) {
            tracing::error!("a dns receive loop panicked");
        }
    }
}

fn serve(sock: Arc<UdpSocket>, handler: Handler, rt: tokio::runtime::Handle, stop: CancellationToken) {
    let mut buf = vec![0u8; 65535];
    let mut cache = AnswerCache::new(handler.0.answer_cache);
    let mut cached = Vec::with_capacity(512);
    let mut keybuf = Vec::with_capacity(512);
    while !stop.is_cancelled() {
        let (n, from) = match sock.recv_from(&mut buf) {
            Ok(r) => r,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut | std::io::ErrorKind::Interrupted
                ) =>
            {
                continue
            }
            Err(e) => {
                tracing::warn!(error = %e, "dns udp receive");
                continue;
            }
        };
        if from.port() == 0 {
            continue;
        }
        let raw = &buf[..n];
        let key = cache::key(raw, &mut keybuf);
        // Taken before the handler takes its own (this one or a later one),
        // and only for a query the cache may answer: an entry kept under it
        // but built from a later snapshot whose tables differ is dropped by
        // the next query's `follow`.
        let basis = key.map(|_| cache::Basis(handler.0.state.snapshot()));
        if let (Some(k), Some(b)) = (key, &basis) {
            cache.follow(b.clone());
            if cache.answer(k, u16::from_be_bytes([raw[0], raw[1]]), &mut cached) {
                handler.0.count_cached(&cached);
                if let Err(e) = sock.send_to(&cached, from) {
                    tracing::debug!(error = %e, %from, "dns answer not sent");
                }
                continue;
            }
        }
        let request = match Request::from_bytes(raw.to_vec(), from, Protocol::Udp) {
            Ok(r) => r,
            Err(_) => {
                // As hickory-server does: FORMERR to a message with a header, nothing to less.
                if let Ok(h) = Header::read(&mut BinDecoder::new(raw)) {
                    if h.metadata.message_type == MessageType::Query {
                        crate::stats::bump(&handler.0.stats.dns_formerr);
                        let mut m = Metadata::new(h.metadata.id, MessageType::Response, h.metadata.op_code);
                        m.response_code = ResponseCode::FormErr;
                        let mut bytes = Vec::with_capacity(12);
                        if (Header { metadata: m, counts: HeaderCounts::default() })
                            .emit(&mut BinEncoder::new(&mut bytes))
                            .is_ok()
                        {
                            let _ = sock.send_to(&bytes, from);
                        }
                    }
                }
                continue;
            }
        };
        if !handler.answers_in_place(&request) {
            let (h, reply) = (handler.clone(), Reply { sock: sock.clone(), to: from });
            rt.spawn(async move {
                h.handle(&request, reply).await;
            });
            continue;
        }
        let out = Collected::default();
        // Inside the runtime's context: should the networks change between
        // the check and the answer, the forwarder's sockets still work.
        let _runtime = rt.enter();
        futures_lite::future::block_on(handler.handle(&request, out.clone()));
        let answers = std::mem::take(&mut *out.0.lock().unwrap_or_else(|p| p.into_inner()));
        if let (Some(k), Some(b), [one]) = (key, &basis, answers.as_slice()) {
            cache.keep(b, k, one);
        }
        for bytes in answers {
            if let Err(e) = sock.send_to(&bytes, from) {
                tracing::debug!(error = %e, %from, "dns answer not sent");
            }
        }
    }
}
