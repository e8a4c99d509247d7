//! Building DHCPv4 replies: header fields copied as RFC 2131 says, the
//! options every client needs (1, 3, 6, 15, 51, 54, 58, 59, ...), the boot
//! fields PXE firmware needs (siaddr, sname, NUL-terminated file, 60, 43,
//! 97 echo, 66/67 when asked for), the relay agent information echoed
//! (RFC 3046) with its server identifier override honoured (RFC 5107),
//! padded to the 300-byte BOOTP minimum.

use std::net::Ipv4Addr;

use dhcproto::v4::{DhcpOption, Message, MessageType, Opcode, OptionCode};
use dhcproto::{Encodable, Encoder};

use super::relay::{relay_info, server_id_override};
use crate::dhcp::pxe::BootAnswer;
use crate::inventory::network::Network;

/// The BOOTP minimum some clients insist on.
const MIN_LEN: usize = 300;

/// A reply skeleton: header copied from the request, the server
/// identifier (the relay's override if it asked for one), and the relay
/// agent information echoed (RFC 3046 2.2).
fn skeleton(req: &Message, kind: MessageType, server: Ipv4Addr) -> Message {
    let mut m = Message::default();
    m.set_opcode(Opcode::BootReply)
        .set_htype(req.htype())
        .set_xid(req.xid())
        .set_flags(req.flags())
        .set_giaddr(req.giaddr())
        .set_chaddr(req.chaddr());
    m.opts_mut().insert(DhcpOption::MessageType(kind));
    m.opts_mut().insert(DhcpOption::ServerIdentifier(server_id_override(req).unwrap_or(server)));
    if let Some(info) = relay_info(req) {
        m.opts_mut().insert(DhcpOption::RelayAgentInformation(info.clone()));
    }
    m
}

fn requested(req: &Message, code: OptionCode) -> bool {
    matches!(req.opts().get(OptionCode::ParameterRequestList), Some(DhcpOption::ParameterRequestList(list)) if list.contains(&code))
}

/// The network an answer is for, and the DNS servers it hands out there.
pub(crate) struct Segment<'a> {
    pub(crate) net: &'a Network,
    pub(crate) dns_servers: &'a [Ipv4Addr],
}

/// An OFFER or ACK (or an ACK to INFORM when `yiaddr` is unspecified).
pub(crate) fn answer(
    req: &Message,
    kind: MessageType,
    yiaddr: Ipv4Addr,
    server: Ipv4Addr,
    seg: Segment<'_>,
    hostname: Option<&str>,
    boot: Option<&BootAnswer>,
) -> Message {
    let Segment { net, dns_servers } = seg;
    let mut m = skeleton(req, kind, server);
    m.set_yiaddr(yiaddr);
    if req.opts().msg_type() == Some(MessageType::Inform) || !req.ciaddr().is_unspecified() {
        m.set_ciaddr(req.ciaddr());
    }
    let o = m.opts_mut();
    o.insert(DhcpOption::SubnetMask(net.subnet.netmask()));
    o.insert(DhcpOption::BroadcastAddr(net.subnet.broadcast()));
    if let Some(r) = net.router {
        o.insert(DhcpOption::Router(vec![r]));
    }
    if !dns_servers.is_empty() {
        o.insert(DhcpOption::DomainNameServer(dns_servers.to_vec()));
    }
    o.insert(DhcpOption::DomainName(net.domain.clone()));
    if let Some(h) = hostname {
        o.insert(DhcpOption::Hostname(h.to_string()));
    }
    if net.mtu != 1500 {
        o.insert(DhcpOption::InterfaceMtu(net.mtu));
    }
    if kind != MessageType::Ack || req.opts().msg_type() != Some(MessageType::Inform) {
        let lease = net.lease_seconds;
        o.insert(DhcpOption::AddressLeaseTime(lease));
        o.insert(DhcpOption::Renewal(lease / 2));
        o.insert(DhcpOption::Rebinding(lease / 8 * 7));
    }
    if let Some(DhcpOption::ClientMachineIdentifier(uuid)) = req.opts().get(OptionCode::ClientMachineIdentifier) {
        let uuid = uuid.clone();
        m.opts_mut().insert(DhcpOption::ClientMachineIdentifier(uuid));
    }
    if let Some(b) = boot {
        add_boot(&mut m, req, server, b);
    }
    m
}

