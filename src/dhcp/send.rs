//! Sending an encoded DHCP answer, in either family: at once from the
//! receive loop when the socket takes it (`try_send_to`), in a task of
//! the server's tracker only when its buffer is full. A task per answer
//! cost more than the send itself (BENCHMARKS.md, "DHCPv4"). Every send
//! that fails is counted and logged.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::UdpSocket;
use tokio_util::task::TaskTracker;

use crate::stats::{bump, Counter};
use crate::types::report::Report;

/// Sends `bytes` to `dest` now, or from a task of `tasks` if the socket
/// is full; a failure counts in `errors`.
pub(crate) fn now_or_later(
    tasks: &TaskTracker,
    socket: &Arc<UdpSocket>,
    bytes: Vec<u8>,
    dest: SocketAddr,
    errors: &Counter,
) {
    match socket.try_send_to(&bytes, dest) {
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
            let (socket, errors) = (socket.clone(), errors.clone());
            tasks.spawn(async move { send(&socket, &bytes, dest, &errors).await });
        }
        sent => counted(sent, dest, errors),
    }
}

/// Sends `bytes` to `dest`, waiting for room in the socket's buffer; a
/// failure counts in `errors`.
pub(crate) async fn send(socket: &UdpSocket, bytes: &[u8], dest: SocketAddr, errors: &Counter) {
    counted(socket.send_to(bytes, dest).await, dest, errors);
}

fn counted(sent: std::io::Result<usize>, dest: SocketAddr, errors: &Counter) {
    match sent {
        Ok(_) => tracing::debug!(%dest, "dhcp answer sent"),
        Err(e) => {
            bump(errors);
            tracing::warn!(%dest, error = %Report(&e), "dhcp send");
        }
    }
}
