//! The DHCPv6 decision (RFC 8415 section 18.3): given a client's message
//! (its relay envelope already taken off), the world snapshot and where
//! it came in, decide what to answer. No sockets and no disk. A decision
//! that binds, releases or declines addresses carries the write; the
//! server sends the REPLY only after that write is durable.
//!
//! A client is recognised as a node by, in order: a DUID recorded for the
//! node, the MAC inside its DUID-LL or DUID-LLT, the client link-layer
//! address a relay added (RFC 6939), or the MAC in the EUI-64 of its
//! link-local source address, and only on its own network. A node gets its
//! network's /64 plus the md5 tail of its name (the address the API
//! shows), one per network; anyone else gets an address derived from its
//! DUID and IAID in the dynamic part of the /64.

use std::net::Ipv6Addr;
use std::sync::Arc;

use dhcproto::v6::{
    DhcpOption, DhcpOptions, IAAddr, Message, MessageType, OptionCode, Status, StatusCode, UnknownOption, VendorClass,
    IANA, IAPD, IATA,
};
use md5::{Digest, Md5};

use super::boot;
use super::relay::Hop;
use crate::config::Config;
use crate::dhcp::duid::{Duid, NodeDuid};
use crate::dhcp::lease6::{self, Lease6};
use crate::dhcp::pxe::Firmware;
use crate::inventory::bootenv::{BootKind, Bootenv};
use crate::inventory::network::{DhcpMode, Network, UnknownClients};
use crate::inventory::node::Node;
use crate::net::ula;
use crate::state::World;
use crate::types::mac::Mac;
use crate::types::port::SwitchPort;

/// Interface IDs of dynamic addresses: `ffff:` and 48 bits from the
/// client's DUID and IAID. A node's md5 tail falls in here once in 65,536
/// names; such an address is skipped (it is the node's).
pub(crate) const DYNAMIC_IID: u64 = 0xffff_0000_0000_0000;
/// How many addresses are tried past the first choice of a dynamic client.
const PROBES: u64 = 16;
/// The identity associations answered per message (more are ignored).
const MAX_IAS: usize = 8;
/// Option codes dhcproto has no type for.
const OPT_DOMAIN_LIST: u16 = 24;
pub(crate) const OPT_BOOTFILE_URL: u16 = 59;

/// The host's own IPv6 addresses, as the decision asks for them.
pub(crate) trait LocalAddrs {
    /// The host's address inside the /64 of `prefix`, if it has one.
    fn in_prefix(&self, prefix: Ipv6Addr) -> Option<Ipv6Addr>;
}

/// The first of `addrs` inside the /64 of `prefix`.
pub(crate) fn in_prefix(addrs: &[Ipv6Addr], prefix: Ipv6Addr) -> Option<Ipv6Addr> {
    addrs.iter().copied().find(|a| u128::from(*a) >> 64 == u128::from(prefix) >> 64)
}

impl LocalAddrs for Vec<Ipv6Addr> {
    fn in_prefix(&self, prefix: Ipv6Addr) -> Option<Ipv6Addr> {
        in_prefix(self, prefix)
    }
}

impl<const N: usize> LocalAddrs for [Ipv6Addr; N] {
    fn in_prefix(&self, prefix: Ipv6Addr) -> Option<Ipv6Addr> {
        in_prefix(self, prefix)
    }
}

/// Where a datagram came in.
pub(crate) struct Arrival6<'a> {
    /// The interface its socket is bound to, if any.
    pub(crate) iface: Option<&'a str>,
    /// The host's addresses.
    pub(crate) local: &'a dyn LocalAddrs,
    /// The datagram's source address (a client's link-local, or a relay).
    pub(crate) src: Option<Ipv6Addr>,
    /// It was sent to one of this host's unicast addresses, not to
    /// All_DHCP_Relay_Agents_and_Servers (`false` when not known).
    pub(crate) unicast: bool,
}

/// What to do with a message.
#[derive(Debug)]
pub(crate) enum Decision6 {
    /// Send this now (ADVERTISE, a REPLY that changes nothing).
    Reply(Message),
    /// Make `write` durable, then send `reply`; if the write is refused
    /// because an address was taken meanwhile, send `refused`.
    Write { write: Write6, reply: Message, refused: Message },
    /// Say nothing; the reason is logged and counted.
    Ignore(Skip6),
}

