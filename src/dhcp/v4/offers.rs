//! Outstanding offers: the address promised to a client between OFFER and
//! REQUEST. Held in memory only (an offer is not a hand-out; the lease is
//! written before the ACK), so two clients are never offered one address.

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::sync::Mutex;

use crate::net::alloc;
use crate::types::mac::Mac;

/// Smallest table size at which expired offers are swept on insert.
const SWEEP_AT: usize = 4096;

#[derive(Default)]
struct Inner {
    by_mac: HashMap<Mac, (Ipv4Addr, u64)>,
    by_ip: HashMap<Ipv4Addr, (Mac, u64)>,
    /// Where the next dynamic-address search starts, per network.
    cursor: HashMap<String, Ipv4Addr>,
    /// Sweep expired offers when the table grows past this (amortised O(1)).
    sweep_at: usize,
}

/// The offer table.
#[derive(Default)]
pub(crate) struct Offers {
    inner: Mutex<Inner>,
}

impl Offers {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding this lock cannot leave it inconsistent in a
        // way that matters (entries expire), so keep going.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The unexpired address offered to `mac`.
    pub(crate) fn offered_to(&self, mac: &Mac, now: u64) -> Option<Ipv4Addr> {
        self.lock().by_mac.get(mac).filter(|(_, until)| *until > now).map(|(ip, _)| *ip)
    }

    /// Whether `ip` is promised to a client other than `mac`.
    pub(crate) fn held_by_other(&self, ip: Ipv4Addr, mac: &Mac, now: u64) -> bool {
        matches!(self.lock().by_ip.get(&ip), Some((m, until)) if m != mac && *until > now)
    }

    /// Promises `ip` to `mac` until `until`.
    pub(crate) fn offer(&self, mac: Mac, ip: Ipv4Addr, until: u64, now: u64) {
        let mut g = self.lock();
        if g.by_mac.len() > g.sweep_at.max(SWEEP_AT) {
            g.by_mac.retain(|_, (_, u)| *u > now);
            g.by_ip.retain(|_, (_, u)| *u > now);
            // Live offers stay; next sweep only after the table doubles again.
            g.sweep_at = 2 * g.by_mac.len();
        }
        if let Some((old, _)) = g.by_mac.insert(mac, (ip, until)) {
            if old != ip {
                g.by_ip.remove(&old);
            }
        }
        g.by_ip.insert(ip, (mac, until));
    }

    /// Where the next free-address search on `network` should start.
    pub(crate) fn cursor(&self, network: &str) -> Option<Ipv4Addr> {
        self.lock().cursor.get(network).copied()
    }

    /// A new address was just picked on `network`: search after it next.
    pub(crate) fn advance(&self, network: &str, ip: Ipv4Addr) {
        self.lock().cursor.insert(network.to_string(), alloc::cursor_after(ip));
    }

    /// Forgets the offer to `mac` (it took a lease, or chose another server).
    pub(crate) fn forget(&self, mac: &Mac) {
        let mut g = self.lock();
        if let Some((ip, _)) = g.by_mac.remove(mac) {
            if matches!(g.by_ip.get(&ip), Some((m, _)) if m == mac) {
                g.by_ip.remove(&ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offers_expire_and_are_exclusive() {
        let o = Offers::default();
        let a = Mac([1, 0, 0, 0, 0, 1]);
        let b = Mac([1, 0, 0, 0, 0, 2]);
        let ip: Ipv4Addr = "10.0.0.50".parse().unwrap();
        o.offer(a, ip, 100, 0);
        assert_eq!(o.offered_to(&a, 50), Some(ip));
        assert!(o.held_by_other(ip, &b, 50));
        assert!(!o.held_by_other(ip, &a, 50));
        assert!(!o.held_by_other(ip, &b, 100), "expired offers hold nothing");
        o.forget(&a);
        assert_eq!(o.offered_to(&a, 50), None);
        assert!(!o.held_by_other(ip, &b, 50));
    }
}
