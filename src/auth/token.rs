//! API tokens. A token is shown once, at creation, as `fk_<id>_<secret>`;
//! the store keeps only HMAC-SHA256 of it under a server key of its own
//! (the `auth_keys` record, created at first start), with the token's
//! name, access, expiry and revocation. Presenting a token looks its id
//! up and compares the digest in constant time.

use std::sync::Arc;

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use super::access::Access;
use super::error::AuthError;
use crate::state::{record, NoIndex, Record, StateError, Txn, World};
use crate::types::field::{Refusal, Refuse as _};
use crate::types::secret::{constant_time_eq, Secret};
use crate::types::time::now;

/// The prefix of an API token (machine tokens have none).
pub(crate) const PREFIX: &str = "fk_";
/// The name of the HMAC key.
const HMAC_KEY: &str = "token-hmac";

/// A key the server keeps for itself.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct AuthKey {
    pub(crate) name: String,
    pub(crate) key: Secret,
}

record!(AuthKey, kind = "auth_key", table = "auth_keys", key = name: String, index = NoIndex);

/// An API token as stored: never the token itself.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct ApiToken {
    pub(crate) id: u64,
    pub(crate) name: String,
    pub(crate) access: Access,
    /// HMAC-SHA256 of the token's secret part under the server's key, hex.
    pub(crate) digest: String,
    pub(crate) created_at: u64,
    /// Unix seconds after which the token is refused.
    pub(crate) expires_at: Option<u64>,
    /// Unix seconds at which it was revoked.
    pub(crate) revoked_at: Option<u64>,
}

record!(ApiToken, kind = "token", table = "tokens", key = id: u64, index = NoIndex);

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The server's HMAC key, made on first use.
fn key(txn: &mut Txn<'_>) -> Result<Secret, StateError> {
    if let Some(k) = txn.world().table::<AuthKey>().get(HMAC_KEY) {
        return Ok(k.key.clone());
    }
    let key = Secret::random_token();
    txn.put(AuthKey { name: HMAC_KEY.into(), key: key.clone() })?;
    Ok(key)
}

fn digest(key: &Secret, id: u64, secret: &str) -> String {
    // HMAC accepts keys of any length; `new_from_slice` cannot fail here.
    let mut mac = match Hmac::<Sha256>::new_from_slice(key.expose().as_bytes()) {
        Ok(m) => m,
        Err(_) => unreachable!("HMAC takes keys of any length"),
    };
    mac.update(id.to_string().as_bytes());
    mac.update(b"_");
    mac.update(secret.as_bytes());
    hex(&mac.finalize().into_bytes())
}

/// A token's text split into its id and secret part.
fn parse(token: &str) -> Option<(u64, &str)> {
    let (id, secret) = token.strip_prefix(PREFIX)?.split_once('_')?;
    Some((id.parse().ok()?, secret))
}

/// Creates a token; returns the record and the token's text (shown once).
pub(crate) fn create(
    txn: &mut Txn<'_>,
    name: String,
    access: Access,
    lifetime_seconds: Option<u64>,
) -> Result<(Arc<ApiToken>, Secret), AuthError> {
    crate::types::names::check_name("name", &name).map_err(Refusal::Invalid)?;
    let key = key(txn)?;
    let id = txn.world().table::<ApiToken>().iter().next_back().map_or(1, |t| t.id + 1);
    let secret = Secret::random_token();
    let t = now();
    let token = ApiToken {
        id,
        name,
        access,
        digest: digest(&key, id, secret.expose()),
        created_at: t,
        expires_at: lifetime_seconds.map(|s| t.saturating_add(s)),
        revoked_at: None,
    };
    let text = Secret::new(format!("{PREFIX}{id}_{}", secret.expose()));
    Ok((txn.put(token)?, text))
}

/// Revokes a token (idempotent).
pub(crate) fn revoke(txn: &mut Txn<'_>, id: u64) -> Result<Arc<ApiToken>, AuthError> {
    let mut token = txn
        .world()
        .table::<ApiToken>()
        .get(&id)
        .map(|t| (**t).clone())
        .ok_or_else(|| AuthError::not_found(ApiToken::KIND, id))?;
    if token.revoked_at.is_none() {
        token.revoked_at = Some(now());
    }
    Ok(txn.put(token)?)
}

/// The token `presented` is, if it is a valid API token now.
pub(crate) fn verify(w: &World, presented: &str, at: u64) -> Result<Arc<ApiToken>, AuthError> {
    let (id, secret) = parse(presented).ok_or(AuthError::Unknown)?;
    let token = w.table::<ApiToken>().get(&id).ok_or(AuthError::Unknown)?;
    let key = w.table::<AuthKey>().get(HMAC_KEY).ok_or(AuthError::Unknown)?;
    if !constant_time_eq(digest(&key.key, id, secret).as_bytes(), token.digest.as_bytes()) {
        return Err(AuthError::Unknown);
    }
    if token.revoked_at.is_some() {
        return Err(AuthError::Revoked { id });
    }
    if token.expires_at.is_some_and(|e| e <= at) {
        return Err(AuthError::Expired { id });
    }
    Ok(token.clone())
}

/// How many seconds `30d`, `12h`, `90m`, `3600s` or `3600` is.
pub(crate) fn parse_lifetime(s: &str) -> Option<u64> {
    let s = s.trim();
    let (n, unit) = match s.char_indices().last()? {
        (i, c) if c.is_ascii_alphabetic() => (&s[..i], c),
        _ => (s, 's'),
    };
    let n: u64 = n.parse().ok()?;
    let factor = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3600,
        'd' => 86_400,
        'w' => 604_800,
        _ => return None,
    };
    n.checked_mul(factor).filter(|s| *s > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifetimes() {
        assert_eq!(parse_lifetime("30d"), Some(30 * 86_400));
        assert_eq!(parse_lifetime("12h"), Some(43_200));
        assert_eq!(parse_lifetime("90m"), Some(5_400));
        assert_eq!(parse_lifetime("3600"), Some(3_600));
        for bad in ["", "d", "0", "-1d", "3y", "1.5h", "99999999999999999999d"] {
            assert_eq!(parse_lifetime(bad), None, "{bad}");
        }
    }

    #[test]
    fn token_text() {
        assert_eq!(parse("fk_12_abc"), Some((12, "abc")));
        for bad in ["", "fk_", "fk_x_abc", "12_abc", "fk_12"] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }
}
