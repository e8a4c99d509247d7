//! Process-wide metrics, registered once in a `prometheus-client`
//! registry and rendered at `/metrics` in the Prometheus text format
//! (0.0.4), named as Prometheus asks (`fulcrum_` prefix, counters end in
//! `_total`, durations in seconds). The services update them on their
//! paths: a counter is one atomic add; a labelled one first finds its
//! series (a read lock and a hash). What the store already knows (nodes
//! by state, leases, pool use, noderoles, runs) is set from one snapshot
//! at each scrape ([`Stats::render_with`]), not kept twice.

use std::sync::Mutex;

use prometheus_client::encoding::EncodeLabelSet;
pub(crate) use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::{Registry, Unit};

/// A reason something was dropped (`reason="rate_mac"`).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct Reason {
    pub(crate) reason: &'static str,
}

/// A message or query type (`type="discover"`, `type="AAAA"`).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct Kind {
    pub(crate) r#type: &'static str,
}

/// A message type on a network (`network="" ` when none is known).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct KindOn {
    pub(crate) r#type: &'static str,
    pub(crate) network: String,
}

/// A DNS response code (`rcode="NXDOMAIN"`).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct Rcode {
    pub(crate) rcode: &'static str,
}

/// An HTTP request by what it asked for and how it ended.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct Request {
    /// The route's pattern (`/api/v1/nodes/{name}`), never the path
    /// itself: one series per route, whatever the names.
    pub(crate) route: String,
    pub(crate) method: &'static str,
    pub(crate) status: u16,
}

/// An HTTP route and method, for latencies.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct Route {
    pub(crate) route: String,
    pub(crate) method: &'static str,
}

/// A state of some record kind (`state="active"`).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct StateLabel {
    pub(crate) state: String,
}

/// Leases by family, network and state.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct LeaseLabel {
    pub(crate) family: &'static str,
    pub(crate) network: String,
    pub(crate) state: &'static str,
}

/// A network.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct NetworkLabel {
    pub(crate) network: String,
}

/// How a run ended.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct RunLabel {
    pub(crate) outcome: &'static str,
}

/// Counters of dropped datagrams, by reason.
#[derive(Debug, Default, Clone)]
pub(crate) struct Reasons(Family<Reason, Counter>);

impl Reasons {
    /// One more for `reason` (a snake_case label).
    pub(crate) fn count(&self, reason: &'static str) {
        self.0.get_or_create(&Reason { reason }).inc();
    }
}

/// Latencies from 0.1 ms to about 3.3 s.
fn latency_buckets() -> Histogram {
    Histogram::new(exponential_buckets(0.0001, 2.0, 16))
}

/// Run durations from 10 ms to about 11 hours.
fn run_buckets() -> Histogram {
    Histogram::new(exponential_buckets(0.01, 4.0, 12))
}

