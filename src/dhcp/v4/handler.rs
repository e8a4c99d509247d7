//! The DHCPv4 decision: given a parsed request, the world snapshot, the
//! offer table and where the packet came in, decide what to answer. Pure:
//! no sockets, no disk. A decision that hands out an address carries the
//! lease to commit; the server sends the ACK only after that commit.

use std::net::Ipv4Addr;
use std::sync::Arc;

use dhcproto::v4::{DhcpOption, Message, MessageType, Opcode, OptionCode};

use super::offers::Offers;
use super::reply;
use crate::config::Config;
use crate::dhcp::pxe::{self, Firmware};
use crate::net::alloc;
use crate::net::mac::Mac;
use crate::state::model::{BootKind, Lease, Network, Node};
use crate::state::World;

/// Where a packet came in.
#[derive(Debug, Clone, Default)]
pub struct Arrival {
    /// The interface its socket is bound to, if any.
    pub iface: Option<String>,
    /// The host's IPv4 addresses (all interfaces), to find our address on a
    /// network that does not name it.
    pub local_addrs: Vec<Ipv4Addr>,
    /// Addresses of the receiving interface.
    pub iface_addrs: Vec<Ipv4Addr>,
}

/// What to do with a request.
#[derive(Debug)]
pub enum Decision {
    /// Send this now (OFFER, NAK, ACK to INFORM).
    Reply(Message),
    /// Persist the lease, then send `ack`; if the commit is refused, `nak`.
    Commit { lease: Lease, ack: Message, nak: Message },
    /// Drop the lease the client released.
    Release { ip: Ipv4Addr, mac: Mac },
    /// The client found `ip` in use: quarantine it.
    Decline { ip: Ipv4Addr, network: String },
    /// Say nothing; the reason is logged and counted.
    Ignore(&'static str),
}

/// MAC used for quarantined (declined) addresses.
pub const DECLINED: Mac = Mac([0; 6]);

/// Inputs every decision needs.
pub struct Ctx<'a> {
    pub world: &'a World,
    pub config: &'a Config,
    pub offers: &'a Offers,
    pub arrival: &'a Arrival,
    pub now: u64,
}

fn opt_ip(msg: &Message, code: OptionCode) -> Option<Ipv4Addr> {
    match msg.opts().get(code) {
        Some(DhcpOption::RequestedIpAddress(ip)) | Some(DhcpOption::ServerIdentifier(ip)) => Some(*ip),
        _ => None,
    }
}

