//! Request heads read off the wire, and response heads written onto it.
//!
//! A head is parsed with `httparse` from the connection's buffer without
//! consuming it, so that a request this front does not serve itself can
//! be handed to hyper with every byte it sent.

use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method, Request, Response, StatusCode, Version};

/// The longest request head read: beyond it, 431.
pub(crate) const MAX_HEAD: usize = 16 * 1024;
/// The most header fields in a head: beyond them, 431.
const MAX_FIELDS: usize = 64;

/// Why a head could not be read.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum HeadError {
    #[error("malformed request head: {0}")]
    Malformed(&'static str),
    #[error("request head over {MAX_HEAD} bytes or {MAX_FIELDS} fields")]
    TooLarge,
}

impl HeadError {
    pub(crate) fn status(&self) -> StatusCode {
        match self {
            HeadError::Malformed(_) => StatusCode::BAD_REQUEST,
            HeadError::TooLarge => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
        }
    }
}

/// A complete request head at the start of the buffer.
#[derive(Debug)]
pub(crate) struct Head {
    /// Its length in the buffer.
    pub(crate) len: usize,
    pub(crate) request: Request<Body>,
}

impl Head {
    /// Whether hyper should take the connection from here: a request with a
    /// body (of any framing), one that waits for `100 Continue`, or one
    /// that asks to upgrade. This front serves only bodiless requests.
    pub(crate) fn for_hyper(&self) -> bool {
        let h = self.request.headers();
        let has_body = h.contains_key(header::TRANSFER_ENCODING)
            || h.get(header::CONTENT_LENGTH).is_some_and(|v| v.as_bytes() != b"0");
        has_body || h.contains_key(header::EXPECT) || h.contains_key(header::UPGRADE)
    }

    /// Whether the connection stays open after the answer (RFC 9112 9.3):
    /// HTTP/1.1 unless it says `close`; HTTP/1.0 never, here.
    pub(crate) fn keep_alive(&self) -> bool {
        self.request.version() == Version::HTTP_11 && !connection_says(self.request.headers(), "close")
    }
}

fn connection_says(headers: &HeaderMap, token: &str) -> bool {
    headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case(token))
}

/// The head at the start of `buf`: `None` while it is incomplete.
pub(crate) fn parse(buf: &[u8]) -> Result<Option<Head>, HeadError> {
    let mut fields = [httparse::EMPTY_HEADER; MAX_FIELDS];
    let mut req = httparse::Request::new(&mut fields);
    let len = match req.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) if buf.len() >= MAX_HEAD => return Err(HeadError::TooLarge),
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => return Err(HeadError::TooLarge),
        Err(_) => return Err(HeadError::Malformed("not an HTTP/1 request")),
    };
    if len > MAX_HEAD {
        return Err(HeadError::TooLarge);
    }
    let method =
        req.method.and_then(|m| Method::from_bytes(m.as_bytes()).ok()).ok_or(HeadError::Malformed("method"))?;
    let uri = req.path.and_then(|p| p.parse::<axum::http::Uri>().ok()).ok_or(HeadError::Malformed("target"))?;
    let version = match req.version {
        Some(0) => Version::HTTP_10,
        Some(1) => Version::HTTP_11,
        _ => return Err(HeadError::Malformed("version")),
    };
    let mut request = Request::new(Body::empty());
    *request.method_mut() = method;
    *request.uri_mut() = uri;
    *request.version_mut() = version;
    let headers = request.headers_mut();
    for f in req.headers.iter() {
        let name = HeaderName::from_bytes(f.name.as_bytes()).map_err(|_| HeadError::Malformed("field name"))?;
        let value = HeaderValue::from_bytes(f.value).map_err(|_| HeadError::Malformed("field value"))?;
        headers.append(name, value);
    }
    if headers.get_all(header::CONTENT_LENGTH).iter().count() > 1 {
        return Err(HeadError::Malformed("several Content-Length fields"));
    }
    Ok(Some(Head { len, request }))
}