/// Every metric, and the registry that renders them.
#[derive(Debug)]
pub(crate) struct Stats {
    registry: Registry,
    /// One scrape fills the state gauges at a time.
    scrape: Mutex<()>,
    pub(crate) dhcp4_received: Counter,
    pub(crate) dhcp4_malformed: Counter,
    pub(crate) dhcp4_ignored: Counter,
    pub(crate) dhcp4_send_errors: Counter,
    /// DHCPv4 requests, by message type.
    pub(crate) dhcp4_requests: Family<Kind, Counter>,
    /// DHCPv4 replies, by message type and network.
    pub(crate) dhcp4_replies: Family<KindOn, Counter>,
    pub(crate) dhcp4_dropped: Reasons,
    pub(crate) dhcp6_received: Counter,
    pub(crate) dhcp6_send_errors: Counter,
    pub(crate) dhcp6_requests: Family<Kind, Counter>,
    pub(crate) dhcp6_replies: Family<KindOn, Counter>,
    pub(crate) dhcp6_dropped: Reasons,
    pub(crate) ra_sent: Counter,
    pub(crate) ra_solicits: Counter,
    /// Router solicitations ignored (RFC 4861 6.1.1), by reason.
    pub(crate) ra_dropped: Reasons,
    pub(crate) tftp_requests: Counter,
    pub(crate) tftp_refused: Counter,
    pub(crate) tftp_bytes: Counter,
    pub(crate) boot_scripts: Counter,
    pub(crate) boot_refused: Counter,
    /// Boot trace events the full trace queue refused.
    pub(crate) trace_dropped: Counter,
    /// Boot-listener HTTP requests, by route and status.
    pub(crate) boot_requests: Family<Request, Counter>,
    /// Boot-listener response bytes (by Content-Length).
    pub(crate) boot_http_bytes: Counter,
    pub(crate) dns_queries: Family<Kind, Counter>,
    pub(crate) dns_responses: Family<Rcode, Counter>,
    pub(crate) dns_answers: Counter,
    pub(crate) dns_cached: Counter,
    pub(crate) dns_nxdomain: Counter,
    pub(crate) dns_refused: Counter,
    pub(crate) dns_formerr: Counter,
    pub(crate) dns_forwarded: Counter,
    pub(crate) dns_transfers: Counter,
    pub(crate) dns_notifies: Counter,
    /// API requests, by route, method and status.
    pub(crate) api_requests: Family<Request, Counter>,
    pub(crate) api_duration: Family<Route, Histogram, fn() -> Histogram>,
    /// How long the store's commits took, and how many writes each held.
    pub(crate) store_commit: Histogram,
    pub(crate) store_batch: Histogram,
    pub(crate) run_duration: Family<RunLabel, Histogram, fn() -> Histogram>,
    pub(crate) nodes: Family<StateLabel, Gauge>,
    pub(crate) leases: Family<LeaseLabel, Gauge>,
    pub(crate) pool_size: Family<NetworkLabel, Gauge>,
    pub(crate) pool_used: Family<NetworkLabel, Gauge>,
    pub(crate) noderoles: Family<StateLabel, Gauge>,
    pub(crate) runs_running: Gauge,
    pub(crate) runs_queued: Gauge,
}

impl Default for Stats {
    fn default() -> Stats {
        let mut s = Stats {
            registry: Registry::with_prefix("fulcrum"),
            scrape: Mutex::new(()),
            dhcp4_received: Counter::default(),
            dhcp4_malformed: Counter::default(),
            dhcp4_ignored: Counter::default(),
            dhcp4_send_errors: Counter::default(),
            dhcp4_requests: Family::default(),
            dhcp4_replies: Family::default(),
            dhcp4_dropped: Reasons::default(),
            dhcp6_received: Counter::default(),
            dhcp6_send_errors: Counter::default(),
            dhcp6_requests: Family::default(),
            dhcp6_replies: Family::default(),
            dhcp6_dropped: Reasons::default(),
            ra_sent: Counter::default(),
            ra_solicits: Counter::default(),
            ra_dropped: Reasons::default(),
            tftp_requests: Counter::default(),
            tftp_refused: Counter::default(),
            tftp_bytes: Counter::default(),
            boot_scripts: Counter::default(),
            boot_refused: Counter::default(),
            trace_dropped: Counter::default(),
            boot_requests: Family::default(),
            boot_http_bytes: Counter::default(),
            dns_queries: Family::default(),
            dns_responses: Family::default(),
            dns_answers: Counter::default(),
            dns_cached: Counter::default(),
            dns_nxdomain: Counter::default(),
            dns_refused: Counter::default(),
            dns_formerr: Counter::default(),
            dns_forwarded: Counter::default(),
            dns_transfers: Counter::default(),
            dns_notifies: Counter::default(),
            api_requests: Family::default(),
            api_duration: Family::new_with_constructor(latency_buckets),
            store_commit: latency_buckets(),
            store_batch: Histogram::new(exponential_buckets(1.0, 2.0, 12)),
            run_duration: Family::new_with_constructor(run_buckets),
            nodes: Family::default(),
            leases: Family::default(),
            pool_size: Family::default(),
            pool_used: Family::default(),
            noderoles: Family::default(),
            runs_running: Gauge::default(),
            runs_queued: Gauge::default(),
        };
        s.register();
        s
    }
}

