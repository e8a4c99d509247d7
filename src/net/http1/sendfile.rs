//! A file's bytes from the page cache straight into a socket, by
//! sendfile(2): no pass through user space, which is what kept hyper's
//! copying path at 0.83x nginx on a 256 MiB download (BENCHMARKS.md,
//! "Boot files").
//!
//! A handler asks for it by putting a [`FileBody`] in its response's
//! extensions; it keeps a normal body too, for any server that is not
//! this front (and for tests calling the router directly).

use std::fs::File;
use std::io;
use std::os::fd::AsFd;
use std::sync::Arc;

use tokio::io::Interest;
use tokio::net::TcpStream;

/// The most sent per call: a step's worth of socket buffer, small enough
/// that one connection takes turns with the others on its worker.
const STEP: usize = 4 * 1024 * 1024;

/// "Send these bytes of this file as the body."
#[derive(Debug, Clone)]
pub(crate) struct FileBody {
    file: Arc<File>,
    start: u64,
    len: u64,
}

impl FileBody {
    pub(crate) fn new(file: Arc<File>, start: u64, len: u64) -> Self {
        FileBody { file, start, len }
    }

    pub(crate) fn len(&self) -> u64 {
        self.len
    }
}

/// Sends `body` on `stream`. A file cut short while it is sent is an
/// error (the caller closes the connection: the client sees a short
/// body, never other bytes).
pub(crate) async fn send(stream: &TcpStream, body: &FileBody) -> io::Result<()> {
    let end = body.start.checked_add(body.len).ok_or_else(|| io::Error::other("span past the largest offset"))?;
    let mut offset = i64::try_from(body.start).map_err(io::Error::other)?;
    // The read-ahead a sequential reader gets; a hint, so failure is fine.
    let _ = nix::fcntl::posix_fadvise(
        body.file.as_fd(),
        offset,
        i64::try_from(body.len).unwrap_or(0),
        nix::fcntl::PosixFadviseAdvice::POSIX_FADV_SEQUENTIAL,
    );
    while (offset as u64) < end {
        let want = usize::try_from(end - offset as u64).unwrap_or(STEP).min(STEP);
        stream.writable().await?;
        let sent = stream.try_io(Interest::WRITABLE, || {
            nix::sys::sendfile::sendfile(stream.as_fd(), body.file.as_fd(), Some(&mut offset), want)
                .map_err(io::Error::from)
        });
        match sent {
            Ok(0) => return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "the file was cut short while sent")),
            Ok(_) => tokio::task::consume_budget().await,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
