//! [`Secret`]: a string (a node token today; API tokens and BMC passwords
//! next) whose `Debug` and `Serialize` never show its value. A view, a log
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
    let outer = STORING.with(|s| s.replace(Some(0)));
    let out = f();
    let seen = STORING.with(|s| s.replace(outer)).unwrap_or(0);
    (out, seen > 0)
}

/// A secret string.
#[derive(Clone, Default, PartialEq, Eq)]
pub(crate) struct Secret(String);

impl Secret {
    /// Wraps a value.
    #[cfg(test)]
    pub(crate) fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// A fresh random token: 128 bits as 32 hex digits.
    pub(crate) fn random_token() -> Secret {
        Secret((0..16).map(|_| format!("{:02x}", rand::random::<u8>())).collect())
    }

    /// The value, for the few places that must hand it out on purpose (a
    /// machine's own discover answer and templates).
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }

    /// Whether `presented` is this secret (never true for an empty one),
    /// compared in constant time.
    pub(crate) fn matches(&self, presented: &str) -> bool {
        let (a, b) = (self.0.as_bytes(), presented.as_bytes());
        if a.is_empty() || a.len() != b.len() {
            return false;
        }
        a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }
}

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
        String::deserialize(d).map(Secret)
    }
}

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