impl Stats {
    fn register(&mut self) {
        let r = &mut self.registry;
        let counters: [(&str, &str, &Counter); 21] = [
            ("dhcp4_received", "DHCPv4 datagrams received", &self.dhcp4_received),
            ("dhcp4_malformed", "DHCPv4 datagrams dropped because they did not parse", &self.dhcp4_malformed),
            ("dhcp4_ignored", "DHCPv4 requests deliberately not answered", &self.dhcp4_ignored),
            ("dhcp4_send_errors", "DHCPv4 replies the socket refused", &self.dhcp4_send_errors),
            ("dhcp6_received", "DHCPv6 datagrams received", &self.dhcp6_received),
            ("dhcp6_send_errors", "DHCPv6 answers the socket refused", &self.dhcp6_send_errors),
            ("ra_sent", "router advertisements sent", &self.ra_sent),
            ("ra_solicits", "router solicitations received", &self.ra_solicits),
            ("tftp_requests", "TFTP read requests received", &self.tftp_requests),
            ("tftp_refused", "TFTP read requests refused (missing file or path outside the root)", &self.tftp_refused),
            ("boot_scripts", "iPXE boot scripts rendered", &self.boot_scripts),
            ("boot_trace_dropped", "boot trace events dropped: the trace queue was full", &self.trace_dropped),
            (
                "boot_refused",
                "boot requests (HTTP and TFTP) refused from outside the served networks",
                &self.boot_refused,
            ),
            ("dns_answers", "DNS answers from Fulcrum's zones (AA set)", &self.dns_answers),
            (
                "dns_cached",
                "DNS answers sent from a UDP loop's answer cache (counted in dns_answers too)",
                &self.dns_cached,
            ),
            ("dns_nxdomain", "DNS answers NXDOMAIN from Fulcrum's zones", &self.dns_nxdomain),
            (
                "dns_refused",
                "DNS requests refused (outside the zones without forwarding, transfers not allowed, bad TSIG)",
                &self.dns_refused,
            ),
            ("dns_formerr", "DNS requests answered FORMERR (not one question)", &self.dns_formerr),
            ("dns_forwarded", "DNS queries passed to the upstream resolvers", &self.dns_forwarded),
            ("dns_transfers", "zone transfers (AXFR, IXFR) served", &self.dns_transfers),
            ("dns_notifies", "NOTIFY messages sent to secondaries", &self.dns_notifies),
        ];
        for (name, help, c) in counters {
            r.register(name, help, c.clone());
        }
        r.register_with_unit("tftp_sent", "TFTP file bytes sent", Unit::Bytes, self.tftp_bytes.clone());
        let sent = self.boot_http_bytes.clone();
        r.register_with_unit("boot_http_sent", "boot-listener response bytes (Content-Length)", Unit::Bytes, sent);
        r.register("dhcp4_requests", "DHCPv4 requests received, by message type", self.dhcp4_requests.clone());
        r.register("dhcp4_replies", "DHCPv4 replies sent, by message type and network", self.dhcp4_replies.clone());
        r.register(
            "dhcp4_dropped",
            "DHCPv4 datagrams dropped or not answered, by reason",
            self.dhcp4_dropped.0.clone(),
        );
        r.register("dhcp6_requests", "DHCPv6 messages received, by message type", self.dhcp6_requests.clone());
        r.register("dhcp6_replies", "DHCPv6 answers sent, by message type and network", self.dhcp6_replies.clone());
        r.register(
            "dhcp6_dropped",
            "DHCPv6 datagrams dropped or not answered, by reason",
            self.dhcp6_dropped.0.clone(),
        );
        r.register("ra_dropped", "router solicitations ignored, by reason", self.ra_dropped.0.clone());
        r.register(
            "boot_http_requests",
            "boot-listener HTTP requests, by route and status",
            self.boot_requests.clone(),
        );
        r.register("dns_queries", "DNS queries received, by query type", self.dns_queries.clone());
        r.register("dns_responses", "DNS responses sent, by response code", self.dns_responses.clone());
        r.register("api_requests", "operator API requests, by route, method and status", self.api_requests.clone());
        r.register_with_unit(
            "api_request_duration",
            "operator API request latency, by route and method",
            Unit::Seconds,
            self.api_duration.clone(),
        );
        r.register_with_unit(
            "store_commit_duration",
            "time from a batch's first write to its durable commit",
            Unit::Seconds,
            self.store_commit.clone(),
        );
        r.register("store_commit_batch_size", "writes committed together in one batch", self.store_batch.clone());
        r.register_with_unit(
            "run_duration",
            "noderole runs' durations, by outcome",
            Unit::Seconds,
            self.run_duration.clone(),
        );
        r.register("nodes", "nodes, by provisioning state", self.nodes.clone());
        r.register("dhcp_leases", "DHCP leases, by family, network and state", self.leases.clone());
        r.register("dhcp_pool_size", "addresses in a network's DHCPv4 dynamic range", self.pool_size.clone());
        r.register(
            "dhcp_pool_used",
            "addresses of a network's DHCPv4 dynamic range held by a lease",
            self.pool_used.clone(),
        );
        r.register("noderoles", "noderoles, by state", self.noderoles.clone());
        r.register("runs_running", "noderole runs running now", self.runs_running.clone());
        r.register("runs_queued", "noderoles waiting to run (todo)", self.runs_queued.clone());
    }

