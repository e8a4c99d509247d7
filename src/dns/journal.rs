//! The zones' recent history, for incremental transfers (RFC 1995 IXFR):
//! each time a zone's serial changes (seen on the change feed), its
//! records now are compared with those at the serial seen before, and the
//! difference is kept, the last [`KEEP`] per zone, in memory. A secondary
//! whose serial starts an unbroken chain of differences up to the current
//! serial gets them; any other (older, unknown, or after a restart) gets
//! the whole zone. Kept only when secondaries are configured.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use hickory_proto::rr::{RData, Record, RecordType};

/// Differences kept per zone.
pub(crate) const KEEP: usize = 64;

/// One serial's change.
#[derive(Clone, Debug)]
pub(crate) struct Diff {
    pub(crate) from_soa: Record,
    pub(crate) to_soa: Record,
    pub(crate) removed: Vec<Record>,
    pub(crate) added: Vec<Record>,
}

/// A zone's records by their presentation form (records are not `Hash`).
type RecordSet = HashMap<String, Record>;

struct History {
    serial: u32,
    records: RecordSet,
    diffs: VecDeque<Diff>,
}

/// Every zone's history.
#[derive(Default)]
pub(crate) struct Journal {
    zones: Mutex<HashMap<String, History>>,
}

fn serial(soa: &Record) -> u32 {
    match &soa.data {
        RData::SOA(s) => s.serial,
        _ => 0,
    }
}

impl Journal {
    /// Records `zone` as it is now (`records`: its SOA first, as
    /// `View::zone_records` gives it).
    pub(crate) fn observe(&self, zone: &str, records: Vec<Record>) {
        let Some(soa) = records.first().cloned().filter(|r| r.record_type() == RecordType::SOA) else { return };
        let now = serial(&soa);
        let set: RecordSet = records.into_iter().skip(1).map(|r| (r.to_string(), r)).collect();
        let mut zones = self.zones.lock().unwrap_or_else(|p| p.into_inner());
        let Some(h) = zones.get_mut(zone) else {
            zones.insert(zone.to_string(), History { serial: now, records: set, diffs: VecDeque::new() });
            return;
        };
        if h.serial == now {
            return;
        }
        let from_soa = {
            let mut s = soa.clone();
            if let RData::SOA(x) = &mut s.data {
                x.serial = h.serial;
            }
            s
        };
        let only_in = |a: &RecordSet, b: &RecordSet| -> Vec<Record> {
            a.iter().filter(|(k, _)| !b.contains_key(*k)).map(|(_, r)| r.clone()).collect()
        };
        let removed = only_in(&h.records, &set);
        let added = only_in(&set, &h.records);
        h.diffs.push_back(Diff { from_soa, to_soa: soa, removed, added });
        while h.diffs.len() > KEEP {
            h.diffs.pop_front();
        }
        h.serial = now;
        h.records = set;
    }

    /// The differences from serial `client` to `current`, if the journal
    /// holds an unbroken chain.
    pub(crate) fn since(&self, zone: &str, client: u32, current: u32) -> Option<Vec<Diff>> {
        let zones = self.zones.lock().unwrap_or_else(|p| p.into_inner());
        let h = zones.get(zone)?;
        if h.serial != current {
            return None;
        }
        let start = h.diffs.iter().position(|d| serial(&d.from_soa) == client)?;
        let chain: Vec<Diff> = h.diffs.iter().skip(start).cloned().collect();
        let linked = chain.windows(2).all(|w| serial(&w[0].to_soa) == serial(&w[1].from_soa));
        (linked && chain.last().is_some_and(|d| serial(&d.to_soa) == current)).then_some(chain)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::rr::rdata::{A, SOA};
    use hickory_proto::rr::Name;

    fn soa(serial: u32) -> Record {
        let n = Name::from_ascii("z.").unwrap();
        Record::from_rdata(n.clone(), 60, RData::SOA(SOA::new(n.clone(), n, serial, 1, 1, 1, 1)))
    }

    fn a(last: u8) -> Record {
        Record::from_rdata(Name::from_ascii("h.z.").unwrap(), 60, RData::A(A::new(10, 0, 0, last)))
    }

    #[test]
    fn a_chain_of_differences_leads_to_the_current_serial() {
        let j = Journal::default();
        j.observe("z", vec![soa(1), a(1)]);
        j.observe("z", vec![soa(2), a(1), a(2)]);
        j.observe("z", vec![soa(3), a(2)]);
        let d = j.since("z", 1, 3).unwrap();
        assert_eq!(d.len(), 2);
        assert_eq!(d[0].added, vec![a(2)]);
        assert_eq!(d[1].removed, vec![a(1)]);
        assert!(j.since("z", 2, 3).is_some());
        assert!(j.since("z", 0, 3).is_none(), "unknown serial: whole zone");
        assert!(j.since("z", 1, 4).is_none(), "the journal is behind");
    }
}
