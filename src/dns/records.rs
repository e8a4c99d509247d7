//! Operator records: A, AAAA, CNAME, SRV, TXT and MX for names that are
//! not nodes (a VIP, a service, a mail relay), inside a served forward
//! zone. The record kind, its index by owner name, the rules (a CNAME
//! stands alone at its name; nothing at a node's name; names inside a
//! zone), and create / delete. A record's id is derived from what it says,
//! so the same record cannot be added twice.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use imbl::{HashMap, Vector};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::error::DnsError;
use super::zones::{Catalog, ZoneKind};
use crate::inventory::node::Node;
use crate::state::{record, Index, Record, Table, Txn, World};
use crate::types::field::Refuse;
use crate::types::names::Descendants;
use crate::types::time::now;

/// Longest DNS name, in presentation form without the trailing dot.
const NAME_MAX: usize = 253;

/// What an operator record says.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "type", deny_unknown_fields)]
pub(crate) enum RecordData {
    A {
        address: Ipv4Addr,
    },
    #[serde(rename = "AAAA")]
    Aaaa {
        address: Ipv6Addr,
    },
    #[serde(rename = "CNAME")]
    Cname {
        target: String,
    },
    #[serde(rename = "SRV")]
    Srv {
        priority: u16,
        weight: u16,
        port: u16,
        target: String,
    },
    #[serde(rename = "TXT")]
    Txt {
        text: Vec<String>,
    },
    #[serde(rename = "MX")]
    Mx {
        preference: u16,
        exchange: String,
    },
}

impl RecordData {
    /// The type's mnemonic.
    pub(crate) fn type_name(&self) -> &'static str {
        match self {
            RecordData::A { .. } => "A",
            RecordData::Aaaa { .. } => "AAAA",
            RecordData::Cname { .. } => "CNAME",
            RecordData::Srv { .. } => "SRV",
            RecordData::Txt { .. } => "TXT",
            RecordData::Mx { .. } => "MX",
        }
    }
}

impl fmt::Display for RecordData {
    /// The RDATA in zone-file form.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecordData::A { address } => write!(f, "{address}"),
            RecordData::Aaaa { address } => write!(f, "{address}"),
            RecordData::Cname { target } => write!(f, "{target}."),
            RecordData::Srv { priority, weight, port, target } => write!(f, "{priority} {weight} {port} {target}."),
            RecordData::Txt { text } => {
                let quoted: Vec<String> = text.iter().map(|t| format!("{t:?}")).collect();
                f.write_str(&quoted.join(" "))
            }
            RecordData::Mx { preference, exchange } => write!(f, "{preference} {exchange}."),
        }
    }
}

/// An operator record.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct DnsRecord {
    /// 16 hex digits of SHA-256 over name, type and data.
    pub(crate) id: String,
    /// Owner name: lower-case, no trailing dot.
    pub(crate) name: String,
    /// Default: the server's `dns.ttl`.
    pub(crate) ttl: Option<u32>,
    pub(crate) data: RecordData,
    pub(crate) created_at: u64,
}

/// Records by owner name, and the names below each name.
#[derive(Clone, Default)]
pub(crate) struct RecordIndex {
    by_name: HashMap<String, Vector<String>>,
    below: Descendants,
}

impl Index<DnsRecord> for RecordIndex {
    fn inserted(&mut self, old: Option<&DnsRecord>, new: &DnsRecord) {
        if let Some(old) = old {
            self.removed(old);
        }
        self.by_name.entry(new.name.clone()).or_default().push_back(new.id.clone());
        self.below.add(&new.name);
    }

    fn removed(&mut self, old: &DnsRecord) {
        if let Some(ids) = self.by_name.get_mut(&old.name) {
            ids.retain(|id| *id != old.id);
            if ids.is_empty() {
                self.by_name.remove(&old.name);
            }
        }
        self.below.remove(&old.name);
    }
}

record!(DnsRecord, kind = "dns_record", table = "dns_records", key = id: String, index = RecordIndex);

impl Table<DnsRecord> {
    /// The records at `name`.
    pub(crate) fn at<'t>(&'t self, name: &str) -> impl Iterator<Item = &'t Arc<DnsRecord>> + 't {
        self.index().by_name.get(name).into_iter().flatten().filter_map(|id| self.get(id))
    }

    /// Whether some record's name lies below `name`.
    pub(crate) fn any_below(&self, name: &str) -> bool {
        self.index().below.has_below(name)
    }
}

/// What adding a record takes.
#[derive(Clone, Debug)]
pub(crate) struct RecordSpec {
    pub(crate) name: String,
    pub(crate) ttl: Option<u32>,
    pub(crate) data: RecordData,
}

/// A DNS owner or target name: labels of 1..=63 of a-z, 0-9, '-' and '_'
/// (service labels), at most 253 characters; given with or without the
/// trailing dot, in any case. Returns it lower-case, without the dot.
pub(crate) fn check_dns_name(field: &str, name: &str) -> Result<String, DnsError> {
    let n = name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase();
    let bad = |why: &str| DnsError::invalid(field, format!("`{name}` is not a DNS name: {why}"));
    if n.is_empty() || n.len() > NAME_MAX {
        return Err(bad("it must be 1..=253 characters"));
    }
    for label in n.split('.') {
        if label.is_empty() || label.len() > 63 {
            return Err(bad("each label must be 1..=63 characters"));
        }
        if !label.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_') {
            return Err(bad("only a-z, 0-9, '-' and '_' are allowed"));
        }
    }
    Ok(n)
}

