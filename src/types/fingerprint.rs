//! [`Fingerprint`]: the SHA-256 digest of a certificate's DER encoding, the
//! way operators compare and pin the API's TLS certificate. Written as 32
//! colon-separated upper-case hex pairs (`AB:CD:...`, as `openssl x509
//! -fingerprint -sha256` prints it); read in that form, without colons, in
//! either case, with or without a leading `sha256:`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};

/// A certificate's SHA-256 fingerprint.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fingerprint([u8; 32]);

impl Fingerprint {
    /// The fingerprint of a DER-encoded certificate.
    pub fn of(der: &[u8]) -> Fingerprint {
        Fingerprint(Sha256::digest(der).into())
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        super::hex::write(f, &self.0, true)
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fingerprint({self})")
    }
}

/// Why a fingerprint does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a SHA-256 fingerprint is 64 hex digits, optionally in colon-separated pairs (`AB:CD:...`)")]
pub struct BadFingerprint;

impl FromStr for Fingerprint {
    type Err = BadFingerprint;

    fn from_str(s: &str) -> Result<Fingerprint, BadFingerprint> {
        let s = s.trim();
        let s = s.strip_prefix("sha256:").or_else(|| s.strip_prefix("SHA256:")).unwrap_or(s);
        let hex: Vec<u8> = s.bytes().filter(|&b| b != b':').collect();
        let colons = s.len() - hex.len();
        if hex.len() != 64 || (colons != 0 && colons != 31) {
            return Err(BadFingerprint);
        }
        let mut out = [0u8; 32];
        for (o, pair) in out.iter_mut().zip(hex.chunks(2)) {
            let pair = std::str::from_utf8(pair).map_err(|_| BadFingerprint)?;
            *o = u8::from_str_radix(pair, 16).map_err(|_| BadFingerprint)?;
        }
        Ok(Fingerprint(out))
    }
}

impl Serialize for Fingerprint {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Fingerprint {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Fingerprint, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

crate::types::schema::string_valued!(
    Fingerprint,
    "A certificate's SHA-256 fingerprint: 32 colon-separated upper-case hex pairs.",
    Some("^[0-9A-F]{2}(:[0-9A-F]{2}){31}$")
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prints_and_reads_every_spelling() {
        let f = Fingerprint::of(b"certificate");
        let text = f.to_string();
        assert_eq!(text.len(), 95);
        assert_eq!(text.parse(), Ok(f));
        assert_eq!(text.to_lowercase().parse(), Ok(f));
        assert_eq!(text.replace(':', "").parse(), Ok(f));
        assert_eq!(format!("sha256:{text}").parse(), Ok(f));
        for bad in
            ["", "AB:CD", &text[..94], &format!("{text}:00"), &text.replacen('A', "G", 1), "A:B".repeat(32).as_str()]
        {
            if bad != text {
                assert_eq!(bad.parse::<Fingerprint>(), Err(BadFingerprint), "{bad}");
            }
        }
    }
}
