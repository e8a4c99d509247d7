//! The DHCP servers' own thread: a tokio runtime with one worker that
//! runs every DHCP socket's receive loop, its folding task and the tasks
//! that send its answers, apart from the runtime the API, DNS and TFTP
//! share (one worker per CPU). Each socket's loop is serial anyway (it
//! receives, decides and replies in turn); on the shared runtime (two
//! workers on the benchmark machine) the folds and answers it handed on
//! woke the other worker, and workers parking and waking again were
//! 9.3 % of the DHCPv4 server's CPU at 22,000 offered/s. On this thread
//! it was 1.9 % (BENCHMARKS.md, "DHCPv4").
//!
//! The thread is started before the sockets are made (a socket belongs
//! to the runtime it is registered with) and ended by [`DhcpThread::close`]
//! once the servers have drained.

use std::time::Duration;

use tokio::runtime::{Builder, Handle, Runtime};

/// How long [`DhcpThread::close`] waits for the thread to exit. Tasks
/// still there are dropped, not waited for; none should be, as the
/// servers drain before it is called.
const CLOSE_GRACE: Duration = Duration::from_secs(2);

/// The DHCP runtime, owned by the running server.
pub(crate) struct DhcpThread {
    handle: Handle,
    runtime: Ending,
}

impl DhcpThread {
    /// Starts the thread (named `dhcp`).
    pub(crate) fn start() -> std::io::Result<DhcpThread> {
        let runtime = Builder::new_multi_thread().worker_threads(1).thread_name("dhcp").enable_all().build()?;
        Ok(DhcpThread { handle: runtime.handle().clone(), runtime: Ending(Some(runtime)) })
    }

    /// Where DHCP's loops are spawned.
    pub(crate) fn handle(&self) -> &Handle {
        &self.handle
    }

    /// `socket` as a tokio socket of this runtime.
    pub(crate) fn adopt(&self, socket: std::net::UdpSocket) -> std::io::Result<tokio::net::UdpSocket> {
        let _inside = self.handle.enter();
        tokio::net::UdpSocket::from_std(socket)
    }

    /// Ends the thread and waits for it (call once the DHCP servers have
    /// drained).
    pub(crate) async fn close(self) {
        let runtime = self.runtime;
        // Waiting for a runtime's threads blocks: not on an async worker.
        if tokio::task::spawn_blocking(move || runtime.finish()).await.is_err() {
            tracing::error!("the DHCP thread did not end cleanly");
        }
    }
}

/// The runtime, ended without waiting wherever it is dropped unfinished:
/// after a start that failed half-way, a shutdown cut short by a second
/// signal, or a [`DhcpThread::close`] whose blocking task was refused.
/// Answers in flight then are lost (their clients ask again). Dropping a
/// runtime the usual way would wait, and panics on an async worker.
struct Ending(Option<Runtime>);

impl Ending {
    fn finish(mut self) {
        if let Some(rt) = self.0.take() {
            rt.shutdown_timeout(CLOSE_GRACE);
        }
    }
}

impl Drop for Ending {
    fn drop(&mut self) {
        if let Some(rt) = self.0.take() {
            rt.shutdown_background();
        }
    }
}
