//! The validation rules, table-driven: every rule with inputs it accepts
//! and inputs it refuses.

use std::net::Ipv4Addr;

use super::mac::Mac;
use super::names::{check_domain, check_fqdn, check_interface, check_name, host_part};
use super::range::Range;

#[test]
fn naming_rules_accept_and_refuse() {
    type Rule = fn(&str, &str) -> Result<(), super::field::FieldError>;
    let long_label = "a".repeat(64);
    let long_name = format!("{}.{}.{}.{}.x", "a".repeat(63), "b".repeat(63), "c".repeat(63), "d".repeat(63));
    let cases: &[(&str, Rule, &[&str], &[&str])] = &[
        (
            "record name",
            check_name,
            &["admin", "ubuntu-24.04", "db_primary", "R1", "a", &"x".repeat(63)],
            &["", "-lead", ".hidden", "_x", "sp ace", "sl/ash", "dots/..", "é", &"x".repeat(64)],
        ),
        (
            "fqdn",
            check_fqdn,
            &["a.b", "node-1.rack2.example.com", "d52-54-00-12-34-56.cluster.local"],
            &["", "single", "UPPER.case", "a..b", "-a.b", "a-.b", "a_b.c", "a.b.", &long_label, &long_name],
        ),
        (
            "domain",
            check_domain,
            &["local", "cluster.example", "test.example", "a-b.c"],
            &["", "Cluster.example", "a..b", "-x", "x_y", "trailing.", &long_label],
        ),
        (
            "interface",
            check_interface,
            &["eth0", "enp0s31f6", "br-fu.10", "veth-fu1"],
            &["", "a/b", "eth0:1", "with space", "sixteen-chars-xx"],
        ),
    ];
    for (rule, check, good, bad) in cases {
        for s in *good {
            assert!(check("f", s).is_ok(), "{rule}: `{s}` should be accepted");
        }
        for s in *bad {
            let e = check("f", s).expect_err(&format!("{rule}: `{s}` should be refused"));
            assert_eq!(e.field, "f", "{rule}: the error names the field");
        }
    }
    assert_eq!(host_part("n1.rack.example"), "n1");
    assert_eq!(host_part("bare"), "bare");
}

#[test]
fn macs_accept_every_spelling_and_refuse_garbage() {
    let want = Mac([0x52, 0x54, 0x00, 0xab, 0xcd, 0xef]);
    for s in ["52:54:00:ab:cd:ef", "52-54-00-AB-CD-EF", "525400abcdef", "5254.00ab.cdef", " 52:54:00:ab:cd:ef "] {
        assert_eq!(s.parse::<Mac>(), Ok(want), "{s}");
    }
    for s in ["", "52:54:00:ab:cd", "52:54:00:ab:cd:ef:01", "zz:54:00:ab:cd:ef", "5254000abcdéf", "+2:54:00:ab:cd:ef"]
    {
        assert!(s.parse::<Mac>().is_err(), "{s} should be refused");
    }
}

#[test]
fn ranges_accept_ordered_bounds_only() {
    let ip = |s: &str| s.parse::<Ipv4Addr>().unwrap();
    for (start, end, ok) in
        [("10.0.0.1", "10.0.0.9", true), ("10.0.0.5", "10.0.0.5", true), ("10.0.0.9", "10.0.0.1", false)]
    {
        let r = Range { start: ip(start), end: ip(end) };
        assert_eq!(r.check("dynamic").is_ok(), ok, "{start}-{end}");
        if let Err(e) = r.check("dynamic") {
            assert_eq!(e.field, "dynamic");
        }
    }
    let r = Range { start: ip("10.0.0.10"), end: ip("10.0.0.20") };
    assert!(r.contains(ip("10.0.0.10")) && r.contains(ip("10.0.0.20")) && !r.contains(ip("10.0.0.21")));
    assert!(r.overlaps(&Range { start: ip("10.0.0.20"), end: ip("10.0.0.30") }));
    assert!(!r.overlaps(&Range { start: ip("10.0.0.21"), end: ip("10.0.0.30") }));
    assert_eq!(r.from(ip("10.0.0.15")).iter().count(), 6);
    assert_eq!(r.from(ip("10.0.0.30")).iter().count(), 0);
}
