//! Serving one file over HTTP the way firmware, installers and `curl -C`
//! need it: GET and HEAD; `Content-Length`, `Last-Modified` and a strong
//! `ETag` (the file's inode, size and modification time); conditional
//! requests (`If-None-Match`, then `If-Modified-Since`: 304); one byte
//! range (`Range`, honoured only while `If-Range` still matches: 206, or
//! 416 past the end; several ranges get the whole file, as RFC 9110
//! allows).
//!
//! On the boot port the body goes by sendfile(2): the response carries a
//! [`FileBody`] that the port's server ([`crate::net::http1`]) sends
//! from the page cache. The response's own body, for any other server,
//! is read a chunk at a time on the blocking pool straight into the
//! buffer hyper writes from (a read into a `Vec` with room: no zeroing,
//! no second buffer). tower-http's `ServeDir` reads through tokio's
//! `File`, which copies once more: 0.80x nginx on a 256 MiB download,
//! 0.83x with the chunks, and sendfile for the rest (BENCHMARKS.md,
//! "Boot files"). A file cut short while it is served ends the body
//! with an error either way, so the client sees a short transfer, never
//! other bytes.

use std::fs::File;
use std::fs::Metadata;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::SystemTime;

use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;

use crate::net::http1::FileBody;

/// How much of a file is read per step of a download. Larger steps mean
/// fewer trips to the blocking pool per byte; what a slow client holds is
/// bounded by hyper's write buffer and this, not by the file.
pub(crate) const CHUNK: usize = 512 * 1024;

/// The bytes of the file a response carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Span {
    start: u64,
    len: u64,
}

/// What the request's `Range` asks for, of a file of `size` bytes.
#[derive(Debug, PartialEq, Eq)]
enum Wanted {
    Whole,
    Part(Span),
    /// No byte of it is in the file.
    Unsatisfiable,
}

/// A single `bytes=` range; anything else (several ranges, other units,
/// nonsense) is the whole file.
fn wanted(range: Option<&str>, size: u64) -> Wanted {
    let Some(spec) = range.and_then(|r| r.trim().strip_prefix("bytes=")) else { return Wanted::Whole };
    if spec.contains(',') {
        return Wanted::Whole;
    }
    let Some((first, last)) = spec.trim().split_once('-') else { return Wanted::Whole };
    let (first, last) = (first.trim(), last.trim());
    let parse = |s: &str| s.parse::<u64>().ok();
    let span = match (first.is_empty(), last.is_empty()) {
        // `bytes=-N`: the last N bytes.
        (true, false) => match parse(last) {
            Some(0) => return Wanted::Unsatisfiable,
            Some(n) => Span { start: size.saturating_sub(n), len: n.min(size) },
            None => return Wanted::Whole,
        },
        (false, _) => {
            let Some(start) = parse(first) else { return Wanted::Whole };
            let end = if last.is_empty() { Some(u64::MAX) } else { parse(last) };
            let Some(end) = end.filter(|e| *e >= start) else { return Wanted::Whole };
            if start >= size {
                return Wanted::Unsatisfiable;
            }
            Span { start, len: end.min(size - 1) - start + 1 }
        }
        (true, true) => return Wanted::Whole,
    };
    if span.len == 0 {
        return Wanted::Unsatisfiable;
    }
    Wanted::Part(span)
}

/// The file's strong validator: it changes whenever the file is replaced
/// (inode), grows or shrinks, or is written (modification time, in ns).
fn etag(meta: &Metadata) -> String {
    let nanos = meta.mtime().wrapping_mul(1_000_000_000).wrapping_add(meta.mtime_nsec());
    format!("\"{:x}-{:x}-{:x}\"", meta.ino(), meta.len(), nanos)
}

/// Whether an `If-None-Match` or `If-Range` list names `tag` (weak
/// comparison for the first, as RFC 9110 13.1.2 says; `*` matches).
fn names(list: &str, tag: &str) -> bool {
    list.split(',').map(str::trim).any(|t| t == "*" || t.trim_start_matches("W/") == tag)
}

