//! The answer cache of one UDP receive loop: the encoded authoritative
//! answer to a plain query, keyed by the query's bytes after its id, and
//! valid while the tables answers are made from (nodes, networks,
//! operator records, zone serials: a [`Basis`]) stay the very same. Every
//! query compares the snapshot it would be answered from with the one the
//! cache was filled from, and empties the cache when one of those tables
//! differs, so a change through the API is still in the very next answer,
//! while lease and engine writes leave the cache alone (the race tests in
//! `tests/it/dns.rs` go through this path). It is a packet cache in the
//! sense of PowerDNS's: it skips parsing and building, not the state.
//!
//! Only queries whose answer depends on nothing but the query and the
//! state are kept: opcode QUERY, one question, not a transfer, no TSIG,
//! at most an OPT record, nothing after it; and only
//! authoritative answers (AA set, NOERROR or NXDOMAIN). Forwarded and
//! refused answers depend on the client's address and are never kept.

use std::collections::HashMap;
use std::sync::Arc;

use super::records::DnsRecord;
use super::serial::ZoneSerial;
use super::server::udp_payload;
use crate::inventory::network::Network;
use crate::inventory::node::Node;
use crate::state::World;

/// The snapshot a cache's answers come from, compared by the tables
/// [`super::lookup`] reads. It holds the snapshot, so no table it points
/// at is freed and its address reused while it is compared.
#[derive(Clone)]
pub(crate) struct Basis(pub(crate) Arc<World>);

impl PartialEq for Basis {
    fn eq(&self, other: &Basis) -> bool {
        let (a, b) = (&self.0, &other.0);
        Arc::ptr_eq(a, b)
            || (a.same_table::<Node>(b)
                && a.same_table::<Network>(b)
                && a.same_table::<DnsRecord>(b)
                && a.same_table::<ZoneSerial>(b))
    }
}

/// The header's length, and where its counts start.
const HEADER: usize = 12;
/// An OPT record before its options: root name, type, class, TTL, RDLENGTH.
const OPT_FIXED: usize = 11;
/// Most bytes (keys and answers) one loop's cache holds, whatever its
/// entry count: 65,536 answers of the largest UDP size would be ~90 MiB.
const MAX_BYTES: usize = 32 << 20;

/// The bytes a cached answer is found by, written to `buf`, when the query
/// may be answered from the cache: everything after the id, up to the OPT
/// record's options, with the OPT's payload size as the answer uses it
/// ([`udp_payload`], so that sizes the answer does not tell apart share
/// one entry). The options are left out because no answer of
/// Fulcrum's depends on them (it echoes none: no cookies, no NSID), so a
/// resolver's per-client cookie does not defeat the cache; only cookies and
/// padding are taken, and they must be well formed.
pub(crate) fn key<'b>(query: &[u8], buf: &'b mut Vec<u8>) -> Option<&'b [u8]> {
    if query.len() < HEADER + 5 {
        return None;
    }
    let flags = u16::from_be_bytes([query[2], query[3]]);
    // QR=0 (a query), opcode 0 (QUERY), no TC.
    if flags & 0x8000 != 0 || (flags >> 11) & 0xF != 0 || flags & 0x0200 != 0 {
        return None;
    }
    let count = |at: usize| u16::from_be_bytes([query[at], query[at + 1]]);
    let (qd, an, ns, ar) = (count(4), count(6), count(8), count(10));
    if qd != 1 || an != 0 || ns != 0 || ar > 1 {
        return None;
    }
    // The question's name: uncompressed labels up to the root.
    let mut at = HEADER;
    loop {
        let len = *query.get(at)? as usize;
        if len == 0 {
            at += 1;
            break;
        }
        if len > 63 {
            return None;
        }
        at += 1 + len;
    }
    // At most 255 bytes of name on the wire (RFC 1035 3.1), as the parser holds it.
    if at - HEADER > 255 {
        return None;
    }
    let qtype = u16::from_be_bytes([*query.get(at)?, *query.get(at + 1)?]);
    // AXFR and IXFR depend on who asks.
    if qtype == 251 || qtype == 252 || query.len() < at + 4 {
        return None;
    }
    at += 4;
    if ar == 0 {
        if query.len() != at {
            return None;
        }
        buf.clear();
        buf.extend_from_slice(&query[2..]);
        return Some(buf);
    }
    // One OPT record: root owner, type 41, then its options to the end.
    let opt = query.get(at..at + OPT_FIXED)?;
    if opt[0] != 0 || opt[1..3] != [0, 41] {
        return None;
    }
    let rdlength = u16::from_be_bytes([opt[9], opt[10]]) as usize;
    let options = query.get(at + OPT_FIXED..)?;
    if options.len() != rdlength || !well_formed(options) {
        return None;
    }
    // Up to the OPT's TTL (extended rcode, version, DO): not its RDLENGTH.
    buf.clear();
    buf.extend_from_slice(&query[2..at + OPT_FIXED - 2]);
    let size = udp_payload(u16::from_be_bytes([opt[3], opt[4]]));
    buf[at + 3 - 2..at + 5 - 2].copy_from_slice(&size.to_be_bytes());
    Some(buf)
}

