//! Bytes as colon-separated hex pairs (`00:01:ab`), the spelling DHCP
//! identifiers and certificate fingerprints are shown in.

use std::fmt;

/// Writes `bytes` as colon-separated pairs, upper- or lower-case.
pub(crate) fn write(f: &mut fmt::Formatter<'_>, bytes: &[u8], upper: bool) -> fmt::Result {
    for (i, b) in bytes.iter().enumerate() {
        if i > 0 {
            f.write_str(":")?;
        }
        if upper {
            write!(f, "{b:02X}")?;
        } else {
            write!(f, "{b:02x}")?;
        }
    }
    Ok(())
}

/// Reads colon-separated pairs (either case); `None` unless every part is
/// exactly two hex digits.
pub(crate) fn parse(s: &str) -> Option<Vec<u8>> {
    s.split(':').map(|p| if p.len() == 2 { u8::from_str_radix(p, 16).ok() } else { None }).collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn pairs_both_ways() {
        struct Show<'a>(&'a [u8]);
        impl std::fmt::Display for Show<'_> {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                super::write(f, self.0, false)
            }
        }
        assert_eq!(Show(&[0, 1, 0xab]).to_string(), "00:01:ab");
        assert_eq!(super::parse("00:01:AB"), Some(vec![0, 1, 0xab]));
        for bad in ["", "0:01", "000:1", "zz", "00:"] {
            assert_eq!(super::parse(bad), None, "{bad}");
        }
    }
}
