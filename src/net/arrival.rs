//! Receiving an IPv6 datagram with what the kernel knows of how it
//! arrived and `recv_from` does not say: the address it was sent to
//! (`IPV6_PKTINFO`: a multicast group, or one of this host's unicast
//! addresses) and the hop limit it came with (`IPV6_HOPLIMIT`). DHCPv6
//! needs the first (RFC 8415 16, 18.4: what a client may not unicast),
//! router discovery the second (RFC 4861 6.1.1: a solicitation that
//! crossed a router is not one). nix's safe `recvmsg`, inside tokio's
//! readiness loop.

use std::io::{self, IoSliceMut};
use std::net::{Ipv6Addr, SocketAddrV6};
use std::os::fd::{AsFd, AsRawFd};

use nix::sys::socket::{self, sockopt, ControlMessageOwned, MsgFlags, SockaddrIn6};
use tokio::io::Interest;
use tokio::net::UdpSocket;

/// One datagram's arrival.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Arrived {
    /// Its length (at most the buffer's; the rest is cut off).
    pub(crate) len: usize,
    pub(crate) src: SocketAddrV6,
    /// Where it was sent, when the kernel said ([`ask`]).
    pub(crate) dst: Option<Ipv6Addr>,
    /// The hop limit it arrived with, when the kernel said.
    pub(crate) hop_limit: Option<u8>,
}

impl Arrived {
    /// Whether it was sent to a unicast address (not to a group): `false`
    /// when the kernel did not say.
    pub(crate) fn unicast(&self) -> bool {
        self.dst.is_some_and(|d| !d.is_multicast())
    }
}

/// Asks the kernel to tell, with each datagram `socket` receives, its
/// destination and its hop limit.
pub(crate) fn ask(socket: &impl AsFd) -> io::Result<()> {
    socket::setsockopt(socket, sockopt::Ipv6RecvPacketInfo, &true)?;
    socket::setsockopt(socket, sockopt::Ipv6RecvHopLimit, &true)?;
    Ok(())
}

/// Receives the next datagram into `buf`.
pub(crate) async fn recv(socket: &UdpSocket, buf: &mut [u8]) -> io::Result<Arrived> {
    socket.async_io(Interest::READABLE, || once(socket, buf)).await
}

/// One `recvmsg`: `WouldBlock` when nothing is waiting.
fn once(socket: &UdpSocket, buf: &mut [u8]) -> io::Result<Arrived> {
    let mut control = nix::cmsg_space!(nix::libc::in6_pktinfo, nix::libc::c_int);
    let mut iov = [IoSliceMut::new(buf)];
    let msg = socket::recvmsg::<SockaddrIn6>(socket.as_raw_fd(), &mut iov, Some(&mut control), MsgFlags::empty())?;
    let src: SocketAddrV6 =
        msg.address.map(Into::into).ok_or_else(|| io::Error::other("a datagram without a source"))?;
    let mut arrived = Arrived { len: msg.bytes, src, dst: None, hop_limit: None };
    // A control buffer cut short (it cannot be: it has room for both)
    // leaves the datagram without them, as if the kernel had not said.
    for c in msg.cmsgs().into_iter().flatten() {
        match c {
            ControlMessageOwned::Ipv6PacketInfo(info) => arrived.dst = Some(Ipv6Addr::from(info.ipi6_addr.s6_addr)),
            ControlMessageOwned::Ipv6HopLimit(h) => arrived.hop_limit = u8::try_from(h).ok(),
            _ => {}
        }
    }
    Ok(arrived)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn says_where_a_datagram_was_sent_and_with_which_hop_limit() {
        let rx = UdpSocket::bind("[::1]:0").await.expect("IPv6 loopback");
        ask(&rx).unwrap();
        let tx = std::net::UdpSocket::bind("[::1]:0").unwrap();
        let tx = socket2::Socket::from(tx);
        tx.set_unicast_hops_v6(7).unwrap();
        let to = rx.local_addr().unwrap();
        tx.send_to(b"hello", &to.into()).unwrap();
        let mut buf = [0u8; 64];
        let a = recv(&rx, &mut buf).await.unwrap();
        assert_eq!((a.len, &buf[..5]), (5, &b"hello"[..]));
        assert_eq!(a.dst, Some(Ipv6Addr::LOCALHOST));
        assert_eq!(a.hop_limit, Some(7));
        assert!(a.unicast());
        assert_eq!(a.src.ip(), &Ipv6Addr::LOCALHOST);
        let told_nothing = Arrived { dst: None, ..a };
        assert!(!told_nothing.unicast(), "unknown is not unicast");
        let group = Arrived { dst: Some("ff02::1:2".parse().unwrap()), ..a };
        assert!(!group.unicast());
    }
}
