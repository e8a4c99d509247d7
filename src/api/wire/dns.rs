//! Wire types of `/api/v1/dns`: operator records, the zones and their
//! serials, and what Fulcrum would answer to a name now.

use serde::{Deserialize, Serialize};

use crate::dns::records::{DnsRecord, RecordData, RecordSpec};

/// `POST /api/v1/dns/records`: `{"name": "vip.cluster.example", "type":
/// "A", "address": "10.0.0.5"}`; `type` is one of A, AAAA, CNAME, SRV,
/// TXT, MX, with that type's fields.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(example = json!({"name": "www.lab.example", "type": "A", "address": "10.20.0.5"}))]
pub(crate) struct NewRecord {
    pub(crate) name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) ttl: Option<u32>,
    #[serde(flatten)]
    pub(crate) data: RecordData,
}

impl From<NewRecord> for RecordSpec {
    fn from(r: NewRecord) -> RecordSpec {
        RecordSpec { name: r.name, ttl: r.ttl, data: r.data }
    }
}

/// An operator record.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub(crate) struct RecordView {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) ttl: Option<u32>,
    #[serde(flatten)]
    pub(crate) data: RecordData,
    /// The record in zone-file form.
    pub(crate) line: String,
    pub(crate) created_at: u64,
}

impl RecordView {
    pub(crate) fn new(r: &DnsRecord, default_ttl: u32) -> RecordView {
        RecordView {
            id: r.id.clone(),
            name: r.name.clone(),
            ttl: r.ttl,
            data: r.data.clone(),
            line: format!("{}. {} IN {} {}", r.name, r.ttl.unwrap_or(default_ttl), r.data.type_name(), r.data),
            created_at: r.created_at,
        }
    }
}

/// A zone Fulcrum serves.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub(crate) struct ZoneView {
    pub(crate) zone: String,
    pub(crate) serial: u32,
}

/// `GET /api/v1/dns/answer?name=N&type=T`: what a query would get now.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub(crate) struct AnswerView {
    pub(crate) name: String,
    #[serde(rename = "type")]
    pub(crate) qtype: String,
    /// NOERROR, NXDOMAIN, or REFUSED for a name outside the zones.
    pub(crate) rcode: String,
    pub(crate) authoritative: bool,
    pub(crate) answer: Vec<String>,
    pub(crate) authority: Vec<String>,
    pub(crate) additional: Vec<String>,
}

/// The query string of `GET /api/v1/dns/answer`.
#[derive(Debug, Clone, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct AnswerQuery {
    pub(crate) name: String,
    #[serde(rename = "type", default = "default_type")]
    pub(crate) qtype: String,
}

fn default_type() -> String {
    "A".into()
}
