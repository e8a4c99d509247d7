//! The JSON body extractor: like axum's `Json`, but a bad body is answered
//! with a 400 that names the offending field (`dynamic.start`, `macs[1]`).

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use serde::de::DeserializeOwned;

use super::error::ApiError;

/// Largest accepted request body.
const MAX_BODY: usize = 1 << 20;

/// A deserialized JSON request body.
pub(crate) struct Body<T>(pub(crate) T);

impl<S, T> FromRequest<S> for Body<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, format!("cannot read body: {e}")))?;
        parse(&bytes).map(Body)
    }
}

/// Parses JSON, naming the field of the first error.
pub(crate) fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.len() > MAX_BODY {
        return Err(ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "request body over 1 MiB"));
    }
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::new(StatusCode::BAD_REQUEST, "request body is empty; expected a JSON object"));
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let message = inner.to_string();
        // A missing field is reported at its parent's path; name the field itself.
        let field = quoted_after(&message, "missing field `")
            .map(|f| if path == "." { f } else { format!("{path}.{f}") })
            .unwrap_or(path);
        if inner.is_syntax() || inner.is_eof() {
            ApiError::new(StatusCode::BAD_REQUEST, format!("body is not valid JSON: {message}"))
        } else {
            ApiError::field(StatusCode::BAD_REQUEST, &field, format!("field `{field}`: {message}"))
        }
    })
}

fn quoted_after(message: &str, prefix: &str) -> Option<String> {
    let start = message.find(prefix)? + prefix.len();
    Some(message[start..].split('`').next()?.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Outer {
        name: String,
        inner: Inner,
    }
    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        start: std::net::Ipv4Addr,
    }

    fn field_of(body: &str) -> String {
        let e = parse::<Outer>(body.as_bytes()).unwrap_err();
        assert_eq!(e.status, StatusCode::BAD_REQUEST, "{}", e.error);
        e.field.unwrap_or_default()
    }

    #[test]
    fn names_the_field() {
        assert_eq!(field_of(r#"{"name":"a","inner":{"start":"x"}}"#), "inner.start");
        assert_eq!(field_of(r#"{"inner":{"start":"1.2.3.4"}}"#), "name");
        assert_eq!(field_of(r#"{"name":"a","inner":{"start":"1.2.3.4"},"bogus":1}"#), "bogus");
        assert_eq!(field_of(r#"{"name":"a","inner":{}}"#), "inner.start");
        assert_eq!(field_of(r#"{"name":5,"inner":{"start":"1.2.3.4"}}"#), "name");
    }

    #[test]
    fn syntax_errors_are_400() {
        let e = parse::<Outer>(b"{not json").unwrap_err();
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        assert!(parse::<Outer>(b"   ").is_err());
    }
}
