//! A DHCPv4 relay stand-in for loopback tests: sends requests with giaddr
//! set (as a relay agent would) from an address inside 127.0.0.0/8, so the
//! server's answers come back on loopback. Real clients (udhcpc, dhclient,
//! perfdhcp, iPXE) are exercised by the netns and QEMU tests; this one lets
//! a test fire thousands of requests without root.

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::time::Duration;

use dhcproto::v4::{Architecture, DhcpOption, Message, MessageType, OptionCode};
use dhcproto::{Decodable, Decoder, Encodable, Encoder};

pub struct Relay {
    sock: UdpSocket,
    server: SocketAddr,
    giaddr: Ipv4Addr,
}

/// What the server answered.
#[derive(Debug)]
pub struct Answer {
    pub kind: Option<MessageType>,
    pub yiaddr: Ipv4Addr,
    pub file: Option<String>,
    pub msg: Message,
}

impl Relay {
    pub fn new(giaddr: Ipv4Addr, server: SocketAddr) -> Relay {
        let sock = UdpSocket::bind((giaddr, 0)).expect("bind relay socket");
        sock.set_read_timeout(Some(Duration::from_secs(3))).expect("timeout");
        Relay { sock, server, giaddr }
    }

    /// A request as a BIOS PXE ROM (`ipxe = false`) or iPXE sends it.
    pub fn request(&self, mac: [u8; 6], kind: MessageType, ipxe: bool) -> Message {
        let mut m =
            Message::new(Ipv4Addr::UNSPECIFIED, Ipv4Addr::UNSPECIFIED, Ipv4Addr::UNSPECIFIED, self.giaddr, &mac);
        m.set_hops(1);
        let o = m.opts_mut();
        o.insert(DhcpOption::MessageType(kind));
        o.insert(DhcpOption::ClientSystemArchitecture(Architecture::from(0u16)));
        o.insert(DhcpOption::ClassIdentifier(b"PXEClient:Arch:00000:UNDI:002001".to_vec()));
        if ipxe {
            o.insert(DhcpOption::UserClass(b"iPXE".to_vec()));
        }
        m
    }

    /// Sends and waits for the answer with the same xid.
    pub fn send(&self, m: &Message) -> Answer {
        self.try_send(m).expect("no DHCP answer within 3 s")
    }

    /// Sends and waits for the answer; `None` if none comes within 3 s.
    pub fn try_send(&self, m: &Message) -> Option<Answer> {
        let mut bytes = Vec::new();
        m.encode(&mut Encoder::new(&mut bytes)).expect("encode");
        self.sock.send_to(&bytes, self.server).ok()?;
        let mut buf = [0u8; 1500];
        loop {
            let (n, _) = self.sock.recv_from(&mut buf).ok()?;
            let reply = Message::decode(&mut Decoder::new(&buf[..n])).expect("server sent an undecodable reply");
            if reply.xid() != m.xid() {
                continue;
            }
            let file = reply
                .fname()
                .map(|f| String::from_utf8_lossy(f).trim_end_matches('\0').to_string())
                .filter(|f| !f.is_empty());
            return Some(Answer { kind: reply.opts().msg_type(), yiaddr: reply.yiaddr(), file, msg: reply });
        }
    }

    /// DISCOVER then REQUEST of the offered address; returns the ACK.
    pub fn dora(&self, mac: [u8; 6], ipxe: bool) -> Answer {
        self.try_dora(mac, ipxe).expect("no DHCP answer within 3 s")
    }

    /// Like `dora`, `None` when the server stops answering.
    pub fn try_dora(&self, mac: [u8; 6], ipxe: bool) -> Option<Answer> {
        let offer = self.try_send(&self.request(mac, MessageType::Discover, ipxe))?;
        assert_eq!(offer.kind, Some(MessageType::Offer), "{offer:?}");
        let sid = match offer.msg.opts().get(OptionCode::ServerIdentifier) {
            Some(DhcpOption::ServerIdentifier(ip)) => *ip,
            other => panic!("no server id: {other:?}"),
        };
        let mut req = self.request(mac, MessageType::Request, ipxe);
        req.set_xid(offer.msg.xid());
        req.opts_mut().insert(DhcpOption::RequestedIpAddress(offer.yiaddr));
        req.opts_mut().insert(DhcpOption::ServerIdentifier(sid));
        self.try_send(&req)
    }

    /// Sends raw bytes (for malformed-packet tests).
    pub fn send_raw(&self, bytes: &[u8]) {
        self.sock.send_to(bytes, self.server).expect("send");
    }
}
