//! The cluster's authoritative DNS server, answering from live state. It
//! owns two record kinds: operator records ([`records`]) and zone serials
//! ([`serial`], bumped in the commit of every change that touches a zone).
//! The zones themselves are derived, never stored: [`zones`] from the
//! networks, [`lookup`] what is at a name (nodes' A and AAAA, PTRs, the
//! admin node, operator records), [`answer`] one question's reply;
//! [`transfer`] AXFR/IXFR, [`journal`] the differences IXFR sends, [`tsig`] the shared key, [`notify`] the
//! secondaries, [`forward`] names outside the zones; [`server`] the
//! request handler and TCP (hickory-server), [`udp`] the UDP receive loops,
//! [`cache`] their answer caches.

pub(crate) mod answer;
pub(crate) mod cache;
pub(crate) mod error;
pub(crate) mod forward;
pub(crate) mod journal;
pub(crate) mod lookup;
pub(crate) mod notify;
pub(crate) mod records;
pub(crate) mod serial;
pub(crate) mod server;
pub(crate) mod transfer;
pub(crate) mod tsig;
pub(crate) mod udp;
pub(crate) mod zones;

pub(crate) use error::DnsError;

/// Registers the DNS room's record kinds, its cascade and its serial derive.
pub(crate) fn register(schema: &mut crate::state::Schema) {
    records::register(schema);
    serial::register(schema);
}
