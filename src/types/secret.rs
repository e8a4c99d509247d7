//! [`Secret`]: a string (a node token, a BMC password) whose `Debug` and
//! `Serialize` never show its value, and whose parse errors never repeat
//! it. A view, a log
//! line or the change feed that includes a record with a secret shows
//! `"<redacted>"` instead.
//!
//! The one place that must write the value is the store. It serializes
//! records inside [`for_storage`], which is the only way to make a
//! `Secret` serialize its value; it also reports whether the record held a
//! secret, so that the state mechanism knows to serialize the record once
//! more, redacted, for the change feed.

use std::cell::Cell;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// What a secret serializes as outside the store.
pub(crate) const REDACTED: &str = "<redacted>";

thread_local! {
    /// Inside [`for_storage`]: how many secrets were serialized with their
    /// value; `None` outside it.
    static STORING: Cell<Option<usize>> = const { Cell::new(None) };
}

/// Runs `f` (a serialization for the store) with secrets serializing their
/// values; returns its result and whether any secret was serialized. Only
/// the store's encoder calls this.
pub(crate) fn for_storage<T>(f: impl FnOnce() -> T) -> (T, bool) {
    /// Restores the outer state when the scope ends, also by a panic, so
    /// that a caught panic cannot leave this thread revealing secrets.
    struct Restore(Option<usize>);
    impl Drop for Restore {
        fn drop(&mut self) {
            STORING.with(|s| s.set(self.0));
        }
    }
    let guard = Restore(STORING.with(|s| s.replace(Some(0))));
    let out = f();
    let seen = STORING.with(Cell::get).unwrap_or(0);
    drop(guard);
    (out, seen > 0)
}

/// Whether `a` and `b` are equal, in time that depends only on their
/// lengths.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A secret string.
#[derive(Clone, Default)]
pub(crate) struct Secret(String);

impl Secret {
    /// Wraps a value.
    pub(crate) fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// A fresh random token: 128 bits as 32 hex digits.
    pub(crate) fn random_token() -> Secret {
        Secret((0..16).map(|_| format!("{:02x}", rand::random::<u8>())).collect())
    }

    /// The value, for the few places that must hand it out on purpose (a
    /// machine's own discover answer and templates; `ipmitool`'s
    /// environment).
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }

    /// Whether `presented` is this secret (never true for an empty one),
    /// compared in constant time.
    pub(crate) fn matches(&self, presented: &str) -> bool {
        !self.0.is_empty() && constant_time_eq(self.0.as_bytes(), presented.as_bytes())
    }
}

impl PartialEq for Secret {
    /// Constant-time, like [`Secret::matches`] (two empty secrets are equal).
    fn eq(&self, other: &Secret) -> bool {
        (self.0.is_empty() && other.0.is_empty()) || self.matches(&other.0)
    }
}

impl Eq for Secret {}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret({REDACTED})")
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let storing = STORING.with(|c| match c.get() {
            Some(n) => {
                c.set(Some(n + 1));
                true
            }
            None => false,
        });
        if storing {
            s.serialize_str(&self.0)
        } else {
            s.serialize_str(REDACTED)
        }
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(SecretVisitor)
    }
}

/// Reads a secret as a string. Whatever else it is given is refused
/// without repeating it: serde's own message would quote the value.
struct SecretVisitor;

impl serde::de::Visitor<'_> for SecretVisitor {
    type Value = Secret;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a secret, as a string")
    }

    fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Secret, E> {
        if s == REDACTED {
            return Err(E::custom("a redacted secret is not a value"));
        }
        Ok(Secret(s.to_string()))
    }

    fn visit_string<E: serde::de::Error>(self, s: String) -> Result<Secret, E> {
        if s == REDACTED {
            return Err(E::custom("a redacted secret is not a value"));
        }
        Ok(Secret(s))
    }

    fn visit_i64<E: serde::de::Error>(self, _: i64) -> Result<Secret, E> {
        Err(E::custom("a secret must be a string (the value is not repeated here)"))
    }

    fn visit_u64<E: serde::de::Error>(self, _: u64) -> Result<Secret, E> {
        Err(E::custom("a secret must be a string (the value is not repeated here)"))
    }

    fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<Secret, E> {
        Err(E::custom("a secret must be a string (the value is not repeated here)"))
    }

    fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<Secret, E> {
        Err(E::custom("a secret must be a string (the value is not repeated here)"))
    }
}

/// A secret handed to the one it belongs to (a machine's own token in its
/// discover answer): it serializes its value, because that is its purpose,
/// but still never shows it in `Debug`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub(crate) struct Handover(String);

impl Handover {
    /// Hands `secret` over.
    pub(crate) fn of(secret: &Secret) -> Handover {
        Handover(secret.0.clone())
    }

    /// The value, for the receiving side.
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Handover {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Handover({REDACTED})")
    }
}

crate::types::schema::string_valued!(Secret, "A secret: taken as given, always shown as `<redacted>`.", None);
crate::types::schema::string_valued!(Handover, "A secret handed to its owner, in full.", None);

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize)]
    struct Holder {
        name: &'static str,
        token: Secret,
    }

    #[test]
    fn never_shown_outside_the_store() {
        let h = Holder { name: "n", token: Secret::new("s3cr3t-value") };
        let view = serde_json::to_string(&h).unwrap();
        assert!(!view.contains("s3cr3t"), "{view}");
        assert!(view.contains(REDACTED));
        assert!(!format!("{:?}", h.token).contains("s3cr3t"));
        let (stored, had) = for_storage(|| serde_json::to_string(&h).unwrap());
        assert!(had && stored.contains("s3cr3t-value"), "{stored}");
        // The scope ends with the call.
        assert!(!serde_json::to_string(&h).unwrap().contains("s3cr3t"));
        let (_, had) = for_storage(|| serde_json::to_string(&"plain").unwrap());
        assert!(!had);
        // A panic inside the scope does not leave it open.
        let caught = std::panic::catch_unwind(|| for_storage(|| panic!("boom")));
        assert!(caught.is_err());
        assert!(!serde_json::to_string(&h).unwrap().contains("s3cr3t"), "a panic left the scope open");
        // What a view shows is not a value.
        assert!(serde_json::from_str::<Secret>(&format!("\"{REDACTED}\"")).is_err());
        let handed = Handover::of(&h.token);
        assert!(serde_json::to_string(&handed).unwrap().contains("s3cr3t-value"));
        assert!(!format!("{handed:?}").contains("s3cr3t"));
    }

    #[test]
    fn matching() {
        let s = Secret::new("abc");
        assert!(s.matches("abc"));
        assert!(!s.matches("abd") && !s.matches("ab") && !s.matches(""));
        assert!(!Secret::default().matches(""));
        assert_eq!(Secret::random_token().expose().len(), 32);
    }
}