/// A change a reply depends on.
#[derive(Debug, Clone)]
pub(crate) enum Write6 {
    Bind(Vec<Lease6>),
    Release { duid: Duid, ias: Vec<(u32, Vec<Ipv6Addr>)> },
    Decline { duid: Duid, ias: Vec<(u32, Vec<Ipv6Addr>)>, until: u64 },
}

/// Why a message gets no answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Skip6 {
    NotClientMessage,
    NoClientId,
    BadClientId,
    UnexpectedServerId,
    NoServerId,
    OtherServer,
    NoNetwork,
    NoPrefix,
    NothingToConfirm,
    UnknownClient,
    UnknownNotBooting,
    ProxyNetwork,
    UntrustedRelay,
    /// A client sent to a unicast address what it must multicast.
    Unicast,
    /// A REBIND of a binding another server may hold (`authoritative =
    /// false`).
    NotAuthoritative,
}

impl Skip6 {
    /// The reason's label in `/metrics`.
    pub(crate) fn label(self) -> &'static str {
        match self {
            Skip6::NotClientMessage => "not_client_message",
            Skip6::NoClientId => "no_client_id",
            Skip6::BadClientId => "bad_client_id",
            Skip6::UnexpectedServerId => "unexpected_server_id",
            Skip6::NoServerId => "no_server_id",
            Skip6::OtherServer => "other_server",
            Skip6::NoNetwork => "no_network",
            Skip6::NoPrefix => "no_v6_prefix",
            Skip6::NothingToConfirm => "nothing_to_confirm",
            Skip6::UnknownClient => "unknown_client",
            Skip6::UnknownNotBooting => "unknown_not_booting",
            Skip6::ProxyNetwork => "proxy_network",
            Skip6::UntrustedRelay => "untrusted_relay",
            Skip6::Unicast => "unicast",
            Skip6::NotAuthoritative => "not_authoritative",
        }
    }
}

/// Inputs every decision needs.
pub(crate) struct Ctx6<'a> {
    pub(crate) world: &'a World,
    pub(crate) config: &'a Config,
    pub(crate) arrival: &'a Arrival6<'a>,
    pub(crate) server_duid: &'a Duid,
    pub(crate) now: u64,
}

/// The client as this decision sees it.
struct Client<'w> {
    duid: Duid,
    node: Option<&'w Arc<Node>>,
    mac: Option<Mac>,
    /// The switch port the relay next to it named.
    port: Option<SwitchPort>,
}

/// The network a message belongs to, with its /64.
struct Segment<'w> {
    net: &'w Network,
    prefix: Ipv6Addr,
}

impl Segment<'_> {
    fn contains(&self, a: Ipv6Addr) -> bool {
        u128::from(a) >> 64 == u128::from(self.prefix) >> 64
    }
    fn with_iid(&self, iid: u64) -> Ipv6Addr {
        Ipv6Addr::from(u128::from(self.prefix) | u128::from(iid))
    }
}

/// The MAC in a modified EUI-64 link-local address (fe80::/64 with
/// ff:fe in the middle of the interface ID).
pub(crate) fn eui64_mac(a: Ipv6Addr) -> Option<Mac> {
    let link_local = u128::from(a) >> 64 == 0xfe80_0000_0000_0000;
    link_local.then(|| ula::eui64_mac(u128::from(a) as u64)).flatten()
}

fn status(code: Status, msg: &str) -> DhcpOption {
    DhcpOption::StatusCode(StatusCode { status: code, msg: msg.to_string() })
}

fn unknown(code: u16, data: Vec<u8>) -> DhcpOption {
    DhcpOption::Unknown(UnknownOption::new(OptionCode::from(code), data))
}

/// A domain name in DNS wire form (RFC 1035 3.1), for option 24.
fn wire_name(name: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(name.len() + 2);
    for label in name.trim_end_matches('.').split('.').filter(|l| !l.is_empty()) {
        out.push(label.len().min(63) as u8);
        out.extend_from_slice(&label.as_bytes()[..label.len().min(63)]);
    }
    out.push(0);
    out
}

