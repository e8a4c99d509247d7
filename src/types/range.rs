//! Inclusive IPv4 address ranges (a network's static and dynamic ranges).

use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

use super::field::FieldError;

/// An inclusive IPv4 address range.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Range {
    pub(crate) start: Ipv4Addr,
    pub(crate) end: Ipv4Addr,
}

impl Range {
    /// Whether `ip` is inside the range.
    pub(crate) fn contains(&self, ip: Ipv4Addr) -> bool {
        self.start <= ip && ip <= self.end
    }

    /// Whether the two ranges share an address.
    pub(crate) fn overlaps(&self, other: &Range) -> bool {
        self.start <= other.end && other.start <= self.end
    }

    /// Every address of the range, in order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = Ipv4Addr> {
        (u32::from(self.start)..=u32::from(self.end)).map(Ipv4Addr::from)
    }

    /// The range from `from` to the end (empty if `from` is past it).
    pub(crate) fn from(&self, from: Ipv4Addr) -> Range {
        Range { start: from.max(self.start), end: self.end }
    }

    /// Refuses a range whose start is after its end; `field` names it.
    pub(crate) fn check(&self, field: &str) -> Result<(), FieldError> {
        if self.start > self.end {
            return Err(FieldError::new(field, format!("start {} is after end {}", self.start, self.end)));
        }
        Ok(())
    }
}
