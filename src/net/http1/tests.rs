//! The front against a raw client, byte for byte: keep-alive and
//! pipelining, sendfile bodies, chunked and sized bodies, the hand-off
//! to hyper, refusals, and shutdown.

use std::fs::File;
use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::*;

/// Bounds every wait of these tests.
const TEST_WAIT: Duration = Duration::from_secs(10);

/// A response whose file goes by sendfile, with a decoy body that only a
/// server ignoring the [`FileBody`] would send.
fn file_response(path: &std::path::Path, start: u64, len: u64) -> Response {
    let file = Arc::new(File::open(path).expect("open"));
    let mut response = ([(header::CONTENT_LENGTH, len.to_string())], Body::from("decoy")).into_response();
    response.extensions_mut().insert(FileBody::new(file, start, len));
    response
}

struct Lab {
    addr: SocketAddr,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
    _dir: tempfile::TempDir,
    data: Vec<u8>,
}

async fn lab() -> Lab {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("f");
    let data: Vec<u8> = (0..3 * 1024 * 1024 + 17).map(|i| (i % 251) as u8).collect();
    File::create(&path).and_then(|mut f| f.write_all(&data)).expect("write");
    let (p1, p2, p3) = (path.clone(), path.clone(), path.clone());
    let size = data.len() as u64;
    let router = Router::new()
        .route("/file", get(move || async move { file_response(&p1, 0, size) }))
        .route("/part", get(move || async move { file_response(&p2, 10, 7) }))
        .route("/cut", get(move || async move { file_response(&p3, 0, size + 100) }))
        .route("/text", get(|| async { "hello" }))
        .route("/big", get(|| async { vec![b'b'; 100_000] }))
        .route(
            "/stream",
            get(|| async {
                let parts = ["one", "", "two"].map(|p| Ok::<_, std::io::Error>(bytes::Bytes::from(p)));
                Body::from_stream(futures_util::stream::iter(parts))
            }),
        )
        .route("/peer", get(|ConnectInfo(peer): ConnectInfo<SocketAddr>| async move { peer.ip().to_string() }))
        .route(
            "/echo",
            post(|ConnectInfo(peer): ConnectInfo<SocketAddr>, body: String| async move { format!("{peer}:{body}") }),
        )
        .route("/nothing", get(|| async { StatusCode::NO_CONTENT }))
        .route(
            "/liar",
            get(|| async {
                // Over SMALL_BODY, so written frame by frame.
                let parts =
                    [vec![b'a'; 70_000], b"defgh".to_vec()].map(|p| Ok::<_, std::io::Error>(bytes::Bytes::from(p)));
                ([(header::CONTENT_LENGTH, "70000")], Body::from_stream(futures_util::stream::iter(parts)))
            }),
        );
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let stop = CancellationToken::new();
    let task = tokio::spawn(serve(listener, router, stop.clone()));
    Lab { addr, stop, task, _dir: dir, data }
}

