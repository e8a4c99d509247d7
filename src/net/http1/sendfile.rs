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
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::Arc;
use std::time::Duration;

use nix::fcntl::PosixFadviseAdvice;

use tokio::io::Interest;
use tokio::net::TcpStream;

/// The most sent per call (nginx's `sendfile_max_chunk`): small enough
/// that one connection takes turns with the others on its worker, and
/// that the next step's read-ahead can be asked for while this one goes.
const STEP: usize = 2 * 1024 * 1024;

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
/// body, never other bytes), and so is a client that makes no room for
/// `stall`.
///
/// sendfile(2) reads pages not in the page cache on the calling thread.
/// Before each step the kernel is asked to read the next one ahead
/// (`POSIX_FADV_WILLNEED`, which does not wait), so a cold file mostly
/// arrives while the previous step is sent; a step whose pages are still
/// not in (`preadv2` with `RWF_NOWAIT` on its first and last page says
/// so) is sent from the blocking pool, never a worker.
pub(crate) async fn send_file(stream: &TcpStream, body: &FileBody, stall: Duration) -> io::Result<()> {
    let end = body.start.checked_add(body.len).ok_or_else(|| io::Error::other("span past the largest offset"))?;
    let mut offset = body.start;
    let file = body.file.as_fd();
    // The read-ahead a sequential reader gets; hints, so failure is fine.
    let _ = posix_fadvise(file, offset, body.len, PosixFadviseAdvice::POSIX_FADV_SEQUENTIAL);
    let _ = posix_fadvise(file, offset, STEP as u64, PosixFadviseAdvice::POSIX_FADV_WILLNEED);
    let mut socket: Option<Arc<OwnedFd>> = None;
    while offset < end {
        let want = usize::try_from(end - offset).unwrap_or(STEP).min(STEP);
        let _ = posix_fadvise(file, offset + want as u64, STEP as u64, PosixFadviseAdvice::POSIX_FADV_WILLNEED);
        tokio::time::timeout(stall, stream.writable()).await.map_err(|_| super::stalled())??;
        let sent = if cached(&body.file, offset, want) {
            stream.try_io(Interest::WRITABLE, || sendfile_at(stream.as_fd(), file, offset, want))
        } else {
            let sock = match &socket {
                Some(s) => s.clone(),
                None => socket.insert(Arc::new(stream.as_fd().try_clone_to_owned()?)).clone(),
            };
            let from = body.file.clone();
            let sent = tokio::task::spawn_blocking(move || sendfile_at(sock.as_fd(), from.as_fd(), offset, want))
                .await
                .map_err(io::Error::other)?;
            if matches!(&sent, Err(e) if e.kind() == io::ErrorKind::WouldBlock) {
                // Full after all: clear tokio's readiness so that
                // `writable` waits for room.
                let _ = stream.try_io(Interest::WRITABLE, || Err::<(), _>(io::ErrorKind::WouldBlock.into()));
            }
            sent
        };
        match sent {
            Ok(0) => return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "the file was cut short while sent")),
            Ok(n) => {
                offset += n as u64;
                tokio::task::consume_budget().await;
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// One sendfile(2) call from `offset`; how much went.
fn sendfile_at(socket: BorrowedFd<'_>, file: BorrowedFd<'_>, offset: u64, want: usize) -> io::Result<usize> {
    let mut at = i64::try_from(offset).map_err(io::Error::other)?;
    nix::sys::sendfile::sendfile(socket, file, Some(&mut at), want).map_err(io::Error::from)
}

fn posix_fadvise(file: BorrowedFd<'_>, offset: u64, len: u64, advice: PosixFadviseAdvice) -> nix::Result<()> {
    let (Ok(offset), Ok(len)) = (i64::try_from(offset), i64::try_from(len)) else { return Ok(()) };
    nix::fcntl::posix_fadvise(file, offset, len, advice)
}

/// Whether the first and the last page of the step are in the page cache
/// (a read that may not wait gets them).
fn cached(file: &File, offset: u64, want: usize) -> bool {
    let page = |at: u64| {
        let mut byte = [0u8; 1];
        matches!(
            rustix::io::preadv2(file, &mut [io::IoSliceMut::new(&mut byte)], at, rustix::io::ReadWriteFlags::NOWAIT),
            Ok(1)
        )
    };
    page(offset) && page(offset + want.saturating_sub(1) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    /// A file whose pages the kernel has dropped is sent from the blocking
    /// pool, whole and in order; the same file cached goes inline.
    #[tokio::test]
    async fn cold_and_cached_files_are_sent_whole() {
        let dir = tempfile::tempdir_in(env!("CARGO_MANIFEST_DIR")).expect("tempdir on disk");
        let path = dir.path().join("cold");
        let data: Vec<u8> = (0..(5 * STEP + 4321)).map(|i| (i % 253) as u8).collect();
        let mut f = File::create(&path).expect("create");
        f.write_all(&data).and_then(|()| f.sync_all()).expect("write");
        let file = Arc::new(File::open(&path).expect("open"));
        let _ = posix_fadvise(file.as_fd(), 0, data.len() as u64, PosixFadviseAdvice::POSIX_FADV_DONTNEED);
        assert!(!cached(&file, 0, STEP), "the dropped pages are reported cached");
        for round in ["cold", "cached"] {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            let addr = listener.local_addr().expect("addr");
            let reader = std::thread::spawn(move || {
                let (mut s, _) = listener.accept().expect("accept");
                let mut got = Vec::new();
                s.read_to_end(&mut got).map(|_| got)
            });
            let stream = TcpStream::connect(addr).await.expect("connect");
            let body = FileBody::new(file.clone(), 7, data.len() as u64 - 7);
            send_file(&stream, &body, Duration::from_secs(10)).await.expect("sent");
            drop(stream);
            let got = reader.join().expect("reader").expect("read");
            assert!(got == data[7..], "{round}: {} bytes, not the file's", got.len());
        }
        assert!(cached(&file, 0, STEP), "read once, the pages are cached");
    }
}
