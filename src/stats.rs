//! Process-wide counters every service bumps (packets in, dropped,
//! malformed, answers by kind), exposed at `/metrics` in the Prometheus text
//! format. Plain atomics: counting never blocks a packet; the dropped DHCP
//! datagrams are counted per reason ([`Reasons`]).

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// A counter per reason, for the drops whose reasons the dropping room
/// names (`fulcrum_dhcp4_dropped_total{reason="rate_mac"}`).
#[derive(Debug, Default)]
pub(crate) struct Reasons {
    counts: Mutex<BTreeMap<&'static str, u64>>,
}

impl Reasons {
    /// One more for `reason` (a snake_case label).
    pub(crate) fn count(&self, reason: &'static str) {
        *self.counts.lock().unwrap_or_else(|p| p.into_inner()).entry(reason).or_default() += 1;
    }

    fn render(&self, out: &mut String, name: &str, help: &str) {
        let _ = writeln!(out, "# HELP fulcrum_{name} {help}");
        let _ = writeln!(out, "# TYPE fulcrum_{name} counter");
        for (reason, n) in self.counts.lock().unwrap_or_else(|p| p.into_inner()).iter() {
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
    tftp_requests: "TFTP read requests received",
    tftp_refused: "TFTP read requests refused (missing file or path outside the root)",
    boot_scripts: "iPXE boot scripts rendered",
    boot_refused: "boot requests (HTTP and TFTP) refused from outside the served networks",
}

/// Adds one to a counter.
pub(crate) fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}