/// The IA_NAs of a message.
fn ia_nas(msg: &Message) -> Vec<&IANA> {
    msg.opts()
        .get_all(OptionCode::IANA)
        .unwrap_or_default()
        .iter()
        .filter_map(|o| match o {
            DhcpOption::IANA(ia) => Some(ia),
            _ => None,
        })
        .collect()
}

/// The identity associations of kinds Fulcrum does not serve (prefix
/// delegation, temporary addresses), each answered with its status
/// (RFC 8415 18.3.9: NoPrefixAvail for an IA_PD, NoAddrsAvail for an IA_TA)
/// so that the client stops asking for them. In a RENEW or REBIND, which
/// name a binding the client believes it has, each says NoBinding instead
/// (RFC 8415 18.3.4, 18.3.5): Fulcrum never made one.
fn unserved_ias(msg: &Message) -> Vec<DhcpOption> {
    let renewing = matches!(msg.msg_type(), MessageType::Renew | MessageType::Rebind);
    let none = |code: Status, why: &str| -> DhcpOptions {
        let (code, why) = if renewing { (Status::NoBinding, "no binding for this IA") } else { (code, why) };
        [status(code, why)].into_iter().collect()
    };
    let pd = msg.opts().get_all(OptionCode::IAPD).unwrap_or_default().iter().filter_map(|o| match o {
        DhcpOption::IAPD(ia) => Some(DhcpOption::IAPD(IAPD {
            id: ia.id,
            t1: 0,
            t2: 0,
            opts: none(Status::NoPrefixAvail, "no prefix delegation here"),
        })),
        _ => None,
    });
    let ta = msg.opts().get_all(OptionCode::IATA).unwrap_or_default().iter().filter_map(|o| match o {
        DhcpOption::IATA(ia) => {
            Some(DhcpOption::IATA(IATA { id: ia.id, opts: none(Status::NoAddrsAvail, "no temporary addresses here") }))
        }
        _ => None,
    });
    pd.chain(ta).take(MAX_IAS).collect()
}

/// The addresses inside an IA_NA.
fn ia_addrs(ia: &IANA) -> Vec<Ipv6Addr> {
    ia.opts
        .get_all(OptionCode::IAAddr)
        .unwrap_or_default()
        .iter()
        .filter_map(|o| match o {
            DhcpOption::IAAddr(a) => Some(a.addr),
            _ => None,
        })
        .collect()
}

fn requested(msg: &Message, code: u16) -> bool {
    match msg.opts().get(OptionCode::ORO) {
        Some(DhcpOption::ORO(oro)) => oro.opts.iter().any(|c| u16::from(*c) == code),
        _ => false,
    }
}

/// Lifetimes for a lease of `valid` seconds: (preferred, valid, T1, T2),
/// T1 and T2 at 0.5 and 0.8 of the preferred lifetime (RFC 8415 21.4).
fn lifetimes(valid: u32) -> (u32, u32, u32, u32) {
    let preferred = valid / 4 * 3;
    (preferred, valid, preferred / 2, preferred / 5 * 4)
}

