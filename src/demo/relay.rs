//! Simulated boot firmware speaking DHCPv4 through a relay agent: requests
//! go out with `giaddr` set, from an address inside 127.0.0.0/8, so the
//! server's answers come back on loopback and neither root nor a real
//! interface is needed. Requests carry what real firmware sends (options
//! 60, 77, 93). The demo boots its machines with it, and the tests fire
//! thousands of requests with it; real clients (udhcpc, dhclient,
//! perfdhcp, iPXE) are exercised by the namespace and QEMU tests.

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::time::Duration;

use dhcproto::v4::{Architecture, DhcpOption, Message, MessageType, OptionCode};
use dhcproto::{Decodable, Decoder, Encodable, Encoder};

use crate::types::mac::Mac;

/// How long one exchange waits for its answer.
const WAIT: Duration = Duration::from_secs(2);
/// How often [`Relay::dora`] sends a request before it gives up.
const ATTEMPTS: usize = 3;

/// Which firmware is asking.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// The NIC's PXE ROM on a BIOS machine.
    BiosRom,
    /// iPXE, chainloaded from the ROM (user class `iPXE`).
    Ipxe,
}

/// What the server answered.
#[derive(Debug, Clone)]
pub struct Answer {
    /// DHCP message type.
    pub kind: Option<MessageType>,
    /// The address offered or acknowledged.
    pub yiaddr: Ipv4Addr,
    /// Next server.
    pub siaddr: Ipv4Addr,
    /// The boot file (`file` field), NUL stripped; `None` when empty.
    pub file: Option<String>,
    /// Option 12.
    pub hostname: Option<String>,
    /// The whole reply.
    pub msg: Message,
}

/// Why an exchange failed.
#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    /// The socket failed.
    #[error("relay socket")]
    Io(#[from] std::io::Error),
    /// Nothing came back in time.
    #[error("no DHCP answer within {WAIT:?}")]
    Timeout,
    /// The server answered with something else than what was asked.
    #[error("expected {want:?}, got {got:?}")]
    Unexpected {
        /// What the exchange waited for.
        want: MessageType,
        /// What came.
        got: Option<MessageType>,
    },
    /// The reply does not decode.
    #[error("the server sent an undecodable reply: {0}")]
    Undecodable(String),
}

/// A relay agent on `giaddr` forwarding one machine's requests.
pub struct Relay {
    sock: UdpSocket,
    server: SocketAddr,
    giaddr: Ipv4Addr,
}

impl Relay {
    /// A relay agent bound on `giaddr` (an address of 127.0.0.0/8) that
    /// talks to the DHCP server at `server`.
    pub fn new(giaddr: Ipv4Addr, server: SocketAddr) -> Result<Relay, RelayError> {
        let sock = UdpSocket::bind((giaddr, 0))?;
        sock.set_read_timeout(Some(WAIT))?;
        Ok(Relay { sock, server, giaddr })
    }

    /// The same relay, waiting `wait` for each answer instead of the
    /// default (tests that kill the server mid-exchange).
    pub fn with_timeout(self, wait: Duration) -> Result<Relay, RelayError> {
        self.sock.set_read_timeout(Some(wait))?;
        Ok(self)
    }

    /// A request as the firmware of `stage` sends it.
    pub fn request(&self, mac: Mac, kind: MessageType, stage: Stage) -> Message {
        let mut m =
            Message::new(Ipv4Addr::UNSPECIFIED, Ipv4Addr::UNSPECIFIED, Ipv4Addr::UNSPECIFIED, self.giaddr, &mac.0);
        m.set_hops(1);
        let o = m.opts_mut();
        o.insert(DhcpOption::MessageType(kind));
        o.insert(DhcpOption::ClientSystemArchitecture(Architecture::from(0u16)));
        o.insert(DhcpOption::ClassIdentifier(b"PXEClient:Arch:00000:UNDI:002001".to_vec()));
        o.insert(DhcpOption::ParameterRequestList(vec![
            OptionCode::SubnetMask,
            OptionCode::Router,
            OptionCode::DomainNameServer,
            OptionCode::DomainName,
            OptionCode::BootfileName,
        ]));
        if stage == Stage::Ipxe {
            o.insert(DhcpOption::UserClass(b"iPXE".to_vec()));
        }
        m
    }

    /// Sends `m` once and waits for the answer with the same xid.
    pub fn send(&self, m: &Message) -> Result<Answer, RelayError> {
        let mut bytes = Vec::new();
        m.encode(&mut Encoder::new(&mut bytes)).map_err(|e| RelayError::Undecodable(e.to_string()))?;
        self.sock.send_to(&bytes, self.server)?;
        let mut buf = [0u8; 1500];
        loop {
            let n = match self.sock.recv_from(&mut buf) {
                Ok((n, _)) => n,
                Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                    return Err(RelayError::Timeout)
                }
                Err(e) => return Err(e.into()),
            };
            let reply =
                Message::decode(&mut Decoder::new(&buf[..n])).map_err(|e| RelayError::Undecodable(e.to_string()))?;
            if reply.xid() != m.xid() {
                continue;
            }
            let file = reply
                .fname()
                .map(|f| String::from_utf8_lossy(f).trim_end_matches('\0').to_string())
                .filter(|f| !f.is_empty());
            let hostname = match reply.opts().get(OptionCode::Hostname) {
                Some(DhcpOption::Hostname(h)) => Some(h.clone()),
                _ => None,
            };
            return Ok(Answer {
                kind: reply.opts().msg_type(),
                yiaddr: reply.yiaddr(),
                siaddr: reply.siaddr(),
                file,
                hostname,
                msg: reply,
            });
        }
    }

    /// Sends `m` (up to three times, should no answer come) and expects an
    /// answer of kind `want`.
    fn exchange(&self, m: &Message, want: MessageType) -> Result<Answer, RelayError> {
        let mut last = RelayError::Timeout;
        for _ in 0..ATTEMPTS {
            match self.send(m) {
                Ok(a) if a.kind == Some(want) => return Ok(a),
                Ok(a) => return Err(RelayError::Unexpected { want, got: a.kind }),
                Err(e @ RelayError::Timeout) => last = e,
                Err(e) => return Err(e),
            }
        }
        Err(last)
    }

    /// DISCOVER, OFFER, REQUEST of the offered address, ACK.
    pub fn dora(&self, mac: Mac, stage: Stage) -> Result<Answer, RelayError> {
        let offer = self.exchange(&self.request(mac, MessageType::Discover, stage), MessageType::Offer)?;
        let server_id = match offer.msg.opts().get(OptionCode::ServerIdentifier) {
            Some(DhcpOption::ServerIdentifier(ip)) => *ip,
            _ => return Err(RelayError::Unexpected { want: MessageType::Offer, got: offer.kind }),
        };
        let mut req = self.request(mac, MessageType::Request, stage);
        req.set_xid(offer.msg.xid());
        req.opts_mut().insert(DhcpOption::RequestedIpAddress(offer.yiaddr));
        req.opts_mut().insert(DhcpOption::ServerIdentifier(server_id));
        self.exchange(&req, MessageType::Ack)
    }
}
