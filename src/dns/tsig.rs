//! TSIG (RFC 8945) with the one key shared with the secondaries: checking
//! a signed request (a transfer, a SOA query) and signing what Fulcrum
//! sends (transfer messages, chained; NOTIFYs). hickory-proto has the
//! record's wire form; the MACs are computed here with `hmac`, over the
//! request bytes exactly as they arrived.

use std::fmt;

use hickory_proto::op::{Header, HeaderCounts};
use hickory_proto::rr::rdata::tsig::{make_tsig_record, TsigAlgorithm, TsigError, TSIG};
use hickory_proto::rr::{Name, RData, Record};
use hickory_proto::serialize::binary::{BinDecodable, BinDecoder, BinEncodable, BinEncoder};
use hmac::{Hmac, Mac};

use crate::config::TsigConfig;

/// Seconds of clock difference allowed (RFC 8945 recommends 300).
pub(crate) const FUDGE: u16 = 300;

/// Key material, never printed.
#[derive(Clone)]
struct KeyBytes(Vec<u8>);

impl fmt::Debug for KeyBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// The shared key.
#[derive(Clone, Debug)]
pub(crate) struct TsigKey {
    name: Name,
    algorithm: TsigAlgorithm,
    secret: KeyBytes,
}

/// A request's signature, checked.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Check {
    /// It carries none.
    Unsigned,
    /// Signed with our key; the MAC that the answer's MAC chains from.
    Valid { mac: Vec<u8> },
    /// Signed, but not acceptably (RFC 8945 5.2: BADKEY, BADSIG, BADTIME).
    Invalid(TsigError),
}

impl TsigKey {
    /// The configured key (the config checked the algorithm and secret).
    pub(crate) fn from_config(c: &TsigConfig) -> anyhow::Result<TsigKey> {
        let name = Name::from_ascii(format!("{}.", c.name.trim_end_matches('.')))?;
        let algorithm = match c.algorithm.as_str() {
            "hmac-sha384" => TsigAlgorithm::HmacSha384,
            "hmac-sha512" => TsigAlgorithm::HmacSha512,
            _ => TsigAlgorithm::HmacSha256,
        };
        let secret = data_encoding::BASE64.decode(c.secret.expose().as_bytes())?;
        Ok(TsigKey { name, algorithm, secret: KeyBytes(secret) })
    }

    fn mac(&self, data: &[u8]) -> Vec<u8> {
        macro_rules! hmac_of {
            ($d:ty) => {
                match <Hmac<$d> as Mac>::new_from_slice(&self.secret.0) {
                    Ok(mut m) => {
                        m.update(data);
                        m.finalize().into_bytes().to_vec()
                    }
                    // HMAC takes keys of any length.
                    Err(_) => Vec::new(),
                }
            };
        }
        match self.algorithm {
            TsigAlgorithm::HmacSha384 => hmac_of!(sha2::Sha384),
            TsigAlgorithm::HmacSha512 => hmac_of!(sha2::Sha512),
            _ => hmac_of!(sha2::Sha256),
        }
    }

    /// Checks the TSIG that ends `raw`, if any, at Unix time `now`.
    pub(crate) fn check(&self, raw: &[u8], now: u64) -> Check {
        let Ok(Some((start, tsig))) = split(raw) else { return Check::Unsigned };
        if tsig.name != self.name || tsig.data.algorithm != self.algorithm {
            return Check::Invalid(TsigError::BadKey);
        }
        let Ok(tbs) = to_be_signed(raw, start, &tsig, None, true) else { return Check::Invalid(TsigError::BadSig) };
        let want = self.mac(&tbs);
        if !crate::types::secret::constant_time_eq(&want, &tsig.data.mac) {
            return Check::Invalid(TsigError::BadSig);
        }
        if now.abs_diff(tsig.data.time) > u64::from(tsig.data.fudge) {
            return Check::Invalid(TsigError::BadTime);
        }
        Check::Valid { mac: tsig.data.mac.clone() }
    }

    /// The TSIG record for `unsigned` (a whole message, without it): the
    /// MAC covers the prior MAC (the request's, or the previous message's
    /// in a transfer), the message, and all variables on the first message,
    /// only time and fudge on the later ones.
    pub(crate) fn sign(&self, unsigned: &[u8], prior: Option<&[u8]>, first: bool, now: u64) -> Box<Record<TSIG>> {
        let oid = unsigned.get(..2).map_or(0, |b| u16::from_be_bytes([b[0], b[1]]));
        let stub = TSIG::new(self.algorithm.clone(), now, FUDGE, Vec::new(), oid, None, Vec::new());
        let mut tbs = Vec::with_capacity(unsigned.len() + 128);
        let mut e = BinEncoder::new(&mut tbs);
        let ok = (|| -> Result<(), hickory_proto::ProtoError> {
            if let Some(p) = prior {
                e.emit_u16(p.len() as u16)?;
                e.emit_vec(p)?;
            }
            e.emit_vec(unsigned)?;
            emit_variables(&mut e, &stub, &self.name, first)
        })();
        let mac = if ok.is_ok() { self.mac(&tbs) } else { Vec::new() };
        Box::new(make_tsig_record(self.name.clone(), stub.set_mac(mac)))
    }

