//! The DHCP servers' own thread: a tokio runtime with one worker that
//! runs every DHCP socket's receive loop, its folding task and the tasks
//! that send its answers, apart from the runtime the API, DNS and TFTP
//! share. Each socket's loop is serial anyway (it receives, decides and
//! replies in turn); on the shared two-worker runtime the folds and
//! answers it handed on woke the other worker, and that worker parking
//! and waking again was 9.5 % of the DHCPv4 server's CPU at 22,000
//! offered/s. With one worker it was 3.8 %, and the server served 13-40 %
//! more leases a second (BENCHMARKS.md, "DHCPv4").
//!
//! The thread is started before the sockets are made (a socket belongs
//! to the runtime it is registered with) and ended by [`DhcpThread::close`]
//! once the servers have drained.

use std::time::Duration;

use tokio::runtime::{Builder, Handle, Runtime};

/// How long [`DhcpThread::close`] lets tasks still there finish. None
/// should be: the servers drain before it is called.
const CLOSE_GRACE: Duration = Duration::from_secs(2);

/// The DHCP runtime, owned by the running server.
pub(crate) struct DhcpThread {
    handle: Handle,
    /// Taken by `close` or `drop`.
    runtime: Option<Runtime>,
}

impl DhcpThread {
    /// Starts the thread (named `dhcp`).
    pub(crate) fn start() -> std::io::Result<DhcpThread> {
        let runtime = Builder::new_multi_thread().worker_threads(1).thread_name("dhcp").enable_all().build()?;
        Ok(DhcpThread { handle: runtime.handle().clone(), runtime: Some(runtime) })
    }

    /// Where DHCP's sockets are registered and its loops spawned.
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
    pub(crate) async fn close(mut self) {
        if let Some(rt) = self.runtime.take() {
            // Dropping a runtime blocks: not on an async worker.
            if tokio::task::spawn_blocking(move || rt.shutdown_timeout(CLOSE_GRACE)).await.is_err() {
                tracing::error!("the DHCP thread did not end cleanly");
            }
        }
    }
}

impl Drop for DhcpThread {
    /// A start that failed half-way: the thread ends without waiting.
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}
