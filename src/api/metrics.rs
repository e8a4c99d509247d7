//! `/metrics`: the process's counters and histograms ([`Stats`]), with
//! the gauges of what the store holds set from one snapshot at each
//! scrape (nodes by provisioning state, leases by family, network and
//! state, DHCPv4 pool use, noderoles by state, runs running and
//! queued); and the middleware that counts and times every API request
//! by its route's pattern.

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State as AxState};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::wire::inventory::LeaseState;
use super::ApiState;
use crate::dhcp::lease::{Lease, DECLINED};
use crate::dhcp::lease6::Lease6;
use crate::engine::model::{NodeRole, NrState, Outcome, Run};
use crate::inventory::network::Network;
use crate::inventory::node::Node;
use crate::state::World;
use crate::stats::{LeaseLabel, NetworkLabel, Request as RequestLabel, Route, StateLabel, Stats};
use crate::types::time::now;

/// The process's metrics, in the Prometheus text format.
#[utoipa::path(get, path = "/metrics", tag = "status", responses((status = 200, description = "Prometheus text exposition format", content_type = "text/plain; version=0.0.4", body = String)))]
pub(crate) async fn metrics(AxState(api): AxState<ApiState>) -> impl IntoResponse {
    let world = api.state.snapshot();
    let text = api.stats.render_with(|s| fill(s, &world, now()));
    ([(header::CONTENT_TYPE, prometheus_client::encoding::prometheus_text::CONTENT_TYPE)], text)
}

/// Sets the state gauges from `w`.
fn fill(s: &Stats, w: &World, now: u64) {
    for n in w.table::<Node>().iter() {
        s.nodes.get_or_create(&StateLabel { state: n.provision_state.to_string() }).inc();
    }
    for state in NrState::ALL {
        s.noderoles.get_or_create(&StateLabel { state: state.name().to_string() }).set(0);
    }
    let mut queued = 0;
    for nr in w.table::<NodeRole>().iter() {
        s.noderoles.get_or_create(&StateLabel { state: nr.state.name().to_string() }).inc();
        queued += i64::from(nr.state == NrState::Todo);
    }
    s.runs_queued.set(queued);
    s.runs_running.set(w.table::<Run>().iter().filter(|r| r.outcome == Outcome::Running).count() as i64);
    for l in w.table::<Lease>().iter() {
        let state = LeaseState::of(l.mac == DECLINED, l.expires_at, now);
        s.leases.get_or_create(&LeaseLabel { family: "4", network: l.network.clone(), state: state.name() }).inc();
    }
    for l in w.table::<Lease6>().iter() {
        let state = LeaseState::of(l.duid.is_none(), l.expires_at, now);
        s.leases.get_or_create(&LeaseLabel { family: "6", network: l.network.clone(), state: state.name() }).inc();
    }
    let leases = w.table::<Lease>();
    for net in w.table::<Network>().iter() {
        let Some(range) = &net.dynamic else { continue };
        let label = NetworkLabel { network: net.name.clone() };
        let size = u32::from(range.end).saturating_sub(u32::from(range.start)) + 1;
        s.pool_size.get_or_create(&label).set(i64::from(size));
        let used = leases
            .iter()
            .filter(|l| l.network == net.name && range.contains(l.ip) && (l.expires_at > now || l.mac == DECLINED))
            .count();
        s.pool_used.get_or_create(&label).set(used as i64);
    }
}

/// Counts and times an API request by its route's pattern, method and
/// status (a request no route matched is not counted: its path is the
/// caller's to choose).
pub(crate) async fn count(AxState(api): AxState<ApiState>, req: Request, next: Next) -> Response {
    let Some(route) = req.extensions().get::<MatchedPath>().map(|m| m.as_str().to_string()) else {
        return next.run(req).await;
    };
    let method = crate::stats::method_label(req.method().as_str());
    let start = Instant::now();
    let response = next.run(req).await;
    let status = response.status().as_u16();
    api.stats.api_requests.get_or_create(&RequestLabel { route: route.clone(), method, status }).inc();
    api.stats.api_duration.get_or_create(&Route { route, method }).observe(start.elapsed().as_secs_f64());
    response
}