/// Whole seconds: HTTP dates have no more.
fn seconds(t: SystemTime) -> Option<u64> {
    t.duration_since(SystemTime::UNIX_EPOCH).ok().map(|d| d.as_secs())
}

fn header_str(headers: &HeaderMap, name: header::HeaderName) -> Option<&str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Whether the client's copy is current: 304.
fn not_modified(headers: &HeaderMap, tag: &str, modified: Option<SystemTime>) -> bool {
    if let Some(list) = header_str(headers, header::IF_NONE_MATCH) {
        return names(list, tag);
    }
    let since = header_str(headers, header::IF_MODIFIED_SINCE).and_then(|d| httpdate::parse_http_date(d).ok());
    match (since, modified.and_then(seconds)) {
        (Some(since), Some(modified)) => seconds(since).is_some_and(|s| modified <= s),
        _ => false,
    }
}

/// Whether a `Range` may be honoured: no `If-Range`, or one that still
/// names this file (its ETag, or exactly its modification date).
fn range_applies(headers: &HeaderMap, tag: &str, modified: Option<SystemTime>) -> bool {
    match header_str(headers, header::IF_RANGE) {
        None => true,
        Some(v) if v.trim_start().starts_with('"') => v.trim() == tag,
        Some(v) => {
            httpdate::parse_http_date(v).ok().and_then(seconds) == modified.and_then(seconds) && modified.is_some()
        }
    }
}