impl<'w> Ctx6<'w> {
    /// Decides what to answer to a client's message that came through
    /// `hops` (outermost first; empty when it came straight from the client).
    pub(crate) fn decide(&self, msg: &Message, hops: &[Hop]) -> Decision6 {
        use MessageType as T;
        let kind = msg.msg_type();
        if !matches!(
            kind,
            T::Solicit
                | T::Request
                | T::Confirm
                | T::Renew
                | T::Rebind
                | T::Release
                | T::Decline
                | T::InformationRequest
        ) {
            return Decision6::Ignore(Skip6::NotClientMessage);
        }
        let relays = &self.config.dhcp;
        let from_relay = self.arrival.src.map(std::net::IpAddr::V6);
        if !hops.is_empty() && !relays.trusted_relays.is_empty() && !relays.trusts_relay(from_relay) {
            return Decision6::Ignore(Skip6::UntrustedRelay);
        }
        let client_id = match msg.opts().get(OptionCode::ClientId) {
            Some(DhcpOption::ClientId(id)) => match Duid::new(id) {
                Ok(d) => Some(d),
                Err(_) => return Decision6::Ignore(Skip6::BadClientId),
            },
            _ => None,
        };
        let server_id = match msg.opts().get(OptionCode::ServerId) {
            Some(DhcpOption::ServerId(id)) => Some(id.as_slice()),
            _ => None,
        };
        let ours = server_id.map(|id| id == self.server_duid.as_bytes());
        // RFC 8415 16: which messages must and must not name a server.
        match (kind, ours) {
            (T::Solicit | T::Confirm | T::Rebind, Some(_)) => return Decision6::Ignore(Skip6::UnexpectedServerId),
            (T::Request | T::Renew | T::Release | T::Decline, None) => return Decision6::Ignore(Skip6::NoServerId),
            (_, Some(false)) => return Decision6::Ignore(Skip6::OtherServer),
            _ => {}
        }
        // RFC 8415 16 and 18.4: straight from a client, a unicast SOLICIT,
        // CONFIRM, REBIND or INFORMATION-REQUEST is discarded; a unicast
        // REQUEST, RENEW, RELEASE or DECLINE (Fulcrum never offers the
        // Server Unicast option) gets UseMulticast and nothing else. A
        // relay always unicasts: its messages come wrapped.
        if self.arrival.unicast && hops.is_empty() {
            return match (kind, client_id) {
                (T::Request | T::Renew | T::Release | T::Decline, Some(duid)) => {
                    let mut out = Message::new_with_id(T::Reply, msg.xid());
                    let o = out.opts_mut();
                    o.insert(DhcpOption::ServerId(self.server_duid.as_bytes().to_vec()));
                    o.insert(DhcpOption::ClientId(duid.as_bytes().to_vec()));
                    o.insert(status(Status::UseMulticast, "send to ff02::1:2"));
                    Decision6::Reply(out)
                }
                (T::Request | T::Renew | T::Release | T::Decline, None) => Decision6::Ignore(Skip6::NoClientId),
                _ => Decision6::Ignore(Skip6::Unicast),
            };
        }
        let Some(net) = self.network(hops) else {
            return Decision6::Ignore(Skip6::NoNetwork);
        };
        if net.dhcp == DhcpMode::Proxy {
            return Decision6::Ignore(Skip6::ProxyNetwork);
        }
        let Some(prefix) = net.v6_prefix(self.world.global_id()) else {
            return Decision6::Ignore(Skip6::NoPrefix);
        };
        let seg = Segment { net, prefix };
        let Some(duid) = client_id else {
            if kind == T::InformationRequest {
                return Decision6::Reply(self.reply(msg, T::Reply, &seg, None));
            }
            return Decision6::Ignore(Skip6::NoClientId);
        };
        let client = self.client(duid, hops, seg.net);
        if client.node.is_none() && matches!(kind, T::Solicit | T::Request | T::Renew | T::Rebind) {
            match seg.net.unknown_clients {
                UnknownClients::Serve => {}
                UnknownClients::Ignore => return Decision6::Ignore(Skip6::UnknownClient),
                UnknownClients::Discovery if !boot::is_booting(msg.opts()) => {
                    return Decision6::Ignore(Skip6::UnknownNotBooting)
                }
                UnknownClients::Discovery => {}
            }
        }
        // Not authoritative: what a stranger's RENEW or REBIND names may be
        // another server's. With no binding here for any of its IAs, a
        // RENEW gets NoBinding in each (RFC 8415 18.3.4), a REBIND no
        // answer (18.3.5); a node's address is its own either way.
        if !seg.net.authoritative && client.node.is_none() && matches!(kind, T::Renew | T::Rebind) {
            let leases = self.world.table::<Lease6>();
            let ias = ia_nas(msg);
            if ias.iter().all(|ia| leases.of(&seg.net.name, &client.duid, ia.id).is_none()) {
                if kind == T::Rebind {
                    return Decision6::Ignore(Skip6::NotAuthoritative);
                }
                let mut reply = self.reply(msg, T::Reply, &seg, Some(&client));
                for ia in ias.into_iter().take(MAX_IAS) {
                    reply.opts_mut().insert(DhcpOption::IANA(IANA {
                        id: ia.id,
                        t1: 0,
                        t2: 0,
                        opts: [status(Status::NoBinding, "no binding for this IA here")].into_iter().collect(),
                    }));
                }
                return Decision6::Reply(reply);
            }
        }
        match kind {
            T::InformationRequest => Decision6::Reply(self.reply(msg, T::Reply, &seg, Some(&client))),
            T::Confirm => self.confirm(msg, &seg, &client),
            T::Release | T::Decline => self.give_back(msg, &seg, &client),
            T::Solicit if msg.opts().get(OptionCode::RapidCommit).is_none() => self.advertise(msg, &seg, &client),
            _ => self.bind(msg, &seg, &client),
        }
    }

