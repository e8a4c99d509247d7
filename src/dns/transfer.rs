//! Zone transfers (RFC 5936 AXFR; RFC 1995 IXFR from the journal's
//! differences, or the whole zone when the journal does not reach back to
//! the secondary's serial, or the one SOA when it is current), split into
//! messages of a bounded size, and who may ask for one.

use std::net::IpAddr;

use hickory_proto::rr::{RData, Record};

use super::journal::Journal;
use super::lookup::View;
use super::serial::serial_after;
use super::zones::Zone;

/// Most records in one transfer message.
const PER_MESSAGE: usize = 400;

/// The messages (each a list of answer records) that transfer `zone`:
/// SOA, every record, SOA.
pub(crate) fn axfr(view: &View<'_>, zone: &Zone) -> Vec<Vec<Record>> {
    let mut all = view.zone_records(zone);
    if let Some(soa) = all.first().cloned() {
        all.push(soa);
    }
    all.chunks(PER_MESSAGE).map(<[Record]>::to_vec).collect()
}

/// The answer to an IXFR whose authority section carries `client` (the
/// secondary's SOA serial): the current SOA alone when it is not behind;
/// the differences since its serial when the journal has them all (RFC
/// 1995: the new SOA, then for each change the old SOA, what went, the new
/// SOA, what came, and the new SOA again); else the whole zone.
pub(crate) fn ixfr(view: &View<'_>, zone: &Zone, client: Option<u32>, journal: &Journal) -> Vec<Vec<Record>> {
    let soa = view.soa(zone);
    let current = match &soa.data {
        RData::SOA(s) => s.serial,
        _ => 0,
    };
    let Some(c) = client else { return axfr(view, zone) };
    if !serial_after(current, c) {
        return vec![vec![soa]];
    }
    let Some(diffs) = journal.since(&zone.apex, c, current) else { return axfr(view, zone) };
    let mut all = vec![soa.clone()];
    for d in diffs {
        all.push(d.from_soa);
        all.extend(d.removed);
        all.push(d.to_soa);
        all.extend(d.added);
    }
    all.push(soa);
    all.chunks(PER_MESSAGE).map(<[Record]>::to_vec).collect()
}

/// Whether `client` may transfer without a signature: when no key is set,
/// the configured secondaries and loopback may.
pub(crate) fn unsigned_allowed(client: IpAddr, secondaries: &[std::net::SocketAddr]) -> bool {
    let client = match client {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    };
    client.is_loopback() || secondaries.iter().any(|s| s.ip() == client)
}