/// How the body after a response head is framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    /// No body follows (HEAD, 1xx, 204, 304); `Content-Length` as given.
    None,
    /// Exactly this many bytes.
    Length(u64),
    /// Chunked transfer coding, until the body ends.
    Chunked,
    /// Until the connection closes (HTTP/1.0, length unknown).
    Close,
}

/// Whether a response with `status` to `method` has no body on the wire.
pub(crate) fn bodiless(method: &Method, status: StatusCode) -> bool {
    method == Method::HEAD
        || status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED
}

/// The response's status line and fields, with `Date`, the body's framing
/// and `Connection: close` when the connection ends after it.
pub(crate) fn render<B>(response: &Response<B>, framing: Framing, keep_alive: bool) -> Vec<u8> {
    let status = response.status();
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(status.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(status.canonical_reason().unwrap_or("").as_bytes());
    out.extend_from_slice(b"\r\n");
    let mut field = |name: &[u8], value: &[u8]| {
        out.extend_from_slice(name);
        out.extend_from_slice(b": ");
        out.extend_from_slice(value);
        out.extend_from_slice(b"\r\n");
    };
    for (name, value) in response.headers() {
        let framing_field = name == header::TRANSFER_ENCODING || name == header::CONNECTION;
        // No length at all on 1xx and 204, and none on 304 (RFC 9110
        // 8.6 allows only the 200's, which hyper drops too).
        let no_length =
            status.is_informational() || status == StatusCode::NO_CONTENT || status == StatusCode::NOT_MODIFIED;
        let length_field = name == header::CONTENT_LENGTH && (framing != Framing::None || no_length);
        if !framing_field && !length_field {
            field(name.as_str().as_bytes(), value.as_bytes());
        }
    }
    if !response.headers().contains_key(header::DATE) {
        field(b"date", httpdate::fmt_http_date(std::time::SystemTime::now()).as_bytes());
    }
    match framing {
        Framing::None => {}
        Framing::Length(n) => field(b"content-length", n.to_string().as_bytes()),
        Framing::Chunked => field(b"transfer-encoding", b"chunked"),
        Framing::Close => {}
    }
    if !keep_alive || framing == Framing::Close {
        field(b"connection", b"close");
    }
    out.extend_from_slice(b"\r\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_are_read_whole_or_not_at_all() {
        let full = b"GET /boot/files/vmlinuz HTTP/1.1\r\nHost: a\r\nRange: bytes=0-9\r\n\r\nGET /next";
        for cut in 0..full.len() - 9 {
            assert!(parse(&full[..cut]).expect("a prefix is not an error").is_none(), "cut at {cut}");
        }
        let head = parse(full).expect("parses").expect("complete");
        assert_eq!(head.len, full.len() - "GET /next".len());
        assert_eq!(head.request.uri().path(), "/boot/files/vmlinuz");
        assert_eq!(head.request.headers()[header::RANGE], "bytes=0-9");
        assert!(head.keep_alive() && !head.for_hyper());
    }

    #[test]
    fn bodies_continues_and_upgrades_go_to_hyper() {
        for extra in ["Content-Length: 3", "Transfer-Encoding: chunked", "Expect: 100-continue", "Upgrade: websocket"] {
            let text = format!("POST /x HTTP/1.1\r\n{extra}\r\n\r\n");
            assert!(parse(text.as_bytes()).unwrap().unwrap().for_hyper(), "{extra}");
        }
        let zero = parse(b"GET /x HTTP/1.1\r\nContent-Length: 0\r\n\r\n").unwrap().unwrap();
        assert!(!zero.for_hyper());
    }

    #[test]
    fn http_1_0_and_close_end_the_connection() {
        assert!(!parse(b"GET / HTTP/1.0\r\n\r\n").unwrap().unwrap().keep_alive());
        assert!(!parse(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").unwrap().unwrap().keep_alive());
        assert!(!parse(b"GET / HTTP/1.1\r\nConnection: foo, Close\r\n\r\n").unwrap().unwrap().keep_alive());
    }

    #[test]
    fn bad_and_huge_heads_are_refused_with_their_status() {
        assert_eq!(
            parse(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03").unwrap_err().status(),
            StatusCode::BAD_REQUEST
        );
        assert_eq!(parse(b"GET / HTTP/2.0\r\n\r\n").unwrap_err().status(), StatusCode::BAD_REQUEST);
        let twice = b"GET / HTTP/1.1\r\nContent-Length: 0\r\nContent-Length: 0\r\n\r\n";
        assert_eq!(parse(twice).unwrap_err(), HeadError::Malformed("several Content-Length fields"));
        let long = format!("GET /{} HTTP/1.1\r\n", "a".repeat(MAX_HEAD));
        assert_eq!(parse(long.as_bytes()).unwrap_err(), HeadError::TooLarge);
        let many: String = (0..=MAX_FIELDS).map(|i| format!("X-{i}: y\r\n")).collect();
        let many = format!("GET / HTTP/1.1\r\n{many}\r\n");
        assert_eq!(parse(many.as_bytes()).unwrap_err(), HeadError::TooLarge);
    }

    /// Mutated heads never panic, and a complete one never claims more
    /// bytes than it was given.
    #[test]
    fn mutated_heads_are_parsed_or_refused() {
        let seed = b"GET /boot/ipxe?mac=52:54:00:00:00:aa HTTP/1.1\r\nHost: 10.9.0.1:8080\r\nUser-Agent: iPXE/1.21.1\r\nConnection: keep-alive\r\n\r\n";
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            x.wrapping_mul(0x2545_f491_4f6c_dd1d)
        };
        for _ in 0..20_000 {
            let mut input = seed.to_vec();
            for _ in 0..(next() % 6 + 1) {
                let at = (next() as usize) % input.len();
                match next() % 3 {
                    0 => input[at] = next() as u8,
                    1 => input.insert(at, [b'\r', b'\n', b':', 0, 0xff, b' '][(next() % 6) as usize]),
                    _ => {
                        input.remove(at);
                    }
                }
            }
            if let Ok(Some(head)) = parse(&input) {
                assert!(head.len <= input.len());
                let _ = (head.for_hyper(), head.keep_alive());
            }
        }
    }

    #[test]
    fn response_heads_carry_the_framing_chosen_here() {
        let response = Response::builder()
            .status(StatusCode::PARTIAL_CONTENT)
            .header(header::CONTENT_LENGTH, "999")
            .header(header::TRANSFER_ENCODING, "gzip")
            .header(header::ETAG, "\"x\"")
            .body(())
            .unwrap();
        let text = String::from_utf8(render(&response, Framing::Length(10), false)).unwrap();
        assert!(text.starts_with("HTTP/1.1 206 Partial Content\r\n"), "{text}");
        assert!(text.contains("etag: \"x\"\r\n") && text.contains("content-length: 10\r\n"), "{text}");
        assert!(text.contains("connection: close\r\n") && text.contains("date: "), "{text}");
        assert!(!text.contains("999") && !text.contains("gzip") && text.ends_with("\r\n\r\n"), "{text}");
        // HEAD keeps the length the handler gave.
        let text = String::from_utf8(render(&response, Framing::None, true)).unwrap();
        assert!(text.contains("content-length: 999\r\n") && !text.contains("connection"), "{text}");
        // 304: no length (RFC 9110 8.6), even when the handler gave one.
        let not_modified =
            Response::builder().status(StatusCode::NOT_MODIFIED).header(header::CONTENT_LENGTH, "0").body(()).unwrap();
        let text = String::from_utf8(render(&not_modified, Framing::None, true)).unwrap();
        assert!(!text.contains("content-length"), "{text}");
        let closed = String::from_utf8(render(&response, Framing::Close, true)).unwrap();
        assert!(closed.contains("connection: close\r\n") && !closed.contains("content-length"), "{closed}");
        assert!(bodiless(&Method::HEAD, StatusCode::OK) && bodiless(&Method::GET, StatusCode::NOT_MODIFIED));
        assert!(!bodiless(&Method::GET, StatusCode::NOT_FOUND));
    }
}
