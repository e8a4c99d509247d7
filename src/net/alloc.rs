//! The free-address search shared by static (node) and dynamic (lease)
//! allocation: from a cursor to the end of the range, then from the start
//! up to the cursor, so a burst of allocations costs O(1) each instead of
//! a scan from the start. Pure: the caller says what is free, keeps the
//! cursor, and commits its choice in a transaction that checks it again.

use std::net::Ipv4Addr;

use crate::types::range::Range;

/// The first address of `range` for which `free` holds, searching from
/// `cursor` (the range's start when unset or outside it) and wrapping.
pub(crate) fn search(range: &Range, cursor: Option<Ipv4Addr>, free: impl Fn(Ipv4Addr) -> bool) -> Option<Ipv4Addr> {
    let from = cursor.filter(|c| range.contains(*c)).unwrap_or(range.start);
    range
        .from(from)
        .iter()
        .find(|ip| free(*ip))
        .or_else(|| range.iter().take_while(|ip| *ip < from).find(|ip| free(*ip)))
}

/// Where the next search starts after `ip` was taken.
pub(crate) fn cursor_after(ip: Ipv4Addr) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(ip).wrapping_add(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn searches_from_the_cursor_and_wraps() {
        let ip = |s: &str| s.parse::<Ipv4Addr>().unwrap();
        let r = Range { start: ip("10.0.0.10"), end: ip("10.0.0.13") };
        assert_eq!(search(&r, None, |_| true), Some(ip("10.0.0.10")));
        assert_eq!(search(&r, Some(ip("10.0.0.12")), |_| true), Some(ip("10.0.0.12")));
        assert_eq!(
            search(&r, Some(ip("10.0.0.12")), |a| a != ip("10.0.0.12") && a != ip("10.0.0.13")),
            Some(ip("10.0.0.10"))
        );
        assert_eq!(search(&r, Some(ip("10.9.9.9")), |_| true), Some(ip("10.0.0.10")), "a cursor outside restarts");
        assert_eq!(search(&r, Some(ip("10.0.0.11")), |_| false), None);
        assert_eq!(cursor_after(ip("10.0.0.13")), ip("10.0.0.14"));
    }
}
