//! The boot port's HTTP/1.1 server: a front that reads each request head
//! itself, calls the router, and writes the answer, so that a response
//! carrying a [`FileBody`] goes out by sendfile(2) instead of through
//! hyper's buffers (hyper cannot hand a body to the socket; that copy
//! kept a 256 MiB download at 0.83x nginx).
//!
//! What the front serves: bodiless requests (firmware and installers ask
//! for scripts, configs, kernels, initrds and images that way), kept
//! alive and pipelined as HTTP/1.1 allows. What it leaves to hyper: a
//! connection whose next request has a body, waits for `100 Continue` or
//! asks to upgrade is handed to hyper's HTTP/1 server with every byte it
//! has sent ([`prefixed`]), for the rest of its life.
//!
//! - [`head`]: request heads parsed, response heads written;
//! - [`sendfile`]: [`FileBody`], and sending it;
//! - [`prefixed`]: a stream that gives back bytes already read.
//!
//! Every connection is a task of [`serve`]'s, joined before it returns;
//! at `stop` idle connections close, and one mid-request closes after
//! its answer.

mod head;
mod prefixed;
mod sendfile;

pub(crate) use sendfile::FileBody;

use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{header, Response, StatusCode};
use axum::Router;
use bytes::{Buf, BytesMut};
use http_body_util::BodyExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

use head::{Framing, Head, HeadError};

/// How long a connection may sit between requests, or take to send one
/// head.
const IDLE: Duration = Duration::from_secs(60);
/// How long, and for how many bytes, a closing connection reads what the
/// client still sends.
const LINGER: Duration = Duration::from_secs(2);
const LINGER_BYTES: usize = 256 * 1024;
/// Bodies at most this long, and of known length, go out in one write
/// with their head.
const SMALL_BODY: u64 = 64 * 1024;

/// Serves `router` on `listener` until `stop`, then lets the requests in
/// flight finish.
pub(crate) async fn serve(listener: TcpListener, router: Router, stop: CancellationToken) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            () = stop.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    // Heads and small answers go out at once; file bodies
                    // are corked (see `answer`).
                    let _ = stream.set_nodelay(true);
                    connections.spawn(connection(stream, peer, router.clone(), stop.clone()));
                }
                Err(e) => {
                    // Out of descriptors, most likely: let some close.
                    tracing::warn!(error = %e, "boot http accept");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            Some(done) = connections.join_next(), if !connections.is_empty() => {
                if let Err(e) = done {
                    tracing::error!(error = %e, "a boot http connection failed");
                }
            }
        }
    }
    drop(listener);
    while let Some(done) = connections.join_next().await {
        if let Err(e) = done {
            tracing::error!(error = %e, "a boot http connection failed");
        }
    }
}

async fn connection(mut stream: TcpStream, peer: SocketAddr, router: Router, stop: CancellationToken) {
    let mut buf = BytesMut::with_capacity(4096);
    loop {
        let head = tokio::select! {
            head = tokio::time::timeout(IDLE, read_head(&mut stream, &mut buf)) => head,
            // Idle at shutdown: nothing of a request has arrived.
            () = stop.cancelled(), if buf.is_empty() => return,
        };
        let head = match head {
            Ok(Ok(Some(head))) => head,
            // Closed between requests, or idle too long.
            Ok(Ok(None)) | Err(_) => return,
            Ok(Err(HeadErrorOrIo::Io(e))) => {
                tracing::debug!(%peer, error = %e, "boot http read");
                return;
            }
            Ok(Err(HeadErrorOrIo::Head(e))) => {
                tracing::debug!(%peer, error = %e, "boot http request refused");
                if refuse(&mut stream, e.status()).await.is_ok() {
                    linger(stream).await;
                }
                return;
            }
        };
        if head.for_hyper() {
            return hyper_takes(stream, buf, peer, router, stop).await;
        }
        let len = head.len;
        // At stop the answer in hand is the last: it says so.
        let keep_alive = head.keep_alive() && !stop.is_cancelled();
        match answer(&mut stream, head, keep_alive, peer, &router).await {
            Ok(true) => buf.advance(len),
            Ok(false) => return linger(stream).await,
            Err(e) => {
                tracing::info!(%peer, error = %e, "boot http answer cut off");
                return;
            }
        }
    }
}