impl Ctx<'_> {
    /// The network a request belongs to.
    fn network(&self, msg: &Message) -> Option<&Arc<Network>> {
        let w = self.world;
        if !msg.giaddr().is_unspecified() {
            return w.network_containing(msg.giaddr());
        }
        if let Some(iface) = &self.arrival.iface {
            if let Some(n) = w.networks().find(|n| n.interface.as_deref() == Some(iface.as_str())) {
                return Some(n);
            }
            if let Some(n) = self.arrival.iface_addrs.iter().find_map(|ip| w.network_containing(*ip)) {
                return Some(n);
            }
        }
        if !msg.ciaddr().is_unspecified() {
            if let Some(n) = w.network_containing(msg.ciaddr()) {
                return Some(n);
            }
        }
        let mut all = w.networks();
        match (all.next(), all.next()) {
            (Some(only), None) => Some(only),
            _ => None,
        }
    }

    /// Our address on `net`: configured, else the host's address inside it.
    fn server_ip(&self, net: &Network) -> Option<Ipv4Addr> {
        net.server.or_else(|| self.arrival.local_addrs.iter().copied().find(|ip| net.subnet.contains(ip)))
    }

    /// The node this MAC belongs to, if its address is on `net`.
    fn node_on<'w>(&'w self, mac: &Mac, net: &Network) -> Option<&'w Arc<Node>> {
        self.world.node_by_mac(mac).filter(|n| n.ipv4.is_some_and(|ip| net.subnet.contains(&ip)))
    }

    fn boot(&self, msg: &Message, mac: Mac, node: Option<&Node>, server: Ipv4Addr) -> Option<pxe::BootAnswer> {
        // A node whose bootenv boots from disk gets no boot file: its
        // firmware falls through to the next boot device at once.
        if let Some(node) = node {
            if self.world.bootenv(&node.bootenv).is_some_and(|e| e.kind == BootKind::Local) {
                return None;
            }
        }
        let fw = pxe::classify(msg.opts());
        if fw == Firmware::Plain {
            return None;
        }
        let base = self.config.base_url(server.into());
        pxe::answer(fw, &self.config.dhcp, &base, mac)
    }

    /// A dynamic address for an unknown client: its current lease, the
    /// address it asks for, its outstanding offer, or the next free one.
    fn pick_dynamic(&self, msg: &Message, mac: &Mac, net: &Network) -> Option<Ipv4Addr> {
        let range = net.dynamic?;
        let usable = |ip: Ipv4Addr| {
            range.contains(ip)
                && alloc::assignable(net, ip)
                && !self.world.ip_taken_by_other(ip, mac, self.now)
                && !self.offers.held_by_other(ip, mac, self.now)
        };
        if let Some(l) = self.world.lease_of(&net.name, mac) {
            if usable(l.ip) {
                return Some(l.ip);
            }
        }
        if let Some(ip) = self.offers.offered_to(mac, self.now) {
            if usable(ip) {
                return Some(ip);
            }
        }
        if let Some(ip) = opt_ip(msg, OptionCode::RequestedIpAddress) {
            if usable(ip) {
                return Some(ip);
            }
        }
        let ip = alloc::next_dynamic(self.world, net, self.offers.cursor(&net.name), self.now, |ip| {
            self.offers.held_by_other(ip, mac, self.now)
        })?;
        self.offers.advance(&net.name, ip);
        Some(ip)
    }

    /// Decides what to answer.
    pub fn decide(&self, msg: &Message) -> Decision {
        if msg.opcode() != Opcode::BootRequest {
            return Decision::Ignore("not a BOOTREQUEST");
        }
        let Some(mac) = Mac::from_chaddr(msg.chaddr()).filter(|_| msg.hlen() == 6) else {
            return Decision::Ignore("chaddr is not an Ethernet address");
        };
        let Some(kind) = msg.opts().msg_type() else {
            return Decision::Ignore("no message type (BOOTP is not served)");
        };
        let Some(net) = self.network(msg) else {
            return Decision::Ignore("no network serves this request");
        };
        let Some(server) = self.server_ip(net) else {
            return Decision::Ignore("no server address on this network (set the network's `server`)");
        };
        match kind {
            MessageType::Discover => self.discover(msg, mac, net, server),
            MessageType::Request => self.request(msg, mac, net, server),
            MessageType::Release => Decision::Release { ip: msg.ciaddr(), mac },
            MessageType::Decline => match opt_ip(msg, OptionCode::RequestedIpAddress) {
                Some(ip) if net.subnet.contains(&ip) => Decision::Decline { ip, network: net.name.clone() },
                _ => Decision::Ignore("DECLINE without a requested address"),
            },
            MessageType::Inform => {
                let node = self.world.node_by_mac(&mac).map(|n| &**n);
                let boot = self.boot(msg, mac, node, server);
                let host = node.map(|n| short(&n.name));
                Decision::Reply(reply::answer(
                    msg,
                    MessageType::Ack,
                    Ipv4Addr::UNSPECIFIED,
                    server,
                    net,
                    host,
                    boot.as_ref(),
                ))
            }
            _ => Decision::Ignore("message type not served"),
        }
    }

    fn discover(&self, msg: &Message, mac: Mac, net: &Network, server: Ipv4Addr) -> Decision {
        let node = self.node_on(&mac, net).map(|n| &**n);
        let ip = match node.and_then(|n| n.ipv4) {
            Some(ip) => ip,
            None => match self.pick_dynamic(msg, &mac, net) {
                Some(ip) => ip,
                None => return Decision::Ignore("dynamic range exhausted or absent"),
            },
        };
        self.offers.offer(mac, ip, self.now + u64::from(self.config.dhcp.offer_seconds), self.now);
        let boot = self.boot(msg, mac, node, server);
        let host = node.map(|n| short(&n.name));
        Decision::Reply(reply::answer(msg, MessageType::Offer, ip, server, net, host, boot.as_ref()))
    }

    fn request(&self, msg: &Message, mac: Mac, net: &Network, server: Ipv4Addr) -> Decision {
        if let Some(sid) = opt_ip(msg, OptionCode::ServerIdentifier) {
            if sid != server {
                self.offers.forget(&mac);
                return Decision::Ignore("client chose another server");
            }
        }
        let requested =
            opt_ip(msg, OptionCode::RequestedIpAddress).or(Some(msg.ciaddr()).filter(|ip| !ip.is_unspecified()));
        let Some(ip) = requested else {
            return Decision::Ignore("REQUEST names no address");
        };
        let nak = |why: &str| Decision::Reply(reply::nak(msg, server, why));
        if !net.subnet.contains(&ip) {
            return nak("address is not on this network");
        }
        let node = self.node_on(&mac, net).map(|n| &**n);
        let ok = match node.and_then(|n| n.ipv4) {
            Some(static_ip) => static_ip == ip,
            None => {
                net.dynamic.is_some_and(|r| r.contains(ip))
                    && alloc::assignable(net, ip)
                    && !self.world.ip_taken_by_other(ip, &mac, self.now)
                    && !self.offers.held_by_other(ip, &mac, self.now)
            }
        };
        if !ok {
            return nak("requested address is not yours");
        }
        let boot = self.boot(msg, mac, node, server);
        let host = node.map(|n| short(&n.name));
        let hostname = node.map(|n| n.name.clone()).or_else(|| match msg.opts().get(OptionCode::Hostname) {
            Some(DhcpOption::Hostname(h)) => Some(h.clone()),
            _ => None,
        });
        Decision::Commit {
            lease: Lease {
                ip,
                mac,
                network: net.name.clone(),
                hostname,
                expires_at: self.now + u64::from(net.lease_seconds),
            },
            ack: reply::answer(msg, MessageType::Ack, ip, server, net, host, boot.as_ref()),
            nak: reply::nak(msg, server, "address was taken meanwhile"),
        }
    }
}

/// The host part of an FQDN.
fn short(fqdn: &str) -> &str {
    fqdn.split('.').next().unwrap_or(fqdn)
}