fn id_of(name: &str, data: &RecordData) -> String {
    let digest = Sha256::digest(format!("{name} {} {data}", data.type_name()).as_bytes());
    digest[..8].iter().map(|b| format!("{b:02x}")).collect()
}

fn normalize(data: RecordData) -> Result<RecordData, DnsError> {
    Ok(match data {
        RecordData::Cname { target } => RecordData::Cname { target: check_dns_name("target", &target)? },
        RecordData::Srv { priority, weight, port, target } => {
            RecordData::Srv { priority, weight, port, target: check_dns_name("target", &target)? }
        }
        RecordData::Mx { preference, exchange } => {
            RecordData::Mx { preference, exchange: check_dns_name("exchange", &exchange)? }
        }
        RecordData::Txt { text } => {
            if text.is_empty() {
                return Err(DnsError::invalid("text", "give at least one string"));
            }
            if let Some((i, _)) = text.iter().enumerate().find(|(_, t)| t.len() > 255) {
                return Err(DnsError::invalid(&format!("text[{i}]"), "longer than 255 bytes"));
            }
            RecordData::Txt { text }
        }
        other => other,
    })
}

/// Adds a record, checking it against the zones, the nodes and the records
/// already at its name.
pub(crate) fn create(txn: &mut Txn<'_>, spec: RecordSpec) -> Result<Arc<DnsRecord>, DnsError> {
    let name = check_dns_name("name", &spec.name)?;
    let data = normalize(spec.data)?;
    if let Some(ttl) = spec.ttl {
        if ttl > 604_800 {
            return Err(DnsError::invalid("ttl", format!("{ttl} is over 604800 (a week)")));
        }
    }
    let w = txn.world();
    let catalog = Catalog::of(w);
    let zone = match catalog.find(&name) {
        Some(z) if z.kind == ZoneKind::Forward => z,
        Some(z) => {
            return Err(DnsError::invalid(
                "name",
                format!("`{name}` is in the reverse zone {}; PTRs there follow the nodes", z.apex),
            ))
        }
        None => {
            return Err(DnsError::invalid(
                "name",
                format!("`{name}` is not inside a zone Fulcrum serves (a network's domain)"),
            ))
        }
    };
    if w.table::<Node>().get(&name).is_some() {
        return Err(DnsError::conflict("name", format!("`{name}` is a node; its A and AAAA records follow the node")));
    }
    let is_cname = matches!(data, RecordData::Cname { .. });
    if is_cname && name == zone.apex {
        return Err(DnsError::conflict(
            "name",
            format!("`{name}` is the zone's apex, which has SOA and NS records; a CNAME cannot sit beside them"),
        ));
    }
    if is_cname && (w.table::<Node>().any_below(&name) || w.table::<DnsRecord>().any_below(&name)) {
        // Allowed by the protocol, but then the names below would hide behind an alias.
        tracing::debug!(%name, "a CNAME above other names");
    }
    let records = w.table::<DnsRecord>();
    for other in records.at(&name) {
        let other_cname = matches!(other.data, RecordData::Cname { .. });
        if is_cname || other_cname {
            return Err(DnsError::conflict(
                "type",
                format!(
                    "`{name}` already has a {} record; a CNAME cannot sit beside other data",
                    other.data.type_name()
                ),
            ));
        }
    }
    let id = id_of(&name, &data);
    if records.get(&id).is_some() {
        return Err(DnsError::conflict(
            "data",
            format!("`{name}` already has this {} record (id {id})", data.type_name()),
        ));
    }
    Ok(txn.put(DnsRecord { id, name, ttl: spec.ttl, data, created_at: now() })?)
}

/// Deletes a record by id.
pub(crate) fn delete(txn: &mut Txn<'_>, id: &str) -> Result<Arc<DnsRecord>, DnsError> {
    txn.delete::<DnsRecord, _>(id)?.ok_or_else(|| DnsError::not_found(DnsRecord::KIND, id))
}

/// Every record, by name then id.
pub(crate) fn list(w: &World) -> Vec<Arc<DnsRecord>> {
    let mut all: Vec<Arc<DnsRecord>> = w.table::<DnsRecord>().iter().cloned().collect();
    all.sort_by(|a, b| a.name.cmp(&b.name).then_with(|| a.id.cmp(&b.id)));
    all
}

/// A network deleted: records no longer inside any zone go with it.
fn network_deleted(txn: &mut Txn<'_>, _: &crate::inventory::network::Network) -> Result<(), crate::state::StateError> {
    let catalog = Catalog::of(txn.world());
    let orphans: Vec<String> = txn
        .world()
        .table::<DnsRecord>()
        .iter()
        .filter(|r| catalog.find(&r.name).is_none_or(|z| z.kind != ZoneKind::Forward))
        .map(|r| r.id.clone())
        .collect();
    for id in orphans {
        txn.delete::<DnsRecord, _>(&id)?;
    }
    Ok(())
}

pub(crate) fn register(schema: &mut crate::state::Schema) {
    schema.register::<DnsRecord>().on_delete::<crate::inventory::network::Network>(network_deleted);
}