enum HeadErrorOrIo {
    Head(HeadError),
    Io(io::Error),
}

/// The next request head, reading until it is whole; `None` at a clean
/// end of the connection.
async fn read_head(stream: &mut TcpStream, buf: &mut BytesMut) -> Result<Option<Head>, HeadErrorOrIo> {
    loop {
        if !buf.is_empty() {
            if let Some(head) = head::parse(buf).map_err(HeadErrorOrIo::Head)? {
                return Ok(Some(head));
            }
        }
        if stream.read_buf(buf).await.map_err(HeadErrorOrIo::Io)? == 0 {
            return match buf.is_empty() {
                true => Ok(None),
                false => Err(HeadErrorOrIo::Head(HeadError::Malformed("the connection ended inside a head"))),
            };
        }
    }
}

/// Closes after an answer the way RFC 9112 9.6 asks: our side first,
/// then what the client still sends is read and dropped for a moment, so
/// that its unread bytes do not make the kernel reset the connection
/// (and discard the answer) before the client has read it.
async fn linger(mut stream: TcpStream) {
    if stream.shutdown().await.is_err() {
        return;
    }
    let mut sink = [0u8; 4096];
    let drain = async {
        let mut left = LINGER_BYTES;
        while left > 0 {
            match stream.read(&mut sink).await {
                Ok(0) | Err(_) => return,
                Ok(n) => left = left.saturating_sub(n),
            }
        }
    };
    let _ = tokio::time::timeout(LINGER, drain).await;
}

/// Writes all of `bytes`, or fails when the client takes more than
/// [`IDLE`] to make room for them.
async fn write_all(stream: &mut TcpStream, bytes: &[u8]) -> io::Result<()> {
    tokio::time::timeout(IDLE, stream.write_all(bytes)).await.map_err(|_| stalled())?
}

/// The error of a write that found no room for too long.
fn stalled() -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, "the client stopped reading")
}

async fn refuse(stream: &mut TcpStream, status: StatusCode) -> io::Result<()> {
    let text = format!("{status}\n");
    let response = Response::builder().status(status).body(()).unwrap_or_default();
    let mut out = head::render(&response, Framing::Length(text.len() as u64), false);
    out.extend_from_slice(text.as_bytes());
    write_all(stream, &out).await
}

/// Calls the router with `head` and writes what it answers; whether the
/// connection stays open.
async fn answer(
    stream: &mut TcpStream,
    head: Head,
    keep_alive: bool,
    peer: SocketAddr,
    router: &Router,
) -> io::Result<bool> {
    let mut request = head.request;
    let method = request.method().clone();
    let http11 = request.version() == axum::http::Version::HTTP_11;
    request.extensions_mut().insert(ConnectInfo(peer));
    let Ok(response) = router.clone().oneshot(request).await;
    if head::bodiless(&method, response.status()) {
        write_all(stream, &head::render(&response, Framing::None, keep_alive)).await?;
        return Ok(keep_alive);
    }
    let sendable = matches!(response.status(), StatusCode::OK | StatusCode::PARTIAL_CONTENT)
        && !response.headers().contains_key(header::CONTENT_ENCODING);
    if let Some(file) = response.extensions().get::<FileBody>().filter(|_| sendable).cloned() {
        // Corked, as nginx's `tcp_nopush`: the head leaves with the file's
        // first bytes and only full segments follow (measured: 0.90x
        // nginx uncorked, 1.0x corked).
        let _ = socket2::SockRef::from(&*stream).set_tcp_cork(true);
        write_all(stream, &head::render(&response, Framing::Length(file.len()), keep_alive)).await?;
        sendfile::send_file(stream, &file, IDLE).await?;
        let _ = socket2::SockRef::from(&*stream).set_tcp_cork(false);
        return Ok(keep_alive);
    }
    write_body(stream, response, keep_alive, http11).await
}

