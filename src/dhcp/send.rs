//! Sending an encoded DHCP answer, in either family: at once from the
//! receive loop when the socket takes it (`try_send_to`), in a task of
//! the server's tracker only when its buffer is full, where each answer
//! had a task of its own before (the change's share of the gain was not
//! measured alone: BENCHMARKS.md, "DHCPv4"). Every send that fails is
//! counted and logged.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::UdpSocket;
use tokio_util::task::TaskTracker;

use crate::stats::{bump, Counter};
use crate::types::report::Report;

/// Which server sends, for the logs.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Family {
    V4,
    V6,
}

impl Family {
    fn name(self) -> &'static str {
        match self {
            Family::V4 => "dhcpv4",
            Family::V6 => "dhcpv6",
        }
    }
}

/// Sends `bytes` to `dest` now, or from a task of `tasks` if the socket
/// is full; a failure counts in `errors`.
pub(crate) fn now_or_later(
    tasks: &TaskTracker,
    socket: &Arc<UdpSocket>,
    bytes: Vec<u8>,
    dest: SocketAddr,
    errors: &Counter,
    family: Family,
) {
    match socket.try_send_to(&bytes, dest) {
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
            let (socket, errors) = (socket.clone(), errors.clone());
            tasks.spawn(async move { send(&socket, &bytes, dest, &errors, family).await });
        }
        sent => counted(sent, dest, errors, family),
    }
}

/// Sends `bytes` to `dest`, waiting for room in the socket's buffer; a
/// failure counts in `errors`.
pub(crate) async fn send(socket: &UdpSocket, bytes: &[u8], dest: SocketAddr, errors: &Counter, family: Family) {
    counted(socket.send_to(bytes, dest).await, dest, errors, family);
}

fn counted(sent: std::io::Result<usize>, dest: SocketAddr, errors: &Counter, family: Family) {
    let family = family.name();
    match sent {
        Ok(len) => tracing::debug!(family, %dest, len, "dhcp answer sent"),
        Err(e) => {
            bump(errors);
            tracing::warn!(family, %dest, error = %Report(&e), "dhcp send failed");
        }
    }
}