/// Whether EDNS option bytes are whole (code, length, data) records, each
/// a client cookie (RFC 7873: 8 bytes, or 16 to 40 with a server cookie)
/// or padding (RFC 7830). Any other option takes the full path, where
/// hickory-proto checks it (a malformed client subnet is a FORMERR there;
/// the fuzz target `dns` holds the two paths to the same answer).
fn well_formed(mut options: &[u8]) -> bool {
    const COOKIE: u16 = 10;
    const PADDING: u16 = 12;
    while !options.is_empty() {
        let Some(head) = options.get(..4) else { return false };
        let (code, len) = (u16::from_be_bytes([head[0], head[1]]), u16::from_be_bytes([head[2], head[3]]) as usize);
        let fits = match code {
            COOKIE => len == 8 || (16..=40).contains(&len),
            PADDING => true,
            _ => false,
        };
        let Some(rest) = options.get(4 + len..).filter(|_| fits) else { return false };
        options = rest;
    }
    true
}

/// Whether an encoded answer may be kept: authoritative, NOERROR or
/// NXDOMAIN.
pub(crate) fn keepable(answer: &[u8]) -> bool {
    answer.len() >= HEADER && answer[2] & 0x04 != 0 && matches!(answer[3] & 0x0F, 0 | 3)
}

/// One loop's cache, over snapshots told apart by `B` ([`Basis`]; tests
/// use numbers).
pub(crate) struct AnswerCache<B = Basis> {
    /// What every entry was answered from (the latest alike snapshot).
    basis: Option<B>,
    /// Answers by query bytes after the id; each answer's id is zero.
    entries: HashMap<Box<[u8]>, Box<[u8]>>,
    /// The keys' and answers' bytes.
    bytes: usize,
    capacity: usize,
}

impl<B: PartialEq> AnswerCache<B> {
    /// A cache holding at most `capacity` answers (0: nothing is kept).
    pub(crate) fn new(capacity: usize) -> AnswerCache<B> {
        AnswerCache { basis: None, entries: HashMap::new(), bytes: 0, capacity }
    }

    /// Forgets everything unless it was answered from a snapshot alike
    /// `basis`; then follows `basis`.
    pub(crate) fn follow(&mut self, basis: B) {
        if self.basis.as_ref() != Some(&basis) {
            self.clear();
        }
        self.basis = Some(basis);
    }

    /// Writes the answer to the query with `key` and `id` into `out`, when
    /// it is kept.
    pub(crate) fn answer(&self, key: &[u8], id: u16, out: &mut Vec<u8>) -> bool {
        let Some(a) = self.entries.get(key) else { return false };
        out.clear();
        out.extend_from_slice(a);
        out[..2].copy_from_slice(&id.to_be_bytes());
        true
    }