    /// The network: for a relayed message, the one whose /64 holds the
    /// link address of the relay next to the client; otherwise the one on
    /// the receiving interface; else the only network there is.
    fn network(&self, hops: &[Hop]) -> Option<&'w Network> {
        let nets = self.world.table::<Network>();
        let gid = self.world.global_id();
        let in_prefix = |a: Ipv6Addr| {
            nets.iter().find(|n| n.v6_prefix(gid).is_some_and(|p| u128::from(p) >> 64 == u128::from(a) >> 64))
        };
        if let Some(first) = hops.last() {
            if !first.link_addr.is_unspecified() {
                return in_prefix(first.link_addr).map(|n| &**n);
            }
        } else if let Some(iface) = self.arrival.iface {
            if let Some(n) = nets.on_interface(iface) {
                return Some(n);
            }
        }
        nets.sole().map(|n| &**n)
    }

    /// Recognises the client on `net`: by the MAC in its DUID, by the
    /// relay's client link-layer address, by the switch port the relay
    /// that sent the datagram names (its interface-id and remote-id, in the
    /// outermost layer, for a node reserved there; believed only when that
    /// relay is trusted), by a DUID recorded for a node, by the EUI-64 of its
    /// link-local address, in that order (what the client says about its
    /// hardware before what was once recorded). Only a node of this
    /// network is a node here; elsewhere it is a stranger.
    fn client(&self, duid: Duid, hops: &[Hop], net: &Network) -> Client<'w> {
        let nodes = self.world.table::<Node>();
        let here = |n: &&'w Arc<Node>| n.network.as_deref() == Some(net.name.as_str());
        let linklayer = hops
            .last()
            .and_then(|h| h.client_linklayer.as_ref())
            .filter(|(htype, _)| *htype == 1)
            .and_then(|(_, ll)| Mac::from_chaddr(ll).filter(|_| ll.len() == 6));
        let peer = match hops.last() {
            Some(h) => Some(h.peer_addr),
            None => self.arrival.src,
        };
        let mac = duid.mac().or(linklayer).or_else(|| peer.and_then(eui64_mac));
        let by_duid = self
            .world
            .table::<NodeDuid>()
            .get(&duid)
            .filter(|_| duid.is_distinctive())
            .and_then(|r| nodes.get(&r.node));
        // The port comes from the layer the trusted relay itself built (the
        // outermost): any inner layer may be a client's own RELAY-FORW that
        // the relay wrapped (RFC 8415 19.1.2), so it is not believed.
        let port = hops.first().and_then(|h| SwitchPort::from_relay(h.interface_id.as_deref(), h.remote_id.as_deref()));
        let trusted = self.config.dhcp.trusts_relay(self.arrival.src.map(std::net::IpAddr::V6));
        let by_port =
            port.as_ref().filter(|_| trusted).and_then(|p| nodes.by_port(&p.circuit_id, p.remote_id.as_ref()));
        let node = duid
            .mac()
            .and_then(|m| nodes.by_mac(&m))
            .or_else(|| linklayer.and_then(|m| nodes.by_mac(&m)))
            .or(by_port)
            .or(by_duid)
            .or_else(|| peer.and_then(eui64_mac).and_then(|m| nodes.by_mac(&m)))
            .filter(here);
        Client { duid, node, mac: node.and_then(|n| n.macs.first().copied()).or(mac), port }
    }

    /// The node a message comes from, as [`Ctx6::decide`] recognises it
    /// (for its boot trace); `None` for a stranger or a message without a
    /// usable client identifier or network.
    pub(crate) fn node_of(&self, msg: &Message, hops: &[Hop]) -> Option<&'w Node> {
        let Some(DhcpOption::ClientId(id)) = msg.opts().get(OptionCode::ClientId) else { return None };
        let duid = Duid::new(id).ok()?;
        let net = self.network(hops)?;
        self.client(duid, hops, net).node.map(|n| &**n)
    }

    /// The address identity association `iaid` gets: a node's own, else
    /// its current dynamic lease, else the first free address from its
    /// DUID and IAID. `None` when every probe is taken.
    fn choose(&self, seg: &Segment<'_>, client: &Client<'_>, iaid: u32, used: &[Ipv6Addr]) -> Option<Ipv6Addr> {
        let free =
            |a: Ipv6Addr| !used.contains(&a) && !lease6::taken_by_other(self.world, a, &client.duid, iaid, self.now);
        // A node has one address per network, its own: the first of its
        // identity associations gets it (from whichever DUID held it
        // before: iPXE's, then the installed system's), any other nothing.
        if let Some(node) = client.node {
            let own = ula::node_address(seg.prefix, &node.name);
            let held_by_it =
                self.world.table::<Lease6>().get(&own).is_some_and(|l| l.node.as_ref() == Some(&node.name));
            return (!used.contains(&own) && (held_by_it || free(own))).then_some(own);
        }
        let nodes = self.world.table::<Node>();
        let dynamic_ok = |a: Ipv6Addr| {
            let iid = u128::from(a) as u64;
            iid & DYNAMIC_IID == DYNAMIC_IID && nodes.by_interface_id(iid).is_none() && free(a)
        };
        let leases = self.world.table::<Lease6>();
        if let Some(l) = leases.of(&seg.net.name, &client.duid, iaid) {
            if seg.contains(l.addr) && dynamic_ok(l.addr) {
                return Some(l.addr);
            }
        }
        // A new stranger past the network's cap gets nothing.
        if client.node.is_none() && leases.strangers_on(&seg.net.name) >= self.config.dhcp.unknown_leases6 {
            return None;
        }
        let mut h = Md5::new();
        h.update(client.duid.as_bytes());
        h.update(iaid.to_be_bytes());
        let d = h.finalize();
        let mut tail = [0u8; 8];
        tail.copy_from_slice(&d[8..16]);
        let start = u64::from_be_bytes(tail) & !DYNAMIC_IID;
        (0..PROBES).map(|i| seg.with_iid(DYNAMIC_IID | (start.wrapping_add(i) & !DYNAMIC_IID))).find(|a| dynamic_ok(*a))
    }

    /// The IA_NAs of the answer and the leases they stand for. Addresses
    /// the client asked about that it does not get come back with zero
    /// lifetimes (RFC 8415 18.3.4).
    fn assign(&self, msg: &Message, seg: &Segment<'_>, client: &Client<'_>) -> (Vec<IANA>, Vec<Lease6>) {
        let (preferred, valid, t1, t2) = lifetimes(seg.net.lease_seconds);
        let mut ias = Vec::new();
        let mut leases: Vec<Lease6> = Vec::new();
        for ia in ia_nas(msg).into_iter().take(MAX_IAS) {
            let mut opts = DhcpOptions::new();
            // RFC 8415 18.3.2: a REQUEST naming an address that is not on
            // this link gets that IA back with NotOnLink (the client starts
            // over with a SOLICIT). A RENEW or REBIND gets it with zero
            // lifetimes instead, below (18.3.4, 18.3.5).
            if msg.msg_type() == MessageType::Request && ia_addrs(ia).iter().any(|a| !seg.contains(*a)) {
                opts.insert(status(Status::NotOnLink, "an address is not on this link"));
                ias.push(IANA { id: ia.id, t1: 0, t2: 0, opts });
                continue;
            }
            let used: Vec<Ipv6Addr> = leases.iter().map(|l| l.addr).collect();
            let chosen = self.choose(seg, client, ia.id, &used);
            for asked in ia_addrs(ia) {
                if Some(asked) != chosen {
                    opts.insert(DhcpOption::IAAddr(IAAddr {
                        addr: asked,
                        preferred_life: 0,
                        valid_life: 0,
                        opts: DhcpOptions::new(),
                    }));
                }
            }
            match chosen {
                Some(addr) => {
                    opts.insert(DhcpOption::IAAddr(IAAddr {
                        addr,
                        preferred_life: preferred,
                        valid_life: valid,
                        opts: DhcpOptions::new(),
                    }));
                    leases.push(Lease6 {
                        addr,
                        duid: Some(client.duid.clone()),
                        iaid: ia.id,
                        network: seg.net.name.clone(),
                        node: client.node.map(|n| n.name.clone()),
                        port: client.port.clone(),
                        expires_at: self.now + u64::from(valid),
                        // Stamped when it is bound.
                        written_us: 0,
                    });
                    ias.push(IANA { id: ia.id, t1, t2, opts });
                }
                None => {
                    opts.insert(status(Status::NoAddrsAvail, "no address free for this client"));
                    ias.push(IANA { id: ia.id, t1: 0, t2: 0, opts });
                }
            }
        }
        (ias, leases)
    }

    fn advertise(&self, msg: &Message, seg: &Segment<'_>, client: &Client<'_>) -> Decision6 {
        let (ias, leases) = self.assign(msg, seg, client);
        let mut adv = self.reply(msg, MessageType::Advertise, seg, Some(client));
        // The highest preference: the client need not wait for others.
        adv.opts_mut().insert(DhcpOption::Preference(255));
        let unserved = unserved_ias(msg);
        if ias.is_empty() && !unserved.is_empty() {
            // Nothing it asked for is given here (RFC 8415 18.3.9).
            let pd_only = unserved.iter().all(|o| matches!(o, DhcpOption::IAPD(_)));
            adv.opts_mut().insert(if pd_only {
                status(Status::NoPrefixAvail, "no prefix delegation here")
            } else {
                status(Status::NoAddrsAvail, "no temporary addresses here")
            });
        }
        for o in unserved {
            adv.opts_mut().insert(o);
        }
        if leases.is_empty() && !ias.is_empty() {
            adv.opts_mut().insert(status(Status::NoAddrsAvail, "no address free for this client"));
        } else {
            for ia in ias {
                adv.opts_mut().insert(DhcpOption::IANA(ia));
            }
        }
        Decision6::Reply(adv)
    }

    /// REQUEST, RENEW, REBIND and a Rapid Commit SOLICIT: bind, then REPLY.
    fn bind(&self, msg: &Message, seg: &Segment<'_>, client: &Client<'_>) -> Decision6 {
        let (ias, leases) = self.assign(msg, seg, client);
        let mut reply = self.reply(msg, MessageType::Reply, seg, Some(client));
        if msg.msg_type() == MessageType::Solicit {
            reply.opts_mut().insert(DhcpOption::RapidCommit);
        }
        for o in unserved_ias(msg) {
            reply.opts_mut().insert(o);
        }
        let mut refused = reply.clone();
        for ia in ias {
            refused.opts_mut().insert(DhcpOption::IANA(IANA {
                id: ia.id,
                t1: 0,
                t2: 0,
                opts: [status(Status::NoAddrsAvail, "address was taken meanwhile")].into_iter().collect(),
            }));
            reply.opts_mut().insert(DhcpOption::IANA(ia));
        }
        if leases.is_empty() {
            return Decision6::Reply(reply);
        }
        Decision6::Write { write: Write6::Bind(leases), reply, refused }
    }

    /// CONFIRM: are the client's addresses on this link?
    fn confirm(&self, msg: &Message, seg: &Segment<'_>, client: &Client<'_>) -> Decision6 {
        let addrs: Vec<Ipv6Addr> = ia_nas(msg).into_iter().flat_map(ia_addrs).collect();
        if addrs.is_empty() {
            return Decision6::Ignore(Skip6::NothingToConfirm);
        }
        let mut reply = self.reply(msg, MessageType::Reply, seg, Some(client));
        reply.opts_mut().insert(if addrs.iter().all(|a| seg.contains(*a)) {
            status(Status::Success, "all addresses are on this link")
        } else {
            status(Status::NotOnLink, "an address is not on this link")
        });
        Decision6::Reply(reply)
    }

    /// RELEASE and DECLINE: drop (or quarantine) the client's own leases.
    /// Only dynamic addresses are quarantined: a node's address is its own
    /// whatever else answers for it.
    fn give_back(&self, msg: &Message, seg: &Segment<'_>, client: &Client<'_>) -> Decision6 {
        let mut ias: Vec<(u32, Vec<Ipv6Addr>)> =
            ia_nas(msg).into_iter().take(MAX_IAS).map(|ia| (ia.id, ia_addrs(ia))).collect();
        let mut reply = self.reply(msg, MessageType::Reply, seg, Some(client));
        reply.opts_mut().insert(status(Status::Success, "done"));
        // RFC 8415 18.3.7 and 18.3.8: an IA the client holds no binding for
        // comes back with NoBinding.
        let leases = self.world.table::<Lease6>();
        for (iaid, addrs) in &ias {
            let bound = addrs
                .iter()
                .any(|a| leases.get(a).is_some_and(|l| l.duid.as_ref() == Some(&client.duid) && l.iaid == *iaid));
            if !bound {
                reply.opts_mut().insert(DhcpOption::IANA(IANA {
                    id: *iaid,
                    t1: 0,
                    t2: 0,
                    opts: [status(Status::NoBinding, "no binding for this IA")].into_iter().collect(),
                }));
            }
        }
        let duid = client.duid.clone();
        let write = if msg.msg_type() == MessageType::Release {
            Write6::Release { duid, ias }
        } else {
            for (_, addrs) in &mut ias {
                addrs.retain(|a| u128::from(*a) as u64 & DYNAMIC_IID == DYNAMIC_IID);
            }
            let until = self.now.saturating_add(self.config.dhcp.decline_seconds);
            Write6::Decline { duid, ias, until }
        };
        Decision6::Write { write, refused: reply.clone(), reply }
    }

    /// The admin node's address in the network's /64, if it has one.
    fn server_addr(&self, seg: &Segment<'_>) -> Option<Ipv6Addr> {
        self.arrival.local.in_prefix(seg.prefix)
    }

    /// A reply with the options every answer carries: the client's and our
    /// identifiers, DNS (23, 24), and the boot-file URL when asked for.
    fn reply(&self, msg: &Message, kind: MessageType, seg: &Segment<'_>, client: Option<&Client<'_>>) -> Message {
        let mut out = Message::new_with_id(kind, msg.xid());
        let o = out.opts_mut();
        o.insert(DhcpOption::ServerId(self.server_duid.as_bytes().to_vec()));
        if let Some(c) = client {
            o.insert(DhcpOption::ClientId(c.duid.as_bytes().to_vec()));
        }
        let server = self.server_addr(seg);
        let dns = &self.config.dns;
        let dns_here = dns.enabled
            && dns.listen.iter().any(|l| {
                l.port() == 53 && (l.ip().is_unspecified() && l.is_ipv6() || server.is_some_and(|s| l.ip() == s))
            });
        if let Some(s) = server.filter(|_| dns_here) {
            o.insert(DhcpOption::DomainNameServers(vec![s]));
        }
        if requested(msg, OPT_DOMAIN_LIST) || dns_here {
            o.insert(unknown(OPT_DOMAIN_LIST, wire_name(&seg.net.domain)));
        }
        if let Some(url) = server.and_then(|s| self.boot_url(msg, seg.net, client, s)) {
            o.insert(unknown(OPT_BOOTFILE_URL, url.into_bytes()));
            // UEFI HTTP boot takes only an answer that names HTTPClient.
            if let Firmware::HttpBoot { .. } = boot::classify(msg.opts()) {
                o.insert(DhcpOption::VendorClass(VendorClass { num: 343, data: vec![b"HTTPClient".to_vec()] }));
            }
        }
        out
    }

    fn boot_url(&self, msg: &Message, net: &Network, client: Option<&Client<'_>>, server: Ipv6Addr) -> Option<String> {
        if !requested(msg, OPT_BOOTFILE_URL) {
            return None;
        }
        let node = client.and_then(|c| c.node);
        // A node that boots from its disk (a protected one always does)
        // gets no boot file.
        if let Some(node) = node {
            if node.protected
                || self.world.table::<Bootenv>().get(&node.bootenv).is_some_and(|e| e.kind == BootKind::Local)
            {
                return None;
            }
        }
        let base = self.config.base_url(server.into());
        let loaders = crate::dhcp::pxe::Loaders::for_client(&self.config.dhcp, net, node.map(|n| &**n));
        boot::url(boot::classify(msg.opts()), loaders, &base, server, client.and_then(|c| c.mac))
    }
}