/// Sends `request` on a new connection and reads until the server closes.
async fn exchange(addr: SocketAddr, request: &[u8]) -> Vec<u8> {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    s.write_all(request).await.expect("send");
    let mut out = Vec::new();
    tokio::time::timeout(TEST_WAIT, s.read_to_end(&mut out)).await.expect("the server closes").expect("read");
    out
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// The body of the one response in `out`.
fn body_of(out: &[u8]) -> &[u8] {
    &out[find(out, b"\r\n\r\n").expect("a head") + 4..]
}

#[tokio::test]
async fn pipelined_requests_on_one_connection_are_answered_in_order() {
    let lab = lab().await;
    let out = exchange(
        lab.addr,
        b"GET /text HTTP/1.1\r\nHost: a\r\n\r\nGET /part HTTP/1.1\r\n\r\nHEAD /file HTTP/1.1\r\n\r\nGET /nothing HTTP/1.1\r\n\r\nGET /peer HTTP/1.1\r\nConnection: close\r\n\r\n",
    )
    .await;
    let text = String::from_utf8_lossy(&out);
    let heads: Vec<_> = text.match_indices("HTTP/1.1 ").map(|(i, _)| &text[i..i + 12]).collect();
    assert_eq!(heads, ["HTTP/1.1 200", "HTTP/1.1 200", "HTTP/1.1 200", "HTTP/1.1 204", "HTTP/1.1 200"], "{text}");
    // /part: bytes 10..17 of the file, by sendfile (not the decoy).
    let part = find(&out, b"content-length: 7\r\n").expect("the part's length");
    let part_body = &out[part..][find(&out[part..], b"\r\n\r\n").unwrap() + 4..][..7];
    assert_eq!(part_body, &lab.data[10..17]);
    assert!(!text.contains("decoy"), "{text}");
    // 204 has no length (RFC 9110 8.6).
    assert!(!text.contains("204 No Content\r\ncontent-length"), "{text}");
    // HEAD keeps the length, sends nothing; the last answer closes.
    assert!(text.contains(&format!("content-length: {}\r\n", lab.data.len())), "{text}");
    assert!(text.ends_with("\r\n\r\n127.0.0.1"), "{text}");
    assert!(text.contains("connection: close\r\n"), "{text}");
    lab.stop.cancel();
    tokio::time::timeout(TEST_WAIT, lab.task).await.expect("joined").expect("no panic");
}

#[tokio::test]
async fn files_go_whole_and_a_file_cut_short_ends_the_connection() {
    let lab = lab().await;
    let out = exchange(lab.addr, b"GET /file HTTP/1.1\r\nConnection: close\r\n\r\n").await;
    assert_eq!(body_of(&out), &lab.data[..]);
    let out = exchange(lab.addr, b"GET /cut HTTP/1.1\r\n\r\n").await;
    let said = format!("content-length: {}\r\n", lab.data.len() + 100);
    assert!(find(&out, said.as_bytes()).is_some());
    assert_eq!(body_of(&out), &lab.data[..], "the file's bytes, then the connection ends");
    lab.stop.cancel();
}

#[tokio::test]
async fn handler_bodies_are_sized_chunked_or_closed() {
    let lab = lab().await;
    let out = exchange(lab.addr, b"GET /big HTTP/1.1\r\n\r\nGET /stream HTTP/1.1\r\nConnection: close\r\n\r\n").await;
    let text = String::from_utf8_lossy(&out);
    assert!(text.contains("content-length: 100000\r\n"), "{}", &text[..300]);
    let stream = &text[text.rfind("HTTP/1.1").unwrap()..];
    assert!(stream.contains("transfer-encoding: chunked\r\n") && stream.contains("connection: close\r\n"), "{stream}");
    assert!(stream.ends_with("\r\n\r\n3\r\none\r\n3\r\ntwo\r\n0\r\n\r\n"), "{stream}");
    // HTTP/1.0 knows no chunks: the body runs to the connection's end.
    let out = exchange(lab.addr, b"GET /stream HTTP/1.0\r\n\r\n").await;
    let text = String::from_utf8_lossy(&out);
    assert!(!text.contains("transfer-encoding") && !text.contains("content-length"), "{text}");
    assert!(text.contains("connection: close\r\n") && text.ends_with("\r\n\r\nonetwo"), "{text}");
    lab.stop.cancel();
}

/// A handler whose body runs past the length it gave is cut at that
/// length and the connection ends: the rest never reaches the client as
/// the start of another answer.
#[tokio::test]
async fn a_body_longer_than_it_said_is_cut_off() {
    let lab = lab().await;
    let out = exchange(lab.addr, b"GET /liar HTTP/1.1\r\n\r\nGET /text HTTP/1.1\r\n\r\n").await;
    let text = String::from_utf8_lossy(&out);
    assert!(text.contains("content-length: 70000\r\n"), "{}", &text[..200]);
    assert_eq!(body_of(&out), &[b'a'; 70_000][..], "exactly the length said, then the end");
    lab.stop.cancel();
}

#[tokio::test]
async fn a_request_with_a_body_is_handed_to_hyper_with_its_bytes() {
    let lab = lab().await;
    // One served here, then a POST hyper must read from the start, then
    // a GET hyper serves on the same connection.
    let out = exchange(
        lab.addr,
        b"GET /text HTTP/1.1\r\n\r\nPOST /echo HTTP/1.1\r\nContent-Length: 4\r\n\r\nabcdGET /text HTTP/1.1\r\nConnection: close\r\n\r\n",
    )
    .await;
    let text = String::from_utf8_lossy(&out);
    assert_eq!(text.matches("hello").count(), 2, "{text}");
    assert!(text.contains("127.0.0.1:") && text.contains(":abcd"), "{text}");
    let chunked = exchange(
        lab.addr,
        b"POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n2\r\nxy\r\n0\r\n\r\n",
    )
    .await;
    assert!(String::from_utf8_lossy(&chunked).contains(":xy"), "{}", String::from_utf8_lossy(&chunked));
    lab.stop.cancel();
}

#[tokio::test]
async fn bad_heads_get_their_status_and_the_connection_ends() {
    let lab = lab().await;
    let out = exchange(lab.addr, b"\x16\x03\x01\x00\x05hello\r\n\r\n").await;
    assert!(out.starts_with(b"HTTP/1.1 400 "), "{}", String::from_utf8_lossy(&out));
    assert!(out.ends_with(b"\r\n\r\n400 Bad Request\n"), "{}", String::from_utf8_lossy(&out));
    let long = format!("GET /text HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(20_000));
    let out = exchange(lab.addr, long.as_bytes()).await;
    assert!(out.starts_with(b"HTTP/1.1 431 "), "{}", String::from_utf8_lossy(&out));
    // Cut off inside a head: closed, nothing answered.
    let mut s = TcpStream::connect(lab.addr).await.unwrap();
    s.write_all(b"GET /text HTT").await.unwrap();
    s.shutdown().await.unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(TEST_WAIT, s.read_to_end(&mut out)).await.unwrap().unwrap();
    assert!(out.starts_with(b"HTTP/1.1 400 ") || out.is_empty(), "{}", String::from_utf8_lossy(&out));
    lab.stop.cancel();
}

#[tokio::test]
async fn at_stop_idle_connections_close_and_serve_returns() {
    let lab = lab().await;
    let mut idle = TcpStream::connect(lab.addr).await.unwrap();
    idle.write_all(b"GET /text HTTP/1.1\r\n\r\n").await.unwrap();
    let mut got = vec![0u8; 512];
    let n = tokio::time::timeout(TEST_WAIT, idle.read(&mut got)).await.unwrap().unwrap();
    assert!(got[..n].ends_with(b"hello"));
    let mut handed = TcpStream::connect(lab.addr).await.unwrap();
    handed.write_all(b"POST /echo HTTP/1.1\r\nContent-Length: 1\r\n\r\nz").await.unwrap();
    let n = tokio::time::timeout(TEST_WAIT, handed.read(&mut got)).await.unwrap().unwrap();
    assert!(String::from_utf8_lossy(&got[..n]).contains(":z"));
    lab.stop.cancel();
    tokio::time::timeout(TEST_WAIT, lab.task).await.expect("serve returns with both open").expect("no panic");
    for mut s in [idle, handed] {
        let mut rest = Vec::new();
        let _ = tokio::time::timeout(TEST_WAIT, s.read_to_end(&mut rest)).await.expect("closed");
        assert!(rest.is_empty());
    }
}
