//! The answer to one question from one snapshot: records, NXDOMAIN or
//! NODATA with the zone's SOA in the authority section (RFC 2308), CNAMEs
//! followed inside Fulcrum's zones (RFC 6604 rcodes), addresses of NS, MX
//! and SRV targets as additional data. A name outside every zone is not
//! answered here: the server forwards it or refuses it.

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{DNSClass, RData, Record, RecordType};

use super::lookup::{Found, View};

/// Most CNAMEs followed in one answer.
const MAX_CHAIN: usize = 8;

/// A question, its name lower-case without the trailing dot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Question {
    pub(crate) name: String,
    pub(crate) qtype: RecordType,
    pub(crate) qclass: DNSClass,
}

/// An authoritative reply's sections.
#[derive(Clone, Debug, Default)]
pub(crate) struct Reply {
    pub(crate) rcode: ResponseCode,
    pub(crate) answers: Vec<Record>,
    pub(crate) authorities: Vec<Record>,
    pub(crate) additionals: Vec<Record>,
}

/// What a question gets.
#[derive(Debug)]
pub(crate) enum Answer {
    /// An authoritative reply (AA set).
    Authoritative(Reply),
    /// The name is in none of Fulcrum's zones.
    Outside,
    /// Not a class Fulcrum serves.
    Refused,
}

/// The lower-case presentation form of a wire name, without the trailing dot.
pub(crate) fn plain(name: &hickory_proto::rr::Name) -> String {
    let mut s = name.to_ascii();
    if s.ends_with('.') {
        s.pop();
    }
    s.make_ascii_lowercase();
    s
}

/// Answers `q` from `view`.
pub(crate) fn answer(view: &View<'_>, q: &Question) -> Answer {
    if q.qclass != DNSClass::IN && q.qclass != DNSClass::ANY {
        return Answer::Refused;
    }
    let Some(zone) = view.layout.catalog.find(&q.name) else { return Answer::Outside };
    let mut reply = Reply::default();
    let mut name = q.name.clone();
    let mut zone = zone;
    for _ in 0..=MAX_CHAIN {
        match view.at(zone, &name) {
            Found::Missing => {
                reply.rcode = ResponseCode::NXDomain;
                reply.authorities.push(view.negative_soa(zone));
                break;
            }
            Found::EmptyNonTerminal => {
                reply.authorities.push(view.negative_soa(zone));
                break;
            }
            Found::Records(rs) => {
                let cname = rs.iter().find(|r| r.record_type() == RecordType::CNAME).cloned();
                match cname {
                    Some(c) if q.qtype != RecordType::CNAME && q.qtype != RecordType::ANY => {
                        let RData::CNAME(target) = &c.data else { break };
                        let target = plain(&target.0);
                        reply.answers.push(c);
                        // Followed only inside the zones; a resolver chases the rest.
                        match view.layout.catalog.find(&target) {
                            Some(z) if !reply.answers.iter().any(|a| plain(&a.name) == target) => {
                                zone = z;
                                name = target;
                            }
                            _ => break,
                        }
                    }
                    _ => {
                        let before = reply.answers.len();
                        reply.answers.extend(
                            rs.into_iter().filter(|r| q.qtype == RecordType::ANY || r.record_type() == q.qtype),
                        );
                        if reply.answers.len() == before {
                            reply.authorities.push(view.negative_soa(zone));
                        }
                        break;
                    }
                }
            }
        }
    }
    for target in View::glue_targets(&reply.answers) {
        for r in view.addresses_of(&plain(&target)) {
            if !reply.additionals.contains(&r) {
                reply.additionals.push(r);
            }
        }
    }
    Answer::Authoritative(reply)
}
