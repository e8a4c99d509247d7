//! The path and query extractors: like axum's `Path` and `Query`, but a
//! bad parameter is answered with the API's JSON error naming it (axum's
//! own answer is plain text), so every 4xx the API sends has one shape.

use axum::extract::path::ErrorKind;
use axum::extract::rejection::PathRejection;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::StatusCode;
use serde::de::DeserializeOwned;

use super::error::ApiError;

/// Parameters from the route's path (`/api/v1/nodes/{name}`).
pub(crate) struct Path<T>(pub(crate) T);

impl<S, T> FromRequestParts<S> for Path<T>
where
    S: Send + Sync,
    T: DeserializeOwned + Send,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(v)) => Ok(Path(v)),
            Err(e) => Err(path_error(e)),
        }
    }
}

fn path_error(e: PathRejection) -> ApiError {
    let status = e.status();
    let PathRejection::FailedToDeserializePathParams(failed) = &e else {
        return ApiError::new(status, e.body_text());
    };
    match failed.kind() {
        ErrorKind::ParseErrorAtKey { key, value, expected_type } => {
            let expected = expected_type.rsplit("::").next().unwrap_or(expected_type);
            ApiError::field(status, key, format!("path parameter `{key}`: `{value}` is not a {expected}"))
        }
        ErrorKind::InvalidUtf8InPathParam { key } => {
            ApiError::field(status, key, format!("path parameter `{key}` is not UTF-8"))
        }
        ErrorKind::DeserializeError { key, message, .. } => {
            ApiError::field(status, key, format!("path parameter `{key}`: {message}"))
        }
        _ => ApiError::new(status, e.body_text()),
    }
}

/// Parameters from the query string (`?network=&state=`).
pub(crate) struct Query<T>(pub(crate) T);

impl<S, T> FromRequestParts<S> for Query<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        parse_query(parts.uri.query().unwrap_or_default()).map(Query)
    }
}

/// Parses a query string, naming the parameter of the first error.
pub(crate) fn parse_query<T: DeserializeOwned>(query: &str) -> Result<T, ApiError> {
    let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let message = e.into_inner().to_string();
        if path == "." {
            ApiError::new(StatusCode::BAD_REQUEST, format!("query: {message}"))
        } else {
            ApiError::field(StatusCode::BAD_REQUEST, &path, format!("query parameter `{path}`: {message}"))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Filter {
        family: Option<u8>,
        node: Option<String>,
    }

    #[test]
    fn a_bad_query_parameter_is_named() {
        let e = parse_query::<Filter>("family=x&node=a").expect_err("refused");
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        assert_eq!(e.field.as_deref(), Some("family"));
        let e = parse_query::<Filter>("colour=red").expect_err("refused");
        assert!(e.error.contains("colour"), "{}", e.error);
        let f = parse_query::<Filter>("family=6&node=n%201").expect("parsed");
        assert_eq!((f.family, f.node.as_deref()), (Some(6), Some("n 1")));
        assert!(parse_query::<Filter>("").is_ok());
    }
}
