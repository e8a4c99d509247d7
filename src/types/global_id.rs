//! The cluster's 40-bit Global ID (RFC 4193 section 3.2): chosen at random
//! once at first start and kept with the data, it makes the cluster's
//! `auto` IPv6 prefixes unique.

use rand::RngCore;
use serde::{Deserialize, Serialize};

/// A 40-bit RFC 4193 Global ID.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub(crate) struct GlobalId(u64);

impl GlobalId {
    /// The 40 bits a Global ID has.
    const MASK: u64 = (1 << 40) - 1;

    /// A fresh random Global ID.
    pub(crate) fn random() -> GlobalId {
        GlobalId(rand::rng().next_u64() & Self::MASK)
    }

    /// A Global ID from its stored value (bits above the 40th are dropped).
    pub(crate) fn from_u64(v: u64) -> GlobalId {
        GlobalId(v & Self::MASK)
    }

    /// The 40-bit value.
    pub(crate) fn value(self) -> u64 {
        self.0
    }
}
