//! `/api/v1/dns`: operator records (list, add, show, delete, through the
//! DNS room's commands), the zones with their serials, and what Fulcrum
//! would answer to a name now (`fulcrum dns show`).

use std::str::FromStr;

use axum::extract::{Path, Query, State as AxState};
use axum::http::StatusCode;
use axum::Json;
use hickory_proto::rr::RecordType;

use super::body::Body;
use super::error::{ApiError, ApiResult};
use super::wire::dns::{AnswerQuery, AnswerView, NewRecord, RecordView, ZoneView};
use super::ApiState;
use crate::dns::records::{self, DnsRecord};
use crate::dns::DnsError;
use crate::state::Record;
use crate::types::field::Refuse;

pub(crate) async fn list(AxState(api): AxState<ApiState>) -> Json<Vec<RecordView>> {
    let ttl = api.dns.default_ttl();
    Json(records::list(&api.state.snapshot()).iter().map(|r| RecordView::new(r, ttl)).collect())
}

pub(crate) async fn show(AxState(api): AxState<ApiState>, Path(id): Path<String>) -> ApiResult<Json<RecordView>> {
    let w = api.state.snapshot();
    let r = w.table::<DnsRecord>().get(&id).ok_or_else(|| DnsError::not_found(DnsRecord::KIND, &id))?;
    Ok(Json(RecordView::new(r, api.dns.default_ttl())))
}

pub(crate) async fn create(
    AxState(api): AxState<ApiState>,
    Body(req): Body<NewRecord>,
) -> ApiResult<(StatusCode, Json<RecordView>)> {
    let r = api.dns.add_record(req.into()).await?;
    Ok((StatusCode::CREATED, Json(RecordView::new(&r, api.dns.default_ttl()))))
}

pub(crate) async fn delete(AxState(api): AxState<ApiState>, Path(id): Path<String>) -> ApiResult<StatusCode> {
    api.dns.delete_record(id).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub(crate) async fn zones(AxState(api): AxState<ApiState>) -> Json<Vec<ZoneView>> {
    Json(api.dns.zones().into_iter().map(|(zone, serial)| ZoneView { zone, serial }).collect())
}

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
