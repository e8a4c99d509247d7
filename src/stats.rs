//! Process-wide counters every service bumps (packets in, dropped,
//! malformed, answers by kind), exposed at `/metrics` in the Prometheus text
//! format. Plain atomics: counting never blocks a packet.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

macro_rules! counters {
    ($($name:ident: $help:literal),* $(,)?) => {
        /// The counters.
        #[derive(Debug, Default)]
        pub(crate) struct Stats { $(#[doc = $help] pub(crate) $name: AtomicU64,)* }

        impl Stats {
            /// Prometheus exposition text.
            pub(crate) fn render(&self) -> String {
                let mut out = String::new();
                $(
                    let _ = writeln!(out, "# HELP fulcrum_{} {}", stringify!($name), $help);
                    let _ = writeln!(out, "# TYPE fulcrum_{} counter", stringify!($name));
                    let _ = writeln!(out, "fulcrum_{} {}", stringify!($name), self.$name.load(Ordering::Relaxed));
                )*
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
