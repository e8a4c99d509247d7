//! `/api/v1/dns`: operator records (list, add, show, delete, through the
//! DNS room's commands), the zones with their serials, and what Fulcrum
//! would answer to a name now (`fulcrum dns show`).

use std::str::FromStr;

use axum::extract::State as AxState;
use axum::http::StatusCode;
use axum::Json;
use hickory_proto::rr::RecordType;

use super::body::Body;
use super::error::{ApiError, ApiResult};
use super::params::{Path, Query};
use super::wire::dns::{AnswerQuery, AnswerView, NewRecord, RecordView, ZoneView};
use super::ApiState;
use crate::dns::records::{self, DnsRecord};
use crate::dns::DnsError;
use crate::state::Record;
use crate::types::field::Refuse;

/// The operator's DNS records.
#[utoipa::path(get, path = "/api/v1/dns/records", tag = "dns", responses((status = 200, body = Vec<RecordView>)))]
pub(crate) async fn list(AxState(api): AxState<ApiState>) -> Json<Vec<RecordView>> {
    let ttl = api.dns.default_ttl();
    Json(records::list(&api.state.snapshot()).iter().map(|r| RecordView::new(r, ttl)).collect())
}

/// One operator record.
#[utoipa::path(get, path = "/api/v1/dns/records/{id}", tag = "dns", params(("id" = String, Path)), responses((status = 200, body = RecordView)))]
pub(crate) async fn show(AxState(api): AxState<ApiState>, Path(id): Path<String>) -> ApiResult<Json<RecordView>> {
    let w = api.state.snapshot();
    let r = w.table::<DnsRecord>().get(&id).ok_or_else(|| DnsError::not_found(DnsRecord::KIND, &id))?;
    Ok(Json(RecordView::new(r, api.dns.default_ttl())))
}

/// Adds a record to a zone Fulcrum serves.
#[utoipa::path(post, path = "/api/v1/dns/records", tag = "dns", request_body = NewRecord, responses((status = 201, body = RecordView)))]
pub(crate) async fn create(
    AxState(api): AxState<ApiState>,
    Body(req): Body<NewRecord>,
) -> ApiResult<(StatusCode, Json<RecordView>)> {
    let r = api.dns.add_record(req.into()).await?;
    Ok((StatusCode::CREATED, Json(RecordView::new(&r, api.dns.default_ttl()))))
}

/// Deletes an operator record.
#[utoipa::path(delete, path = "/api/v1/dns/records/{id}", tag = "dns", params(("id" = String, Path)), responses((status = 204, description = "Deleted")))]
pub(crate) async fn delete(AxState(api): AxState<ApiState>, Path(id): Path<String>) -> ApiResult<StatusCode> {
    api.dns.delete_record(id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The zones Fulcrum is authoritative for, with their serials.
#[utoipa::path(get, path = "/api/v1/dns/zones", tag = "dns", responses((status = 200, body = Vec<ZoneView>)))]
pub(crate) async fn zones(AxState(api): AxState<ApiState>) -> Json<Vec<ZoneView>> {
    Json(api.dns.zones().into_iter().map(|(zone, serial)| ZoneView { zone, serial }).collect())
}

/// What the DNS server would answer to a name and type now.
#[utoipa::path(get, path = "/api/v1/dns/answer", tag = "dns", params(AnswerQuery), responses((status = 200, body = AnswerView)))]
pub(crate) async fn answer(
    AxState(api): AxState<ApiState>,
    Query(q): Query<AnswerQuery>,
) -> ApiResult<Json<AnswerView>> {
    let qtype = RecordType::from_str(&q.qtype.to_ascii_uppercase())
        .ok()
        .filter(|t| !matches!(t, RecordType::Unknown(_)))
        .ok_or_else(|| {
            ApiError::field(StatusCode::BAD_REQUEST, "type", format!("`{}` is not a record type", q.qtype))
        })?;
    records::check_dns_name("name", &q.name)?;
    let lines = |rs: &[hickory_proto::rr::Record]| rs.iter().map(ToString::to_string).collect::<Vec<_>>();
    let view = match api.dns.show(&q.name, qtype) {
        Some(r) => AnswerView {
            name: q.name,
            qtype: qtype.to_string(),
            rcode: r.rcode.to_string(),
            authoritative: true,
            answer: lines(&r.answers),
            authority: lines(&r.authorities),
            additional: lines(&r.additionals),
        },
        None => AnswerView {
            name: q.name,
            qtype: qtype.to_string(),
            rcode: "REFUSED".into(),
            authoritative: false,
            answer: Vec::new(),
            authority: Vec::new(),
            additional: Vec::new(),
        },
    };
    Ok(Json(view))
}
