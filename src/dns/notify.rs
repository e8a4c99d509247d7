//! NOTIFY (RFC 1996): when a zone's serial changes (its `dns_serial`
//! record on the change feed), the zone goes into the journal (IXFR) and
//! each secondary is told over UDP, signed
//! with the TSIG key when one is set, and told again (up to five times, a
//! second apart) until it acknowledges. At start-up every zone is
//! announced once, so secondaries catch up with what changed while
//! Fulcrum was down.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hickory_proto::op::{Message, MessageType, OpCode, Query};
use hickory_proto::rr::RecordType;
use tokio::sync::broadcast::error::RecvError;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::lookup::dns_name;
use super::serial::ZoneSerial;
use super::server::Dns;
use crate::state::Record;
use crate::types::time::now;

/// Tries per secondary and zone, and the wait for each acknowledgement.
const TRIES: usize = 5;
const WAIT: Duration = Duration::from_secs(1);
/// Changes that arrive this close together are announced once.
const SETTLE: Duration = Duration::from_millis(50);

/// Announces serial changes until `stop`.
pub(crate) async fn run(dns: Arc<Dns>, stop: CancellationToken) {
    if dns.secondaries.is_empty() {
        return;
    }
    let mut feed = dns.state.subscribe();
    let mut sends = JoinSet::new();
    let mut due: BTreeSet<String> = dns.current_zones();
    loop {
        if !due.is_empty() {
            for zone in std::mem::take(&mut due) {
                dns.observe(&zone);
                for &to in &dns.secondaries {
                    sends.spawn(notify(dns.clone(), zone.clone(), to));
                }
            }
        }
        tokio::select! {
            () = stop.cancelled() => break,
            Some(_) = sends.join_next(), if !sends.is_empty() => {}
            change = feed.recv() => match change {
                Ok(c) if c.kind == ZoneSerial::KIND => {
                    due.insert(c.key);
                    tokio::time::sleep(SETTLE).await;
                }
                Ok(_) => {}
                Err(RecvError::Lagged(_)) => due = dns.current_zones(),
                Err(RecvError::Closed) => break,
            },
        }
    }
    sends.abort_all();
    while sends.join_next().await.is_some() {}
}

/// Tells `to` that `zone` changed, until it answers or the tries run out.
async fn notify(dns: Arc<Dns>, zone: String, to: SocketAddr) {
    let local: SocketAddr = if to.is_ipv4() { ([0, 0, 0, 0], 0).into() } else { ([0u16; 8], 0).into() };
    let Ok(sock) = tokio::net::UdpSocket::bind(local).await else { return };
    if sock.connect(to).await.is_err() {
        return;
    }
    for attempt in 1..=TRIES {
        let Some((id, bytes)) = dns.notify_message(&zone) else { return };
        if sock.send(&bytes).await.is_err() {
            tracing::warn!(%zone, %to, "NOTIFY could not be sent");
            return;
        }
        crate::stats::bump(&dns.stats.dns_notifies);
        let mut buf = vec![0u8; 4096];
        let acked = tokio::time::timeout(WAIT, async {
            loop {
                let Ok(n) = sock.recv(&mut buf).await else { return false };
                if let Ok(m) = Message::from_vec(&buf[..n]) {
                    if m.metadata.id == id && m.metadata.message_type == MessageType::Response {
                        return true;
                    }
                }
            }
        })
        .await;
        if acked == Ok(true) {
            tracing::debug!(%zone, %to, attempt, "NOTIFY acknowledged");
            return;
        }
    }
    tracing::warn!(%zone, %to, "NOTIFY not acknowledged after {TRIES} tries");
}

/// A NOTIFY for `zone` carrying its SOA, signed with `key` if given.
pub(crate) fn message(
    zone: &str,
    soa: hickory_proto::rr::Record,
    key: Option<&super::tsig::TsigKey>,
) -> Option<(u16, Vec<u8>)> {
    let id: u16 = rand::random();
    let mut m = Message::new(id, MessageType::Query, OpCode::Notify);
    m.metadata.authoritative = true;
    m.add_query(Query::query(dns_name(zone), RecordType::SOA));
    m.add_answer(soa);
    let unsigned = m.to_vec().ok()?;
    match key {
        Some(k) => {
            m.signature = Some(k.sign(&unsigned, None, true, now()));
            Some((id, m.to_vec().ok()?))
        }
        None => Some((id, unsigned)),
    }
}
