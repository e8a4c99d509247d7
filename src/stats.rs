//! Process-wide counters every service bumps (packets in, dropped,
//! malformed, answers by kind), exposed at `/metrics` in the Prometheus text
//! format. Plain atomics: counting never blocks a packet; the dropped DHCP
//! datagrams are counted per reason ([`Reasons`]).

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

/// Most distinct reasons one [`Reasons`] keeps apart; any beyond are
/// counted as `other`.
const REASON_SLOTS: usize = 32;

/// A counter per reason, for the drops whose reasons the dropping room
/// names (`fulcrum_dhcp4_dropped_total{reason="rate_mac"}`). Counting is
/// lock-free, as it sits on the packet path of a flood: a reason takes the
/// first free slot the first time it is counted, and keeps it.
#[derive(Debug)]
pub(crate) struct Reasons {
    labels: [OnceLock<&'static str>; REASON_SLOTS],
    counts: [AtomicU64; REASON_SLOTS],
    other: AtomicU64,
}

impl Default for Reasons {
    fn default() -> Reasons {
        Reasons {
            labels: std::array::from_fn(|_| OnceLock::new()),
            counts: std::array::from_fn(|_| AtomicU64::new(0)),
            other: AtomicU64::new(0),
        }
    }
}

impl Reasons {
    /// One more for `reason` (a snake_case label).
    pub(crate) fn count(&self, reason: &'static str) {
        for (label, n) in self.labels.iter().zip(&self.counts) {
            // A free slot is claimed for `reason`, unless another reason
            // claims it first; then the search goes on.
            if *label.get_or_init(|| reason) == reason {
                n.fetch_add(1, Ordering::Relaxed);
                return;
            }
        }
        self.other.fetch_add(1, Ordering::Relaxed);
    }

    fn render(&self, out: &mut String, name: &str, help: &str) {
        let _ = writeln!(out, "# HELP fulcrum_{name} {help}");
        let _ = writeln!(out, "# TYPE fulcrum_{name} counter");
        let mut rows: Vec<(&str, u64)> = self
            .labels
            .iter()
            .zip(&self.counts)
            .filter_map(|(l, n)| Some((*l.get()?, n.load(Ordering::Relaxed))))
            .collect();
        let other = self.other.load(Ordering::Relaxed);
        if other > 0 {
            rows.push(("other", other));
        }
        rows.sort_unstable();
        for (reason, n) in rows {
            let _ = writeln!(out, "fulcrum_{name}{{reason=\"{reason}\"}} {n}");
        }
    }
}

macro_rules! counters {
    ($($name:ident: $help:literal),* $(,)?) => {
        /// The counters.
        #[derive(Debug, Default)]
        pub(crate) struct Stats {
            $(#[doc = $help] pub(crate) $name: AtomicU64,)*
            /// DHCPv4 datagrams dropped, per reason.
            pub(crate) dhcp4_dropped: Reasons,
            /// DHCPv6 datagrams dropped, per reason.
            pub(crate) dhcp6_dropped: Reasons,
        }

        impl Stats {
            /// Prometheus exposition text.
            pub(crate) fn render(&self) -> String {
                let mut out = String::new();
                $(
                    let _ = writeln!(out, "# HELP fulcrum_{} {}", stringify!($name), $help);
                    let _ = writeln!(out, "# TYPE fulcrum_{} counter", stringify!($name));
                    let _ = writeln!(out, "fulcrum_{} {}", stringify!($name), self.$name.load(Ordering::Relaxed));
                )*
                self.dhcp4_dropped.render(&mut out, "dhcp4_dropped_total", "DHCPv4 datagrams dropped or not answered, per reason");
                self.dhcp6_dropped.render(&mut out, "dhcp6_dropped_total", "DHCPv6 datagrams dropped or not answered, per reason");
                out
            }
        }
    };
}

counters! {
    dhcp4_received: "DHCPv4 datagrams received",
    dhcp4_malformed: "DHCPv4 datagrams dropped because they did not parse",
    dhcp4_ignored: "DHCPv4 requests deliberately not answered",
    dhcp4_offers: "DHCPOFFERs sent",
    dhcp4_acks: "DHCPACKs sent",
    dhcp4_naks: "DHCPNAKs sent",
    dhcp4_send_errors: "DHCPv4 replies the socket refused",
    dhcp6_received: "DHCPv6 datagrams received",
    dhcp6_advertises: "DHCPv6 ADVERTISEs sent",
    dhcp6_replies: "DHCPv6 REPLYs sent",
    dhcp6_send_errors: "DHCPv6 answers the socket refused",
    ra_sent: "router advertisements sent",
    ra_solicits: "router solicitations received",
    tftp_requests: "TFTP read requests received",
    tftp_refused: "TFTP read requests refused (missing file or path outside the root)",
    boot_scripts: "iPXE boot scripts rendered",
    boot_refused: "boot requests (HTTP and TFTP) refused from outside the served networks",
    dns_queries: "DNS requests received (every opcode, UDP and TCP)",
    dns_answers: "DNS answers from Fulcrum's zones (AA set)",
    dns_cached: "DNS answers from Fulcrum's zones sent from a UDP loop's answer cache (counted in dns_answers too)",
    dns_nxdomain: "DNS answers NXDOMAIN from Fulcrum's zones",
    dns_refused: "DNS requests refused (outside the zones without forwarding, transfers not allowed, bad TSIG)",
    dns_formerr: "DNS requests answered FORMERR (not one question)",
    dns_forwarded: "DNS queries passed to the upstream resolvers",
    dns_transfers: "zone transfers (AXFR, IXFR) served",
    dns_notifies: "NOTIFY messages sent to secondaries",
}

/// Adds one to a counter.
pub(crate) fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(r: &Reasons) -> Vec<String> {
        let mut out = String::new();
        r.render(&mut out, "x_total", "help");
        out.lines().filter(|l| !l.starts_with('#')).map(str::to_string).collect()
    }

    #[test]
    fn reasons_count_apart_from_many_threads() {
        let r = Reasons::default();
        std::thread::scope(|s| {
            for t in 0..4 {
                let r = &r;
                s.spawn(move || {
                    for i in 0..1000 {
                        r.count(["rate_mac", "malformed", "no_network"][(i + t) % 3]);
                    }
                });
            }
        });
        assert_eq!(
            rows(&r),
            [
                "fulcrum_x_total{reason=\"malformed\"} 1333",
                "fulcrum_x_total{reason=\"no_network\"} 1333",
                "fulcrum_x_total{reason=\"rate_mac\"} 1334",
            ]
        );
    }

    #[test]
    fn reasons_beyond_the_slots_are_other() {
        let r = Reasons::default();
        for i in 0..REASON_SLOTS + 2 {
            r.count(Box::leak(format!("r{i:02}").into_boxed_str()));
        }
        let rows = rows(&r);
        assert_eq!(rows.len(), REASON_SLOTS + 1, "{rows:?}");
        assert!(rows.contains(&"fulcrum_x_total{reason=\"other\"} 2".to_string()), "{rows:?}");
    }
}