    /// The error answer's TSIG (RFC 8945 5.3.2): unsigned for BADKEY and
    /// BADSIG, carrying the error code.
    pub(crate) fn error_record(&self, oid: u16, error: TsigError, now: u64) -> Box<Record<TSIG>> {
        let t = TSIG::new(self.algorithm.clone(), now, FUDGE, Vec::new(), oid, Some(error), Vec::new());
        Box::new(make_tsig_record(self.name.clone(), t))
    }
}

fn emit_variables(e: &mut BinEncoder<'_>, t: &TSIG, key: &Name, first: bool) -> Result<(), hickory_proto::ProtoError> {
    if first {
        t.emit_tsig_for_mac(e, key)
    } else {
        e.emit_u16((t.time >> 32) as u16)?;
        e.emit_u32(t.time as u32)?;
        e.emit_u16(t.fudge)
    }
}

/// Where the final TSIG record of `raw` starts, and the record; `None` if
/// the message has none.
fn split(raw: &[u8]) -> Result<Option<(usize, Record<TSIG>)>, hickory_proto::ProtoError> {
    let mut d = BinDecoder::new(raw);
    let header = Header::read(&mut d)?;
    let op = header.metadata.op_code;
    let HeaderCounts { queries, answers, authorities, additionals } = header.counts;
    if additionals == 0 {
        return Ok(None);
    }
    hickory_proto::op::Message::read_queries(&mut d, usize::from(queries))?;
    hickory_proto::op::Message::read_records(&mut d, usize::from(answers) + usize::from(authorities), false, op)?;
    hickory_proto::op::Message::read_records(&mut d, usize::from(additionals) - 1, true, op)?;
    let start = raw.len() - d.len();
    // Without hickory's DNSSEC features the TSIG comes back as a plain
    // record of the section; with them, as the signature.
    let (records, _, sig) = hickory_proto::op::Message::read_records(&mut d, 1, true, op)?;
    if let Some(s) = sig {
        return Ok(Some((start, *s)));
    }
    Ok(records.into_iter().next().and_then(|r| match r.data {
        RData::TSIG(t) => Some((start, make_tsig_record(r.name, t))),
        _ => None,
    }))
}

/// The bytes a request's MAC covers.
fn to_be_signed(
    raw: &[u8],
    start: usize,
    tsig: &Record<TSIG>,
    prior: Option<&[u8]>,
    first: bool,
) -> Result<Vec<u8>, hickory_proto::ProtoError> {
    let mut d = BinDecoder::new(raw);
    let mut header = Header::read(&mut d)?;
    header.counts.additionals = header.counts.additionals.saturating_sub(1);
    header.metadata.id = tsig.data.oid;
    let mut buf = Vec::with_capacity(raw.len());
    let mut e = BinEncoder::new(&mut buf);
    if let Some(p) = prior {
        e.emit_u16(p.len() as u16)?;
        e.emit_vec(p)?;
    }
    header.emit(&mut e)?;
    e.emit_vec(raw.get(12..start).unwrap_or_default())?;
    emit_variables(&mut e, &tsig.data, &tsig.name, first)?;
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::op::{Message, MessageType, OpCode, Query};
    use hickory_proto::rr::RecordType;

    fn key(secret: &str) -> TsigKey {
        let c: TsigConfig = toml::from_str(&format!("name = \"xfr\"\nsecret = \"{secret}\"")).unwrap();
        TsigKey::from_config(&c).unwrap()
    }

    #[test]
    fn a_signed_request_checks_and_a_tampered_one_does_not() {
        let k = key("c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0");
        let mut m = Message::new(7, MessageType::Query, OpCode::Query);
        m.add_query(Query::query(Name::from_ascii("example.").unwrap(), RecordType::AXFR));
        let unsigned = m.to_vec().unwrap();
        let sig = k.sign(&unsigned, None, true, 1_800_000_000);
        m.signature = Some(sig);
        let signed = m.to_vec().unwrap();
        assert!(matches!(k.check(&signed, 1_800_000_010), Check::Valid { .. }));
        assert_eq!(k.check(&signed, 1_800_001_000), Check::Invalid(TsigError::BadTime));
        assert_eq!(
            key("b3RoZXItb3RoZXItb3RoZXItb3RoZXI=").check(&signed, 1_800_000_000),
            Check::Invalid(TsigError::BadSig)
        );
        let mut bad = signed.clone();
        bad[13] ^= 1;
        assert_ne!(k.check(&bad, 1_800_000_000), Check::Unsigned);
        assert!(!matches!(k.check(&bad, 1_800_000_000), Check::Valid { .. }));
        assert_eq!(k.check(&unsigned, 1_800_000_000), Check::Unsigned);
    }
}