/// The boot part alone, without an address or addressing options: a
/// proxyDHCP OFFER or ACK on a network whose addresses another server hands
/// out, or the PXE boot server's ACK on port 4011. Option 60 always says
/// which kind of boot it is for (`PXEClient` unless `HTTPClient`): that is
/// how firmware and iPXE recognise a proxy answer.
pub(crate) fn boot_only(req: &Message, kind: MessageType, server: Ipv4Addr, boot: &BootAnswer) -> Message {
    let mut m = skeleton(req, kind, server);
    if !req.ciaddr().is_unspecified() {
        m.set_ciaddr(req.ciaddr());
    }
    if let Some(DhcpOption::ClientMachineIdentifier(uuid)) = req.opts().get(OptionCode::ClientMachineIdentifier) {
        let uuid = uuid.clone();
        m.opts_mut().insert(DhcpOption::ClientMachineIdentifier(uuid));
    }
    let boot = BootAnswer { vendor_class: Some(boot.vendor_class.unwrap_or("PXEClient")), ..boot.clone() };
    add_boot(&mut m, req, server, &boot);
    m
}

fn add_boot(m: &mut Message, req: &Message, server: Ipv4Addr, b: &BootAnswer) {
    m.set_siaddr(server);
    let sname = server.to_string();
    let mut sname_z = sname.clone().into_bytes();
    sname_z.push(0);
    m.set_sname(&sname_z);
    if b.file.len() < 128 {
        let mut file_z = b.file.clone().into_bytes();
        file_z.push(0);
        m.set_fname(&file_z);
    }
    let o = m.opts_mut();
    if let Some(vc) = b.vendor_class {
        o.insert(DhcpOption::ClassIdentifier(vc.as_bytes().to_vec()));
    }
    if requested(req, OptionCode::TFTPServerName) {
        o.insert(DhcpOption::TFTPServerName(sname.into_bytes()));
    }
    if !b.file.is_empty() && (requested(req, OptionCode::BootfileName) || b.file.len() >= 128) {
        o.insert(DhcpOption::BootfileName(b.file.clone().into_bytes()));
    }
    if b.pxe_skip_discovery {
        // PXE_DISCOVERY_CONTROL (6) = 8: boot `file` directly; then END.
        o.insert(DhcpOption::VendorExtensions(vec![6, 1, 8, 255]));
    }
    if b.ipxe_no_proxy_wait {
        // iPXE encapsulated option 175, sub-option 176 no-pxedhcp = 1.
        o.insert(DhcpOption::Unknown(dhcproto::v4::UnknownOption::new(OptionCode::from(175u8), vec![176, 1, 1])));
    }
}

/// A NAK: the client's address is wrong here; it must start over.
pub(crate) fn nak(req: &Message, server: Ipv4Addr, why: &str) -> Message {
    let mut m = skeleton(req, MessageType::Nak, server);
    m.opts_mut().insert(DhcpOption::Message(why.to_string()));
    m
}

/// Wire bytes, padded to the BOOTP minimum.
pub(crate) fn encode(m: &Message) -> Result<Vec<u8>, dhcproto::error::EncodeError> {
    let mut buf = Vec::with_capacity(576);
    m.encode(&mut Encoder::new(&mut buf))?;
    if buf.len() < MIN_LEN {
        buf.resize(MIN_LEN, 0);
    }
    Ok(buf)
}

/// The boot file a reply names: `file` up to its NUL, else option 67.
pub(crate) fn boot_file(m: &Message) -> Option<String> {
    let field = m.fname().map(|f| f.split(|&b| b == 0).next().unwrap_or_default()).unwrap_or_default();
    if !field.is_empty() {
        return Some(String::from_utf8_lossy(field).into_owned());
    }
    match m.opts().get(OptionCode::BootfileName) {
        Some(DhcpOption::BootfileName(f)) if !f.is_empty() => Some(String::from_utf8_lossy(f).into_owned()),
        _ => None,
    }
}

/// A reply for a person: `OFFER 10.0.0.5, boot file snponly.efi from 10.0.0.1`, `NAK: why`.
pub(crate) fn summary(m: &Message) -> String {
    let kind = match m.opts().msg_type() {
        Some(MessageType::Offer) => "OFFER",
        Some(MessageType::Ack) => "ACK",
        Some(MessageType::Nak) => "NAK",
        Some(_) | None => "reply",
    };
    let mut s = kind.to_string();
    if !m.yiaddr().is_unspecified() {
        s.push_str(&format!(" {}", m.yiaddr()));
    }
    match boot_file(m) {
        Some(file) if m.siaddr().is_unspecified() => s.push_str(&format!(", boot file {file}")),
        Some(file) => s.push_str(&format!(", boot file {file} from {}", m.siaddr())),
        None if m.opts().msg_type() != Some(MessageType::Nak) => s.push_str(", no boot file"),
        None => {}
    }
    if let Some(DhcpOption::Message(why)) = m.opts().get(OptionCode::Message) {
        s.push_str(&format!(": {why}"));
    }
    s
}
