//! Rate limits per client and per source address (token buckets), so that
//! one client's flood cannot starve the others: a DHCPv4 datagram over its
//! MAC's or its source's rate is dropped before it is decoded (the MAC is
//! read at its fixed offset in the raw datagram), a DHCPv6 message over its
//! DUID's rate right after, and counted. The source limit spares
//! `0.0.0.0`, which every client without an address shares.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Where the client hardware address starts in a BOOTP datagram.
const CHADDR: std::ops::Range<usize> = 28..34;
/// Beyond this many tracked keys, idle ones are swept.
const SWEEP_AT: usize = 65_536;
/// A bucket idle this long is full again; it can be forgotten.
const IDLE: Duration = Duration::from_secs(10);

/// Which limit a datagram is over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Over {
    /// Its client MAC sends too fast.
    Mac,
    /// Its source address sends too fast.
    Source,
    /// Its DHCPv6 client (DUID) sends too fast.
    Duid,
}

impl Over {
    /// The reason's label in `/metrics`.
    pub(crate) fn label(self) -> &'static str {
        match self {
            Over::Mac => "rate_mac",
            Over::Source => "rate_source",
            Over::Duid => "rate_duid",
        }
    }
}

#[derive(Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// Token buckets of one kind of key.
struct Buckets<K> {
    /// Tokens a second (0: no limit).
    rate: f64,
    burst: f64,
    map: HashMap<K, Bucket>,
    sweep_at: usize,
}

impl<K: std::hash::Hash + Eq> Buckets<K> {
    fn new(per_second: u32) -> Buckets<K> {
        let rate = f64::from(per_second);
        Buckets { rate, burst: (2.0 * rate).max(4.0), map: HashMap::new(), sweep_at: SWEEP_AT }
    }

    /// Takes a token for `key`; `false` when it has none left.
    fn take(&mut self, key: K, now: Instant) -> bool {
        if self.rate <= 0.0 {
            return true;
        }
        if self.map.len() > self.sweep_at {
            self.map.retain(|_, b| now.duration_since(b.at) < IDLE);
            self.sweep_at = (2 * self.map.len()).max(SWEEP_AT);
        }
        let (rate, burst) = (self.rate, self.burst);
        let b = self.map.entry(key).or_insert(Bucket { tokens: burst, at: now });
        b.tokens = (b.tokens + now.duration_since(b.at).as_secs_f64() * rate).min(burst);
        b.at = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// The buckets behind one lock.
struct AllBuckets {
    macs: Buckets<[u8; 6]>,
    sources: Buckets<IpAddr>,
    /// Keyed by a hash of the DUID.
    duids: Buckets<u64>,
}

/// The limits of one DHCP server.
pub(crate) struct Limits {
    inner: Mutex<AllBuckets>,
    /// Keys the DUID hash (random per process: nobody can aim a collision
    /// at another client's bucket).
    duid_hasher: std::collections::hash_map::RandomState,
}

impl Limits {
    /// At most `per_client` datagrams a second from one client (its MAC,
    /// or its DUID) and `per_source` from one source address, each with a
    /// burst of twice that; 0 turns a limit off.
    pub(crate) fn new(per_client: u32, per_source: u32) -> Limits {
        Limits {
            inner: Mutex::new(AllBuckets {
                macs: Buckets::new(per_client),
                sources: Buckets::new(per_source),
                duids: Buckets::new(per_client),
            }),
            duid_hasher: std::collections::hash_map::RandomState::new(),
        }
    }

    /// Whether a DHCPv6 message from client `duid` is within its rate.
    pub(crate) fn admit_duid(&self, duid: &[u8], now: Instant) -> Result<(), Over> {
        use std::hash::BuildHasher;
        let key = self.duid_hasher.hash_one(duid);
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if g.duids.take(key, now) {
            Ok(())
        } else {
            Err(Over::Duid)
        }
    }

    /// Whether the datagram `bytes`, from `source`, is within the limits.
    pub(crate) fn admit(&self, source: IpAddr, bytes: &[u8], now: Instant) -> Result<(), Over> {
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let AllBuckets { macs, sources, .. } = &mut *g;
        if !source.is_unspecified() && !sources.take(source, now) {
            return Err(Over::Source);
        }
        if let Some(mac) = bytes.get(CHADDR).and_then(|m| <[u8; 6]>::try_from(m).ok()) {
            if !macs.take(mac, now) {
                return Err(Over::Mac);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn datagram(mac: u8) -> Vec<u8> {
        let mut d = vec![0u8; 300];
        d[28..34].copy_from_slice(&[2, 0, 0, 0, 0, mac]);
        d
    }

    #[test]
    fn a_flooding_mac_is_limited_and_others_are_not() {
        let l = Limits::new(10, 0);
        let t = Instant::now();
        let src: IpAddr = "10.0.0.1".parse().unwrap();
        let passed = (0..1000).filter(|_| l.admit(src, &datagram(1), t).is_ok()).count();
        assert_eq!(passed, 20, "the burst, then nothing");
        assert!(l.admit(src, &datagram(2), t).is_ok(), "another client is untouched");
        assert_eq!(l.admit(src, &datagram(1), t), Err(Over::Mac));
        assert!(l.admit(src, &datagram(1), t + Duration::from_millis(200)).is_ok(), "the bucket refills");
    }

    #[test]
    fn a_flooding_duid_is_limited_and_others_are_not() {
        let l = Limits::new(10, 0);
        let t = Instant::now();
        let duid = [0, 3, 0, 1, 2, 0, 0, 0, 0, 1];
        assert_eq!((0..1000).filter(|_| l.admit_duid(&duid, t).is_ok()).count(), 20);
        assert_eq!(l.admit_duid(&duid, t), Err(Over::Duid));
        assert!(l.admit_duid(&[0, 3, 0, 1, 2, 0, 0, 0, 0, 2], t).is_ok(), "another client is untouched");
        assert!(Limits::new(0, 0).admit_duid(&duid, t).is_ok(), "0: no limit");
    }

    #[test]
    fn sources_are_limited_except_the_unaddressed() {
        let l = Limits::new(0, 5);
        let t = Instant::now();
        let relay: IpAddr = "10.0.0.254".parse().unwrap();
        assert_eq!((0..50u8).filter(|m| l.admit(relay, &datagram(*m), t).is_ok()).count(), 10);
        assert_eq!(l.admit(relay, &datagram(99), t), Err(Over::Source));
        let none: IpAddr = "0.0.0.0".parse().unwrap();
        assert!((0..50u8).all(|m| l.admit(none, &datagram(m), t).is_ok()));
    }
}
