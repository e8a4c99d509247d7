//! The demo's simulated firmware: a PXE ROM and iPXE speaking DHCPv4 through
//! a (simulated) relay on loopback, so no root and no real interface are
//! needed. Requests carry what the real clients send (options 60, 77, 93).

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use dhcproto::v4::{Architecture, DhcpOption, Message, MessageType, OptionCode};
use dhcproto::{Decodable, Decoder, Encodable, Encoder};
use tokio::net::UdpSocket;
use tokio::time::timeout;

use crate::net::mac::Mac;

/// Which firmware is asking.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// The NIC's PXE ROM on a BIOS machine.
    BiosRom,
    /// iPXE, chainloaded from the ROM.
    Ipxe,
}

/// A DHCP conversation's outcome.
pub struct Lease {
    pub ip: Ipv4Addr,
    pub file: Option<String>,
    pub siaddr: Ipv4Addr,
    pub hostname: Option<String>,
}

/// A relay agent on `giaddr` forwarding one machine's requests.
pub struct Relay {
    sock: UdpSocket,
    server: SocketAddr,
    giaddr: Ipv4Addr,
}

impl Relay {
    pub async fn new(giaddr: Ipv4Addr, server: SocketAddr) -> anyhow::Result<Relay> {
        let sock = UdpSocket::bind((giaddr, 0)).await.with_context(|| format!("bind relay on {giaddr}"))?;
        Ok(Relay { sock, server, giaddr })
    }

    fn request(&self, mac: Mac, stage: Stage, kind: MessageType, xid: u32) -> Message {
        let mut m = Message::new_with_id(
            xid,
            Ipv4Addr::UNSPECIFIED,
            Ipv4Addr::UNSPECIFIED,
            Ipv4Addr::UNSPECIFIED,
            self.giaddr,
            &mac.0,
        );
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

    async fn exchange(&self, msg: &Message, want: MessageType) -> anyhow::Result<Message> {
        let mut bytes = Vec::new();
        msg.encode(&mut Encoder::new(&mut bytes))?;
        let mut buf = vec![0u8; 1500];
        for _attempt in 0..3 {
            self.sock.send_to(&bytes, self.server).await?;
            let Ok(got) = timeout(Duration::from_secs(2), self.sock.recv_from(&mut buf)).await else {
                continue;
            };
            let (n, _) = got?;
            let reply = Message::decode(&mut Decoder::new(&buf[..n]))?;
            if reply.xid() != msg.xid() {
                continue;
            }
            return match reply.opts().msg_type() {
                Some(t) if t == want => Ok(reply),
                Some(MessageType::Nak) => bail!("DHCPNAK"),
                other => bail!("expected {want:?}, got {other:?}"),
            };
        }
        Err(anyhow!("no {want:?} from {} after 3 tries", self.server))
    }

    /// DISCOVER, OFFER, REQUEST, ACK.
    pub async fn dora(&self, mac: Mac, stage: Stage) -> anyhow::Result<Lease> {
        let xid = rand::random();
        let offer = self.exchange(&self.request(mac, stage, MessageType::Discover, xid), MessageType::Offer).await?;
        let server_id = match offer.opts().get(OptionCode::ServerIdentifier) {
            Some(DhcpOption::ServerIdentifier(ip)) => *ip,
            _ => bail!("OFFER without server identifier"),
        };
        let mut req = self.request(mac, stage, MessageType::Request, xid);
        req.opts_mut().insert(DhcpOption::RequestedIpAddress(offer.yiaddr()));
        req.opts_mut().insert(DhcpOption::ServerIdentifier(server_id));
        let ack = self.exchange(&req, MessageType::Ack).await?;
        let file = ack
            .fname()
            .map(|f| String::from_utf8_lossy(f).trim_end_matches('\0').to_string())
            .filter(|f| !f.is_empty());
        let hostname = match ack.opts().get(OptionCode::Hostname) {
            Some(DhcpOption::Hostname(h)) => Some(h.clone()),
            _ => None,
        };
        Ok(Lease { ip: ack.yiaddr(), file, siaddr: ack.siaddr(), hostname })
    }
}