/// The response to `method` with `headers` for the file at `path` (which
/// the caller has confined to its directory). A missing file or a
/// directory is 404.
pub(crate) async fn serve(path: PathBuf, method: &Method, headers: &HeaderMap) -> Response {
    if method != Method::GET && method != Method::HEAD {
        return (StatusCode::METHOD_NOT_ALLOWED, [(header::ALLOW, "GET, HEAD")]).into_response();
    }
    let shown = path.clone();
    let opened = tokio::task::spawn_blocking(move || {
        let file = std::fs::File::open(&path)?;
        let meta = file.metadata()?;
        Ok::<_, std::io::Error>((file, meta))
    })
    .await;
    let (file, meta) = match opened {
        Ok(Ok((f, m))) if m.is_file() => (f, m),
        Ok(Ok(_)) => return StatusCode::NOT_FOUND.into_response(),
        // Not there, or a path through a file (`vmlinuz/x`).
        Ok(Err(e)) if matches!(e.kind(), std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory) => {
            return StatusCode::NOT_FOUND.into_response()
        }
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::PermissionDenied => return StatusCode::FORBIDDEN.into_response(),
        Ok(Err(e)) => {
            tracing::warn!(path = %shown.display(), error = %e, "boot file not served");
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
        Err(e) => {
            tracing::warn!(path = %shown.display(), error = %e, "boot file open did not finish");
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
    };
    let size = meta.len();
    let tag = etag(&meta);
    let modified = meta.modified().ok();
    let mut out = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_str(&tag) {
        out.insert(header::ETAG, v);
    }
    if let Some(m) = modified.and_then(|m| HeaderValue::from_str(&httpdate::fmt_http_date(m)).ok()) {
        out.insert(header::LAST_MODIFIED, m);
    }
    out.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if not_modified(headers, &tag, modified) {
        return (StatusCode::NOT_MODIFIED, out).into_response();
    }
    let mime = mime_guess::from_path(&shown).first_or_octet_stream();
    if let Ok(v) = HeaderValue::from_str(mime.as_ref()) {
        out.insert(header::CONTENT_TYPE, v);
    }
    let range = range_applies(headers, &tag, modified).then(|| header_str(headers, header::RANGE)).flatten();
    let (status, span) = match wanted(range, size) {
        Wanted::Whole => (StatusCode::OK, Span { start: 0, len: size }),
        Wanted::Part(span) => {
            let end = span.start + span.len - 1;
            if let Ok(v) = HeaderValue::from_str(&format!("bytes {}-{end}/{size}", span.start)) {
                out.insert(header::CONTENT_RANGE, v);
            }
            (StatusCode::PARTIAL_CONTENT, span)
        }
        Wanted::Unsatisfiable => {
            if let Ok(v) = HeaderValue::from_str(&format!("bytes */{size}")) {
                out.insert(header::CONTENT_RANGE, v);
            }
            return (StatusCode::RANGE_NOT_SATISFIABLE, out).into_response();
        }
    };
    out.insert(header::CONTENT_LENGTH, HeaderValue::from(span.len));
    if method == Method::HEAD {
        return (status, out).into_response();
    }
    let file = Arc::new(file);
    let mut response = (status, out, Body::from_stream(chunks(file.clone(), span))).into_response();
    response.extensions_mut().insert(FileBody::new(file, span.start, span.len));
    response
}

/// The span's bytes, a chunk at a time, each read on the blocking pool
/// when hyper asks for it.
fn chunks(file: Arc<File>, span: Span) -> impl futures_util::Stream<Item = std::io::Result<Bytes>> + Send {
    futures_util::stream::try_unfold(span, move |left| {
        let file = file.clone();
        async move {
            if left.len == 0 {
                return Ok(None);
            }
            let n = left.len.min(CHUNK as u64);
            let chunk = tokio::task::spawn_blocking(move || {
                let mut from: &File = &file;
                from.seek(SeekFrom::Start(left.start))?;
                let mut chunk = Vec::with_capacity(n as usize);
                from.take(n).read_to_end(&mut chunk)?;
                Ok::<_, std::io::Error>(chunk)
            })
            .await
            .map_err(std::io::Error::other)??;
            if chunk.is_empty() {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "the file was cut short while served",
                ));
            }
            let got = chunk.len() as u64;
            Ok(Some((Bytes::from(chunk), Span { start: left.start + got, len: left.len - got })))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::to_bytes;
    use std::time::Duration;

    /// Bounds every wait of these tests.
    const TEST_WAIT: Duration = Duration::from_secs(5);

    #[test]
    fn ranges_as_rfc_9110_reads_them() {
        let part = |start, len| Wanted::Part(Span { start, len });
        assert_eq!(wanted(None, 100), Wanted::Whole);
        assert_eq!(wanted(Some("bytes=0-9"), 100), part(0, 10));
        assert_eq!(wanted(Some("bytes=90-"), 100), part(90, 10));
        assert_eq!(wanted(Some("bytes=90-1000"), 100), part(90, 10));
        assert_eq!(wanted(Some("bytes=-10"), 100), part(90, 10));
        assert_eq!(wanted(Some("bytes=-1000"), 100), part(0, 100));
        assert_eq!(wanted(Some("bytes=100-"), 100), Wanted::Unsatisfiable);
        assert_eq!(wanted(Some("bytes=-0"), 100), Wanted::Unsatisfiable);
        assert_eq!(wanted(Some("bytes=0-0"), 0), Wanted::Unsatisfiable);
        for whole in ["bytes=0-1,5-6", "items=0-1", "bytes=5-1", "bytes=x-", "bytes=-", "bytes 0-1"] {
            assert_eq!(wanted(Some(whole), 100), Wanted::Whole, "{whole}");
        }
    }

    async fn get(
        path: &std::path::Path,
        method: Method,
        headers: &[(header::HeaderName, &str)],
    ) -> (StatusCode, HeaderMap, Bytes) {
        let mut h = HeaderMap::new();
        for (k, v) in headers {
            h.insert(k.clone(), HeaderValue::from_str(v).unwrap());
        }
        let resp = tokio::time::timeout(TEST_WAIT, serve(path.to_path_buf(), &method, &h)).await.unwrap();
        let (parts, body) = resp.into_parts();
        (parts.status, parts.headers, to_bytes(body, usize::MAX).await.unwrap())
    }

    #[tokio::test]
    async fn whole_ranged_conditional_and_head() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("vmlinuz");
        let data: Vec<u8> = (0..(2 * CHUNK + 123)).map(|i| (i % 251) as u8).collect();
        std::fs::write(&file, &data).unwrap();
        let (status, h, body) = get(&file, Method::GET, &[]).await;
        assert_eq!((status, body.len()), (StatusCode::OK, data.len()));
        assert!(body == data, "the bytes differ");
        assert_eq!(h[header::CONTENT_LENGTH], data.len().to_string().as_str());
        assert_eq!(h[header::ACCEPT_RANGES], "bytes");
        let tag = h[header::ETAG].to_str().unwrap().to_string();
        let date = h[header::LAST_MODIFIED].to_str().unwrap().to_string();
        // A range across a chunk's end.
        let (status, h, body) = get(&file, Method::GET, &[(header::RANGE, "bytes=524000-524999")]).await;
        assert_eq!(status, StatusCode::PARTIAL_CONTENT);
        assert_eq!(h[header::CONTENT_RANGE], format!("bytes 524000-524999/{}", data.len()).as_str());
        assert!(body == data[524_000..525_000]);
        let (status, h, _) = get(&file, Method::GET, &[(header::RANGE, "bytes=999999999-")]).await;
        assert_eq!(status, StatusCode::RANGE_NOT_SATISFIABLE);
        assert_eq!(h[header::CONTENT_RANGE], format!("bytes */{}", data.len()).as_str());
        // Conditional: the same tag or date is current; If-Range with
        // another tag gets the whole file.
        assert_eq!(get(&file, Method::GET, &[(header::IF_NONE_MATCH, &tag)]).await.0, StatusCode::NOT_MODIFIED);
        assert_eq!(
            get(&file, Method::GET, &[(header::IF_NONE_MATCH, "\"other\", *")]).await.0,
            StatusCode::NOT_MODIFIED
        );
        assert_eq!(get(&file, Method::GET, &[(header::IF_NONE_MATCH, "\"other\"")]).await.0, StatusCode::OK);
        assert_eq!(get(&file, Method::GET, &[(header::IF_MODIFIED_SINCE, &date)]).await.0, StatusCode::NOT_MODIFIED);
        let old = "Mon, 01 Jan 2001 00:00:00 GMT";
        assert_eq!(get(&file, Method::GET, &[(header::IF_MODIFIED_SINCE, old)]).await.0, StatusCode::OK);
        let stale = [(header::RANGE, "bytes=0-9"), (header::IF_RANGE, "\"stale\"")];
        let (status, _, body) = get(&file, Method::GET, &stale).await;
        assert_eq!((status, body.len()), (StatusCode::OK, data.len()));
        let current = [(header::RANGE, "bytes=0-9"), (header::IF_RANGE, tag.as_str())];
        assert_eq!(get(&file, Method::GET, &current).await.0, StatusCode::PARTIAL_CONTENT);
        // HEAD: the same headers, no body.
        let (status, h, body) = get(&file, Method::HEAD, &[]).await;
        assert_eq!((status, body.len()), (StatusCode::OK, 0));
        assert_eq!(h[header::CONTENT_LENGTH], data.len().to_string().as_str());
        assert_eq!(h[header::ETAG], tag.as_str());
        // A rewrite changes the tag; other methods, a directory and a
        // missing file are refused.
        std::thread::sleep(Duration::from_millis(10));
        std::fs::write(&file, b"new").unwrap();
        assert_ne!(get(&file, Method::HEAD, &[]).await.1[header::ETAG], tag.as_str());
        assert_eq!(get(&file, Method::POST, &[]).await.0, StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(get(dir.path(), Method::GET, &[]).await.0, StatusCode::NOT_FOUND);
        assert_eq!(get(&dir.path().join("gone"), Method::GET, &[]).await.0, StatusCode::NOT_FOUND);
        assert_eq!(get(&file.join("x"), Method::GET, &[]).await.0, StatusCode::NOT_FOUND, "a path through a file");
    }

    #[tokio::test]
    async fn a_file_cut_short_while_served_ends_the_body_with_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("big");
        std::fs::write(&file, vec![7u8; 3 * CHUNK]).unwrap();
        let resp = serve(file.clone(), &Method::GET, &HeaderMap::new()).await;
        std::fs::OpenOptions::new().write(true).open(&file).unwrap().set_len(CHUNK as u64).unwrap();
        let got = tokio::time::timeout(TEST_WAIT, to_bytes(resp.into_body(), usize::MAX)).await.unwrap();
        assert!(got.is_err(), "a short file was sent as if whole");
    }
}