    /// Prometheus exposition text, with the state gauges set by `fill`
    /// first (from one snapshot; one scrape at a time).
    pub(crate) fn render_with(&self, fill: impl FnOnce(&Stats)) -> String {
        let _one = self.scrape.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        for f in [&self.nodes, &self.noderoles] {
            f.clear();
        }
        self.leases.clear();
        self.pool_size.clear();
        self.pool_used.clear();
        fill(self);
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::prometheus_text::encode(&mut out, &self.registry);
        out
    }

    /// Prometheus exposition text without the state gauges.
    #[cfg(test)]
    pub(crate) fn render(&self) -> String {
        self.render_with(|_| {})
    }
}

/// An HTTP method as a label: the standard ones, else `other` (a label
/// per method a client makes up would let it add series at will).
pub(crate) fn method_label(m: &str) -> &'static str {
    match m {
        "GET" => "GET",
        "HEAD" => "HEAD",
        "POST" => "POST",
        "PUT" => "PUT",
        "PATCH" => "PATCH",
        "DELETE" => "DELETE",
        "OPTIONS" => "OPTIONS",
        _ => "other",
    }
}

/// Adds one to a counter.
pub(crate) fn bump(c: &Counter) {
    c.inc();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_prometheus_and_reasons_count_apart() {
        let s = Stats::default();
        std::thread::scope(|t| {
            for k in 0..4 {
                let s = &s;
                t.spawn(move || {
                    for i in 0..1000 {
                        s.dhcp4_dropped.count(["rate_mac", "malformed", "no_network"][(i + k) % 3]);
                    }
                });
            }
        });
        bump(&s.dhcp4_received);
        s.dhcp4_replies.get_or_create(&KindOn { r#type: "ack", network: "admin".into() }).inc();
        let text = s.render();
        for line in [
            "fulcrum_dhcp4_dropped_total{reason=\"malformed\"} 1333",
            "fulcrum_dhcp4_dropped_total{reason=\"rate_mac\"} 1334",
            "fulcrum_dhcp4_received_total 1",
            "fulcrum_dhcp4_replies_total{type=\"ack\",network=\"admin\"} 1",
            "# TYPE fulcrum_store_commit_duration_seconds histogram",
            "# TYPE fulcrum_tftp_sent_bytes_total counter",
        ] {
            assert!(text.lines().any(|l| l == line), "`{line}` missing:\n{text}");
        }
    }
}