    /// Keeps `answer` for `key`, when it was answered from the snapshot the
    /// cache follows and there is room (a full cache starts again: the
    /// answers asked for most come back first).
    pub(crate) fn keep(&mut self, basis: &B, key: &[u8], answer: &[u8]) {
        if self.capacity == 0 || !keepable(answer) || self.basis.as_ref() != Some(basis) {
            return;
        }
        let size = key.len() + answer.len();
        if self.entries.len() >= self.capacity || self.bytes + size > MAX_BYTES {
            self.clear();
        }
        self.bytes += size;
        let mut a: Box<[u8]> = answer.into();
        a[..2].copy_from_slice(&[0, 0]);
        self.entries.insert(key.into(), a);
    }

    fn clear(&mut self) {
        self.entries.clear();
        self.bytes = 0;
    }

    /// How many answers are kept.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The key of `q`, owned.
    fn k(q: &[u8]) -> Option<Vec<u8>> {
        key(q, &mut Vec::new()).map(<[u8]>::to_vec)
    }

    /// `node1.lab.` A IN, id 0x1234, RD, with or without a bare OPT.
    fn query(opt: bool) -> Vec<u8> {
        let mut q = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, u8::from(opt)];
        q.extend_from_slice(b"\x05node1\x03lab\x00\x00\x01\x00\x01");
        if opt {
            q.extend_from_slice(&[0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 0]);
        }
        q
    }

    #[test]
    fn plain_queries_have_keys() {
        let q = query(false);
        assert_eq!(k(&q).as_deref(), Some(&q[2..]));
        let q = query(true);
        assert_eq!(k(&q).as_deref(), Some(&q[2..q.len() - 2]), "all but the OPT's RDLENGTH");
    }

    #[test]
    fn options_are_left_out_of_the_key() {
        let bare = query(true);
        let mut cookie = query(true);
        let n = cookie.len();
        cookie[n - 1] = 12;
        cookie.extend_from_slice(&[0, 10, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(k(&cookie), k(&bare));
        let mut other_size = query(true);
        other_size[HEADER + 15 + 4] = 0x02; // CLASS: the payload size
        assert_ne!(k(&other_size), k(&bare));
        // Payload sizes the answer does not tell apart share a key.
        let sized = |size: u16| {
            let mut q = query(true);
            q[HEADER + 15 + 3..HEADER + 15 + 5].copy_from_slice(&size.to_be_bytes());
            k(&q)
        };
        assert_eq!(sized(4096), sized(1232));
        assert_eq!(sized(65535), sized(1232));
        assert_eq!(sized(100), sized(512));
        assert_ne!(sized(1000), sized(1232));
        let mut dnssec_ok = query(true);
        dnssec_ok[HEADER + 15 + 7] = 0x80;
        assert_ne!(k(&dnssec_ok), k(&bare));
    }

    #[test]
    fn everything_else_has_none() {
        let mut response = query(false);
        response[2] |= 0x80;
        let mut notify = query(false);
        notify[2] |= 4 << 3;
        let mut trailing = query(false);
        trailing.push(0);
        let mut axfr = query(false);
        let n = axfr.len();
        axfr[n - 3] = 252;
        let mut short_option = query(true);
        short_option[HEADER + 15 + 10] = 6; // RDLENGTH 6 ...
        short_option.extend_from_slice(&[0, 10, 0, 8, 1, 2]); // ... an option claiming 8 bytes
        let option = |code: u8, data: &[u8]| {
            let mut q = query(true);
            q[HEADER + 15 + 10] = 4 + data.len() as u8;
            q.extend_from_slice(&[0, code, 0, data.len() as u8]);
            q.extend_from_slice(data);
            q
        };
        let subnet = option(8, &[0, 1, 24, 0, 10, 0, 0]);
        let odd_cookie = option(10, &[1; 9]);
        assert!(k(&option(10, &[1; 8])).is_some() && k(&option(10, &[1; 24])).is_some());
        assert!(k(&option(12, &[0; 30])).is_some(), "padding");
        let mut short_rdata = query(true);
        short_rdata[HEADER + 15 + 10] = 4; // RDLENGTH 4, nothing after
        let mut two_additionals = query(true);
        two_additionals[11] = 2;
        let mut tsig = query(false);
        tsig[11] = 1;
        tsig.extend_from_slice(&[3, b'k', b'e', b'y', 0, 0, 250, 0, 255, 0, 0, 0, 0, 0, 0]);
        let mut long_name = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
        for _ in 0..5 {
            long_name.push(60);
            long_name.extend_from_slice(&[b'a'; 60]);
        }
        long_name.extend_from_slice(&[0, 0, 1, 0, 1]);
        let mut compressed = query(false);
        compressed[HEADER] = 0xC0;
        for (what, q) in [
            ("response", response),
            ("notify", notify),
            ("trailing byte", trailing),
            ("axfr", axfr),
            ("an option longer than the rdata", short_option),
            ("a client-subnet option", subnet),
            ("a cookie of 9 bytes", odd_cookie),
            ("rdata longer than the message", short_rdata),
            ("two additionals", two_additionals),
            ("tsig", tsig),
            ("compressed name", compressed),
            ("a name over 255 bytes", long_name),
            ("truncated", query(false)[..14].to_vec()),
        ] {
            assert_eq!(k(&q), None, "{what}");
        }
    }

    #[test]
    fn only_authoritative_answers_are_kept() {
        let answer = |flags: [u8; 2]| {
            let mut a = vec![0xab, 0xcd, flags[0], flags[1], 0, 1, 0, 1, 0, 0, 0, 0];
            a.extend_from_slice(b"\x05node1\x03lab\x00\x00\x01\x00\x01");
            a
        };
        assert!(keepable(&answer([0x85, 0x00])), "AA NOERROR");
        assert!(keepable(&answer([0x85, 0x03])), "AA NXDOMAIN");
        assert!(!keepable(&answer([0x81, 0x80])), "forwarded");
        assert!(!keepable(&answer([0x81, 0x05])), "REFUSED");
        assert!(!keepable(&answer([0x85, 0x02])), "SERVFAIL");
    }

    #[test]
    fn a_new_snapshot_empties_it_and_ids_are_the_askers() {
        let (old, new) = (7, 8);
        let mut cache = AnswerCache::<u64>::new(10);
        let q = query(true);
        let k = k(&q).unwrap_or_default();
        let mut a = vec![0x12, 0x34, 0x85, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
        a.extend_from_slice(&q[HEADER..]);
        cache.follow(old);
        cache.keep(&new, &k, &a);
        assert_eq!(cache.len(), 0, "an answer from another snapshot is not kept");
        cache.keep(&old, &k, &a);
        let mut out = Vec::new();
        assert!(cache.answer(&k, 0x9999, &mut out));
        assert_eq!(&out[..2], &[0x99, 0x99]);
        assert_eq!(&out[2..], &a[2..]);
        cache.follow(new);
        assert!(!cache.answer(&k, 1, &mut out), "a change empties the cache");
    }

    #[test]
    fn a_full_cache_starts_again_and_zero_keeps_nothing() {
        let w = 1;
        let mut cache = AnswerCache::<u64>::new(2);
        cache.follow(w);
        let a = [0u8, 0, 0x85, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        for k in [b"a", b"b", b"c"] {
            cache.keep(&w, k, &a);
        }
        assert_eq!(cache.len(), 1);
        let mut off = AnswerCache::<u64>::new(0);
        off.follow(w);
        off.keep(&w, b"a", &a);
        assert_eq!(off.len(), 0);
    }
}