/// Writes a response whose body comes from its handler: small ones of
/// known length in one write with the head, others frame by frame,
/// never past the length the head gave; of unknown length, chunked to
/// HTTP/1.1 and to the connection's end for HTTP/1.0 (RFC 9112 6.1).
/// Whether the connection stays open.
async fn write_body(
    stream: &mut TcpStream,
    response: Response<Body>,
    keep_alive: bool,
    http11: bool,
) -> io::Result<bool> {
    use axum::body::HttpBody as _;
    let said = response.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    let exact = response.body().size_hint().exact().or(said);
    let framing = match exact {
        Some(n) => Framing::Length(n),
        None if http11 => Framing::Chunked,
        None => Framing::Close,
    };
    let keep_alive = keep_alive && framing != Framing::Close;
    let mut out = head::render(&response, framing, keep_alive);
    let mut body = response.into_body();
    if exact.is_some_and(|n| n <= SMALL_BODY) {
        let bytes = body.collect().await.map_err(io::Error::other)?.to_bytes();
        if Some(bytes.len() as u64) != exact {
            return Err(io::Error::other("the body was not the length it said"));
        }
        out.extend_from_slice(&bytes);
        write_all(stream, &out).await?;
        return Ok(keep_alive);
    }
    write_all(stream, &out).await?;
    let mut sent = 0u64;
    while let Some(frame) = body.frame().await {
        let Ok(data) = frame.map_err(io::Error::other)?.into_data() else { continue };
        if data.is_empty() {
            continue;
        }
        sent += data.len() as u64;
        match framing {
            Framing::Length(n) if sent > n => return Err(io::Error::other("the body was longer than it said")),
            Framing::Chunked => {
                let mut chunk = format!("{:x}\r\n", data.len()).into_bytes();
                chunk.extend_from_slice(&data);
                chunk.extend_from_slice(b"\r\n");
                write_all(stream, &chunk).await?;
            }
            _ => write_all(stream, &data).await?,
        }
    }
    match framing {
        Framing::Chunked => write_all(stream, b"0\r\n\r\n").await?,
        Framing::Length(n) if n != sent => return Err(io::Error::other("the body was shorter than it said")),
        _ => {}
    }
    Ok(keep_alive)
}

/// Hands the connection to hyper, with the bytes read from it and not
/// yet served, for the rest of its life; hyper's head timeout is this
/// front's [`IDLE`].
async fn hyper_takes(stream: TcpStream, read: BytesMut, peer: SocketAddr, router: Router, stop: CancellationToken) {
    let io = hyper_util::rt::TokioIo::new(prefixed::Prefixed::new(read.freeze(), stream));
    let service = hyper::service::service_fn(move |request: axum::http::Request<hyper::body::Incoming>| {
        let mut request = request.map(Body::new);
        request.extensions_mut().insert(ConnectInfo(peer));
        let router = router.clone();
        async move { Ok::<_, Infallible>(router.oneshot(request).await.unwrap_or_else(|never| match never {})) }
    });
    let connection = hyper::server::conn::http1::Builder::new()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(IDLE)
        .serve_connection(io, service)
        .with_upgrades();
    tokio::pin!(connection);
    let ended = tokio::select! {
        ended = connection.as_mut() => ended,
        () = stop.cancelled() => {
            connection.as_mut().graceful_shutdown();
            connection.await
        }
    };
    if let Err(e) = ended {
        tracing::debug!(%peer, error = %e, "boot http connection (hyper)");
    }
}

#[cfg(test)]
mod tests;
