//! The DHCPv4 decision: given a parsed request, the world snapshot, the
//! offer table and where the packet came in, decide what to answer. No
//! sockets and no disk: the only thing it changes is the in-memory offer
//! table (an OFFER promises its address to the client). A decision that
//! hands out an address carries the lease to commit; the server sends the
//! ACK only after that commit.

use std::net::Ipv4Addr;
use std::sync::Arc;

use dhcproto::v4::{DhcpOption, Message, MessageType, Opcode, OptionCode};

use super::offers::Offers;
use super::{relay, reply};
use crate::config::Config;
use crate::dhcp::firmware::{self, BootClient};
use crate::dhcp::lease::{self, ClientId, ClientKey, Lease};
use crate::dhcp::pxe::{self, Firmware};
use crate::inventory::bootenv::{BootKind, Bootenv};
use crate::inventory::network::{DhcpMode, Network, UnknownClients};
use crate::inventory::node::Node;
use crate::net::alloc;
use crate::state::World;
use crate::types::mac::Mac;
use crate::types::names::host_part;

/// Where a packet came in.
#[derive(Debug, Clone, Default)]
pub(crate) struct Arrival {
    /// The interface its socket is bound to, if any.
    pub(crate) iface: Option<String>,
    /// The host's IPv4 addresses (all interfaces), to find our address on a
    /// network that does not name it.
    pub(crate) local_addrs: Vec<Ipv4Addr>,
    /// Addresses of the receiving interface.
    pub(crate) iface_addrs: Vec<Ipv4Addr>,
    /// The datagram's source (a relay's address when it was relayed).
    pub(crate) src: Option<std::net::IpAddr>,
    /// It came to the PXE boot server's port (4011), not to 67.
    pub(crate) boot_server: bool,
}

/// What to do with a request.
#[derive(Debug)]
pub(crate) enum Decision {
    /// Send this now (OFFER, NAK, ACK to INFORM).
    Reply(Message),
    /// Persist a lease, then answer.
    Commit(Box<Commit>),
    /// Drop the lease the client released.
    Release { ip: Ipv4Addr, client: ClientKey },
    /// The client found `ip` (a dynamic address) in use: quarantine it.
    Decline { ip: Ipv4Addr, client: ClientKey, network: String },
    /// Say nothing; the reason is logged and counted.
    Ignore(Skip),
}

/// A lease to persist (with what a node's firmware said, when that
/// changed, and the MAC a node learns in its port), then `ack` to send; if
/// the commit is refused, `nak`.
#[derive(Debug)]
pub(crate) struct Commit {
    pub(crate) lease: Lease,
    pub(crate) firmware: Option<BootClient>,
    pub(crate) learned: Option<Learned>,
    pub(crate) ack: Message,
    pub(crate) nak: Message,
}

/// A MAC no node has, seen in the port `node` is reserved on: it becomes
/// one of the node's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Learned {
    pub(crate) node: String,
    pub(crate) mac: Mac,
}

/// Why a request gets no answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Skip {
    NotRequest,
    NotEthernet,
    NoMessageType,
    NoNetwork,
    NoServerAddress,
    OtherServer,
    NoRequestedAddress,
    NoFreeAddress,
    TypeNotServed,
    DeclineOutsideDynamic,
    DeclineWithoutAddress,
    NotAuthoritative,
    UnknownClient,
    UnknownNotBooting,
    NotBooting,
    NothingToBoot,
    UntrustedRelay,
}

impl Skip {
    /// The reason's label in `/metrics`.
    pub(crate) fn label(self) -> &'static str {
        match self {
            Skip::NotRequest => "not_request",
            Skip::NotEthernet => "not_ethernet",
            Skip::NoMessageType => "no_message_type",
            Skip::NoNetwork => "no_network",
            Skip::NoServerAddress => "no_server_address",
            Skip::OtherServer => "other_server",
            Skip::NoRequestedAddress => "no_requested_address",
            Skip::NoFreeAddress => "no_free_address",
            Skip::TypeNotServed => "type_not_served",
            Skip::DeclineOutsideDynamic => "decline_outside_dynamic",
            Skip::DeclineWithoutAddress => "decline_without_address",
            Skip::NotAuthoritative => "not_authoritative",
            Skip::UnknownClient => "unknown_client",
            Skip::UnknownNotBooting => "unknown_not_booting",
            Skip::NotBooting => "not_booting",
            Skip::NothingToBoot => "nothing_to_boot",
            Skip::UntrustedRelay => "untrusted_relay",
        }
    }

    /// The reason, for a person.
    pub(crate) fn why(self) -> &'static str {
        match self {
            Skip::NotRequest => "not a BOOTREQUEST",
            Skip::NotEthernet => "chaddr is not an Ethernet address",
            Skip::NoMessageType => "no message type (BOOTP is not served)",
            Skip::NoNetwork => "no network serves this request",
            Skip::NoServerAddress => "no server address on this network (set the network's `server`)",
            Skip::OtherServer => "client chose another server",
            Skip::NoRequestedAddress => "REQUEST names no address",
            Skip::NoFreeAddress => "dynamic range exhausted or absent",
            Skip::TypeNotServed => "message type not served",
            Skip::DeclineOutsideDynamic => "DECLINE of an address outside the dynamic range",
            Skip::DeclineWithoutAddress => "DECLINE without a requested address",
            Skip::NotAuthoritative => {
                "REQUEST from a client without a lease here, on a network that is not authoritative"
            }
            Skip::UnknownClient => "not a node, and the network serves only nodes",
            Skip::UnknownNotBooting => {
                "not a node nor network-boot firmware nor the discovery agent, and the network serves only those"
            }
            Skip::NotBooting => {
                "not network-boot firmware, on a proxy network or at the boot server (only boot answers are given there)"
            }
            Skip::NothingToBoot => "no boot answer for this client (a node that boots from disk, or no loader for its architecture)",
            Skip::UntrustedRelay => "relayed (giaddr set) from a source that is not in dhcp.trusted_relays",
        }
    }
}

/// Inputs every decision needs.
pub(crate) struct Ctx<'a> {
    pub(crate) world: &'a World,
    pub(crate) config: &'a Config,
    pub(crate) offers: &'a Offers,
    pub(crate) arrival: &'a Arrival,
    pub(crate) now: u64,
}

/// The client identifier (option 61) of a request, when it is a valid one.
fn client_id(msg: &Message) -> Option<ClientId> {
    match msg.opts().get(OptionCode::ClientIdentifier) {
        Some(DhcpOption::ClientIdentifier(id)) => ClientId::new(id),
        _ => None,
    }
}

/// Who the client is: its identifier, else its MAC (RFC 2131 4.2).
fn client_key(msg: &Message, mac: Mac) -> ClientKey {
    ClientKey::new(client_id(msg), mac)
}

fn opt_ip(msg: &Message, code: OptionCode) -> Option<Ipv4Addr> {
    match msg.opts().get(code) {
        Some(DhcpOption::RequestedIpAddress(ip)) | Some(DhcpOption::ServerIdentifier(ip)) => Some(*ip),
        _ => None,
    }
}

impl Ctx<'_> {
    /// The network a request belongs to: a relay's link selection
    /// (RFC 3527; not honoured without giaddr, from a client itself),
    /// giaddr, the receiving interface, ciaddr, the only one.
    fn network(&self, msg: &Message) -> Option<&Arc<Network>> {
        let nets = self.world.table::<Network>();
        if let Some(link) = relay::link_selection(msg) {
            return nets.containing(link);
        }
        if !msg.giaddr().is_unspecified() {
            return nets.containing(msg.giaddr());
        }
        if let Some(iface) = &self.arrival.iface {
            if let Some(n) = nets.on_interface(iface) {
                return Some(n);
            }
            if let Some(n) = self.arrival.iface_addrs.iter().find_map(|ip| nets.containing(*ip)) {
                return Some(n);
            }
        }
        if !msg.ciaddr().is_unspecified() {
            if let Some(n) = nets.containing(msg.ciaddr()) {
                return Some(n);
            }
        }
        nets.sole()
    }

    /// Our address on `net`: configured, else the host's address inside it.
    /// Option 6: the network's own DNS servers, else Fulcrum's DNS on
    /// this segment when it listens there on port 53.
    fn dns_servers(&self, net: &Network, server: Ipv4Addr) -> Vec<Ipv4Addr> {
        if !net.dns_servers.is_empty() {
            return net.dns_servers.clone();
        }
        let dns = &self.config.dns;
        let here = dns
            .listen
            .iter()
            .any(|l| l.port() == 53 && (l.ip().is_unspecified() || l.ip() == std::net::IpAddr::V4(server)));
        if dns.enabled && here {
            vec![server]
        } else {
            Vec::new()
        }
    }

    fn server_ip(&self, net: &Network) -> Option<Ipv4Addr> {
        net.server.or_else(|| self.arrival.local_addrs.iter().copied().find(|ip| net.subnet.contains(ip)))
    }

    /// The node this client is on `net`, if its address is there: the
    /// node with its MAC, else the node reserved on the switch port a
    /// trusted relay reports it in (only when no node has the MAC: a known
    /// machine plugged in elsewhere stays itself). The second is the MAC
    /// to learn.
    fn node_on<'w>(&'w self, msg: &Message, mac: &Mac, net: &Network) -> (Option<&'w Node>, Option<Learned>) {
        let nodes = self.world.table::<Node>();
        let here = |n: &&Arc<Node>| n.ipv4.is_some_and(|ip| net.subnet.contains(&ip));
        if let Some(n) = nodes.by_mac(mac) {
            return (Some(&**n).filter(|_| here(&n)), None);
        }
        let trusted = self.config.dhcp.trusts_relay(self.arrival.src);
        let Some(port) = relay::relay_port(msg).filter(|_| trusted) else { return (None, None) };
        match nodes.by_port(&port.circuit_id, port.remote_id.as_ref()).filter(here) {
            Some(n) => (Some(&**n), Some(Learned { node: n.name.clone(), mac: *mac })),
            None => (None, None),
        }
    }

    fn boot(
        &self,
        msg: &Message,
        mac: Mac,
        net: &Network,
        node: Option<&Node>,
        server: Ipv4Addr,
    ) -> Option<pxe::BootAnswer> {
        let fw = pxe::classify(msg.opts());
        if fw == Firmware::Plain {
            return None;
        }
        // A node whose bootenv boots from disk: BIOS firmware gets no boot
        // file and falls through to the next boot device at once. UEFI
        // firmware given no boot file retries PXE and HTTP boot for minutes
        // before it tries the disk, so it gets a loader: UEFI PXE gets
        // GRUB (when the signed GRUB is installed), whose `local` config
        // chainloads the disk's own loader at once; otherwise its loader,
        // whose `local` script exits back to the boot manager, which
        // starts the next entry, after the firmware's other network
        // entries (BENCHMARKS.md has the OVMF timelines).
        // A protected node boots from its disk, whatever its record says.
        let local = node.is_some_and(|n| {
            n.protected || self.world.table::<Bootenv>().get(&n.bootenv).is_some_and(|e| e.kind == BootKind::Local)
        });
        if local && !pxe::is_uefi(fw, msg.opts()) {
            return None;
        }
        let base = self.config.base_url(server.into());
        let loaders = pxe::Loaders::for_client(&self.config.dhcp, net, node);
        let loaders = match fw {
            Firmware::Pxe { .. } if local => loaders.booting_the_disk(self.config.boot.has_grub()),
            _ => loaders,
        };
        let answering = loaders.answering(fw, msg.opts());
        let mut boot = pxe::answer(answering, loaders, &base, mac)?;
        // iPXE answered as PXE firmware still waits for no ProxyDHCP.
        boot.ipxe_no_proxy_wait |= fw == Firmware::Ipxe;
        Some(boot)
    }

    /// A dynamic address for an unknown client: its current lease, the
    /// address it asks for, its outstanding offer, or the next free one.
    fn pick_dynamic(&self, msg: &Message, mac: &Mac, net: &Network) -> Option<Ipv4Addr> {
        let range = net.dynamic?;
        let key = client_key(msg, *mac);
        let usable = |ip: Ipv4Addr| {
            range.contains(ip)
                && net.assignable(ip)
                && !lease::taken_by_other(self.world, ip, &key, mac, self.now)
                && !self.offers.held_by_other(ip, mac, self.now)
        };
        if let Some(l) = self.world.table::<Lease>().of(&net.name, &key) {
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
        let nodes = self.world.table::<Node>();
        let ip = alloc::search(&range, self.offers.cursor(&net.name), |ip| {
            net.assignable(ip)
                && nodes.by_ip(ip).is_none()
                && !lease::leased(self.world, ip, self.now)
                && !self.offers.held_by_other(ip, mac, self.now)
        })?;
        self.offers.advance(&net.name, ip);
        Some(ip)
    }

    /// Decides what to answer.
    pub(crate) fn decide(&self, msg: &Message) -> Decision {
        if msg.opcode() != Opcode::BootRequest {
            return Decision::Ignore(Skip::NotRequest);
        }
        let Some(mac) = Mac::from_chaddr(msg.chaddr()).filter(|_| msg.hlen() == 6) else {
            return Decision::Ignore(Skip::NotEthernet);
        };
        let Some(kind) = msg.opts().msg_type() else {
            return Decision::Ignore(Skip::NoMessageType);
        };
        let relays = &self.config.dhcp;
        if !msg.giaddr().is_unspecified() && !relays.trusted_relays.is_empty() && !relays.trusts_relay(self.arrival.src)
        {
            return Decision::Ignore(Skip::UntrustedRelay);
        }
        let Some(net) = self.network(msg) else {
            return Decision::Ignore(Skip::NoNetwork);
        };
        let Some(server) = self.server_ip(net) else {
            return Decision::Ignore(Skip::NoServerAddress);
        };
        if self.arrival.boot_server {
            return self.boot_server(msg, mac, kind, net, server);
        }
        if net.dhcp == DhcpMode::Proxy {
            return self.proxy(msg, mac, kind, net, server);
        }
        match kind {
            MessageType::Discover => self.discover(msg, mac, net, server),
            MessageType::Request => self.request(msg, mac, net, server),
            MessageType::Release => Decision::Release { ip: msg.ciaddr(), client: client_key(msg, mac) },
            MessageType::Decline => match opt_ip(msg, OptionCode::RequestedIpAddress) {
                // Only dynamic addresses are quarantined: a node's static
                // address is its own whatever else answers ARP for it.
                Some(ip) if net.dynamic.is_some_and(|r| r.contains(ip)) => {
                    Decision::Decline { ip, client: client_key(msg, mac), network: net.name.clone() }
                }
                Some(_) => Decision::Ignore(Skip::DeclineOutsideDynamic),
                None => Decision::Ignore(Skip::DeclineWithoutAddress),
            },
            MessageType::Inform => {
                let node = self.world.table::<Node>().by_mac(&mac).map(|n| &**n);
                let boot = self.boot(msg, mac, net, node, server);
                let host = node.map(|n| host_part(&n.name));
                Decision::Reply(reply::answer(
                    msg,
                    MessageType::Ack,
                    Ipv4Addr::UNSPECIFIED,
                    server,
                    reply::Segment { net, dns_servers: &self.dns_servers(net, server) },
                    host,
                    boot.as_ref(),
                ))
            }
            _ => Decision::Ignore(Skip::TypeNotServed),
        }
    }

    /// The boot part for a network-boot client, without an address: a
    /// stranger is answered unless the network ignores strangers.
    fn boot_part(&self, msg: &Message, mac: Mac, net: &Network, server: Ipv4Addr) -> Result<pxe::BootAnswer, Skip> {
        let fw = pxe::classify(msg.opts());
        if fw == Firmware::Plain {
            return Err(Skip::NotBooting);
        }
        let node = self.world.table::<Node>().by_mac(&mac).filter(|n| n.network.as_deref() == Some(net.name.as_str()));
        if node.is_none() && net.unknown_clients == UnknownClients::Ignore {
            return Err(Skip::UnknownClient);
        }
        let mut boot = self.boot(msg, mac, net, node.map(|n| &**n), server).ok_or(Skip::NothingToBoot)?;
        if fw == Firmware::Ipxe {
            // With PXE options (43) in it, iPXE takes a proxy answer as
            // complete and sends no ProxyDHCPREQUEST to port 4011.
            boot.pxe_skip_discovery = true;
            boot.ipxe_no_proxy_wait = false;
        }
        Ok(boot)
    }

    /// proxyDHCP, on a network whose addresses another server hands out:
    /// an OFFER without an address to a DISCOVER, an ACK to a REQUEST
    /// naming us (some Intel ROMs send one) or an INFORM; never a lease,
    /// never a NAK.
    fn proxy(&self, msg: &Message, mac: Mac, kind: MessageType, net: &Network, server: Ipv4Addr) -> Decision {
        let answer = match kind {
            MessageType::Discover => MessageType::Offer,
            MessageType::Request if opt_ip(msg, OptionCode::ServerIdentifier) == Some(server) => MessageType::Ack,
            MessageType::Inform => MessageType::Ack,
            MessageType::Request => return Decision::Ignore(Skip::OtherServer),
            _ => return Decision::Ignore(Skip::TypeNotServed),
        };
        match self.boot_part(msg, mac, net, server) {
            Ok(boot) => Decision::Reply(reply::boot_only(msg, answer, server, &boot)),
            Err(skip) => Decision::Ignore(skip),
        }
    }

    /// The PXE boot server (port 4011, on any network): firmware that took
    /// an answer with option 60 `PXEClient` and no boot-server discovery
    /// control (UEFI PXE) asks here, with its address in ciaddr, for the
    /// file to boot; the ACK goes back to where the request came from.
    fn boot_server(&self, msg: &Message, mac: Mac, kind: MessageType, net: &Network, server: Ipv4Addr) -> Decision {
        if !matches!(kind, MessageType::Request | MessageType::Inform) {
            return Decision::Ignore(Skip::TypeNotServed);
        }
        match self.boot_part(msg, mac, net, server) {
            Ok(boot) => Decision::Reply(reply::boot_only(msg, MessageType::Ack, server, &boot)),
            Err(skip) => Decision::Ignore(skip),
        }
    }

    /// What a node's firmware says in this request (options 97 and 93), if
    /// it says something and that differs from what is recorded.
    fn firmware_news(&self, msg: &Message, node: &Node) -> Option<BootClient> {
        let uuid = match msg.opts().get(OptionCode::ClientMachineIdentifier) {
            Some(DhcpOption::ClientMachineIdentifier(v)) => firmware::uuid_text(v),
            _ => None,
        };
        let arch = pxe::client_arch(msg.opts());
        if uuid.is_none() && arch.is_none() {
            return None;
        }
        let known = self.world.table::<BootClient>().get(&node.name);
        if known.is_some_and(|b| b.uuid == uuid && b.arch == arch) {
            return None;
        }
        Some(BootClient { node: node.name.clone(), uuid, arch, seen_at: self.now })
    }

    /// Whether a client that is no node is answered here.
    fn stranger_allowed(msg: &Message, net: &Network) -> Result<(), Skip> {
        match net.unknown_clients {
            UnknownClients::Serve => Ok(()),
            UnknownClients::Ignore => Err(Skip::UnknownClient),
            UnknownClients::Discovery => {
                let booting = pxe::classify(msg.opts()) != Firmware::Plain || pxe::is_discovery_agent(msg.opts());
                if booting {
                    Ok(())
                } else {
                    Err(Skip::UnknownNotBooting)
                }
            }
        }
    }

    fn discover(&self, msg: &Message, mac: Mac, net: &Network, server: Ipv4Addr) -> Decision {
        let (node, _) = self.node_on(msg, &mac, net);
        if node.is_none() {
            if let Err(skip) = Self::stranger_allowed(msg, net) {
                return Decision::Ignore(skip);
            }
        }
        let ip = match node.and_then(|n| n.ipv4) {
            Some(ip) => ip,
            None => match self.pick_dynamic(msg, &mac, net) {
                Some(ip) => ip,
                None => return Decision::Ignore(Skip::NoFreeAddress),
            },
        };
        self.offers.offer(mac, ip, self.now + u64::from(self.config.dhcp.offer_seconds), self.now);
        let boot = self.boot(msg, mac, net, node, server);
        let host = node.map(|n| host_part(&n.name));
        Decision::Reply(reply::answer(
            msg,
            MessageType::Offer,
            ip,
            server,
            reply::Segment { net, dns_servers: &self.dns_servers(net, server) },
            host,
            boot.as_ref(),
        ))
    }

    fn request(&self, msg: &Message, mac: Mac, net: &Network, server: Ipv4Addr) -> Decision {
        let sid = opt_ip(msg, OptionCode::ServerIdentifier);
        if let Some(sid) = sid {
            if sid != server && Some(sid) != relay::server_id_override(msg) {
                self.offers.forget(&mac);
                return Decision::Ignore(Skip::OtherServer);
            }
        }
        let (node, learned) = self.node_on(msg, &mac, net);
        // RFC 2131 4.3.2: a server that is not authoritative stays silent
        // to a client it has no record of (INIT-REBOOT, RENEWING and
        // REBINDING name no server): another server may hold its lease.
        let key = client_key(msg, mac);
        let known = node.is_some() || self.world.table::<Lease>().of(&net.name, &key).is_some();
        if sid.is_none() && !net.authoritative && !known {
            return Decision::Ignore(Skip::NotAuthoritative);
        }
        if node.is_none() {
            if let Err(skip) = Self::stranger_allowed(msg, net) {
                return Decision::Ignore(skip);
            }
        }
        let requested =
            opt_ip(msg, OptionCode::RequestedIpAddress).or(Some(msg.ciaddr()).filter(|ip| !ip.is_unspecified()));
        let Some(ip) = requested else {
            return Decision::Ignore(Skip::NoRequestedAddress);
        };
        let nak = |why: &str| Decision::Reply(reply::nak(msg, server, why));
        if !net.subnet.contains(&ip) {
            return nak("address is not on this network");
        }
        let ok = match node.and_then(|n| n.ipv4) {
            Some(static_ip) => static_ip == ip,
            None => {
                net.dynamic.is_some_and(|r| r.contains(ip))
                    && net.assignable(ip)
                    && !lease::taken_by_other(self.world, ip, &key, &mac, self.now)
                    && !self.offers.held_by_other(ip, &mac, self.now)
            }
        };
        if !ok {
            return nak("requested address is not yours");
        }
        let boot = self.boot(msg, mac, net, node, server);
        let host = node.map(|n| host_part(&n.name));
        let hostname = node.map(|n| n.name.clone()).or_else(|| match msg.opts().get(OptionCode::Hostname) {
            Some(DhcpOption::Hostname(h)) => Some(h.clone()),
            _ => None,
        });
        Decision::Commit(Box::new(Commit {
            firmware: node.and_then(|n| self.firmware_news(msg, n)),
            learned,
            lease: Lease {
                ip,
                mac,
                client_id: client_id(msg),
                network: net.name.clone(),
                hostname,
                port: relay::relay_port(msg),
                expires_at: self.now + u64::from(net.lease_seconds),
            },
            ack: reply::answer(
                msg,
                MessageType::Ack,
                ip,
                server,
                reply::Segment { net, dns_servers: &self.dns_servers(net, server) },
                host,
                boot.as_ref(),
            ),
            nak: reply::nak(msg, server, "address was taken meanwhile"),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::{State, StateError};
    use crate::types::range::Range;
    use dhcproto::v4::relay::{RelayCode, RelayInfo};
    use dhcproto::v4::{Architecture, DhcpOption};

    const SERVER: Ipv4Addr = Ipv4Addr::new(10, 9, 0, 1);
    const RELAY: Ipv4Addr = Ipv4Addr::new(10, 9, 0, 254);

    async fn world() -> (tempfile::TempDir, State) {
        crate::dhcp::fixture::world(Network {
            router: Some(SERVER),
            dynamic: Some(Range { start: "10.9.0.100".parse().unwrap(), end: "10.9.0.101".parse().unwrap() }),
            server: Some(SERVER),
            ..crate::dhcp::fixture::network()
        })
        .await
    }

    fn request(mac: u8, kind: MessageType, ipxe: bool) -> Message {
        let mut m = Message::new(
            Ipv4Addr::UNSPECIFIED,
            Ipv4Addr::UNSPECIFIED,
            Ipv4Addr::UNSPECIFIED,
            RELAY,
            &[0x52, 0x54, 0, 0, 0, mac],
        );
        m.opts_mut().insert(DhcpOption::MessageType(kind));
        m.opts_mut().insert(DhcpOption::ClientSystemArchitecture(Architecture::from(0u16)));
        m.opts_mut().insert(DhcpOption::ClassIdentifier(b"PXEClient:Arch:00000:UNDI:002001".to_vec()));
        if ipxe {
            m.opts_mut().insert(DhcpOption::UserClass(b"iPXE".to_vec()));
        }
        m
    }

    fn reply(d: Decision) -> Message {
        match d {
            Decision::Reply(m) => m,
            Decision::Commit(c) => c.ack,
            other => panic!("expected a reply, got {other:?}"),
        }
    }

    fn file(m: &Message) -> Option<String> {
        m.fname().map(|f| String::from_utf8_lossy(f).trim_end_matches('\0').to_string()).filter(|f| !f.is_empty())
    }

    #[tokio::test]
    async fn decisions() {
        let (_dir, state) = world().await;
        let w = state.snapshot();
        let cfg = Config::default();
        let offers = Offers::default();
        let arrival = Arrival::default();
        let ctx = Ctx { world: &w, config: &cfg, offers: &offers, arrival: &arrival, now: 1000 };

        // Unknown PXE ROM: a dynamic address, the BIOS loader, the PXE options.
        let offer = reply(ctx.decide(&request(1, MessageType::Discover, false)));
        assert_eq!(offer.opts().msg_type(), Some(MessageType::Offer));
        assert_eq!(offer.yiaddr(), Ipv4Addr::new(10, 9, 0, 100));
        assert_eq!(offer.siaddr(), SERVER);
        assert_eq!(file(&offer).as_deref(), Some("undionly.kpxe"));
        assert!(
            matches!(offer.opts().get(OptionCode::ServerIdentifier), Some(DhcpOption::ServerIdentifier(ip)) if *ip == SERVER)
        );
        assert!(
            matches!(offer.opts().get(OptionCode::VendorExtensions), Some(DhcpOption::VendorExtensions(v)) if v == &vec![6, 1, 8, 255])
        );
        // A second unknown client is not offered the same address.
        let other = reply(ctx.decide(&request(2, MessageType::Discover, false)));
        assert_eq!(other.yiaddr(), Ipv4Addr::new(10, 9, 0, 101));
        // The pool (2 addresses) is exhausted for a third.
        assert!(matches!(ctx.decide(&request(3, MessageType::Discover, false)), Decision::Ignore(_)));

        // Known node: its static address, its hostname; iPXE gets the script URL.
        let known = reply(ctx.decide(&request(0xaa, MessageType::Discover, true)));
        assert_eq!(known.yiaddr(), Ipv4Addr::new(10, 9, 0, 10));
        assert!(matches!(known.opts().get(OptionCode::Hostname), Some(DhcpOption::Hostname(h)) if h == "known"));
        assert_eq!(file(&known).as_deref(), Some("http://10.9.0.1/boot/ipxe?mac=52:54:00:00:00:aa"));

        // REQUEST for the right address commits a lease before the ACK.
        let mut req = request(1, MessageType::Request, false);
        req.opts_mut().insert(DhcpOption::RequestedIpAddress(Ipv4Addr::new(10, 9, 0, 100)));
        req.opts_mut().insert(DhcpOption::ServerIdentifier(SERVER));
        match ctx.decide(&req) {
            Decision::Commit(c) => {
                assert_eq!(c.lease.ip, Ipv4Addr::new(10, 9, 0, 100));
                assert_eq!(c.lease.expires_at, 1600);
                assert_eq!(c.ack.opts().msg_type(), Some(MessageType::Ack));
            }
            other => panic!("{other:?}"),
        }
        // Someone else's offered address, or an address off the network: NAK.
        let mut steal = request(9, MessageType::Request, false);
        steal.opts_mut().insert(DhcpOption::RequestedIpAddress(Ipv4Addr::new(10, 9, 0, 100)));
        assert_eq!(reply(ctx.decide(&steal)).opts().msg_type(), Some(MessageType::Nak));
        let mut wrong = request(0xaa, MessageType::Request, false);
        wrong.opts_mut().insert(DhcpOption::RequestedIpAddress(Ipv4Addr::new(10, 9, 0, 11)));
        assert_eq!(reply(ctx.decide(&wrong)).opts().msg_type(), Some(MessageType::Nak));
        // The client chose another server: stay silent.
        let mut elsewhere = request(1, MessageType::Request, false);
        elsewhere.opts_mut().insert(DhcpOption::RequestedIpAddress(Ipv4Addr::new(10, 9, 0, 100)));
        elsewhere.opts_mut().insert(DhcpOption::ServerIdentifier(Ipv4Addr::new(10, 9, 0, 2)));
        assert!(matches!(ctx.decide(&elsewhere), Decision::Ignore(_)));
    }

    #[tokio::test]
    async fn local_bootenv_gets_no_boot_file_and_replies_are_padded() {
        let (_dir, state) = world().await;
        crate::dhcp::fixture::edit_node(&state, |n| n.bootenv = "local".into()).await;
        let w = state.snapshot();
        let (cfg, offers, arrival) = (Config::default(), Offers::default(), Arrival::default());
        let ctx = Ctx { world: &w, config: &cfg, offers: &offers, arrival: &arrival, now: 0 };
        let m = reply(ctx.decide(&request(0xaa, MessageType::Discover, false)));
        assert_eq!(file(&m), None);
        assert!(reply::encode(&m).unwrap().len() >= 300);
    }

    /// A protected node boots from its disk whatever its record says.
    #[tokio::test]
    async fn a_protected_node_gets_no_boot_file_whatever_its_bootenv() {
        let (_dir, state) = world().await;
        let w = state.snapshot();
        let (cfg, offers, arrival) = (Config::default(), Offers::default(), Arrival::default());
        let ctx = Ctx { world: &w, config: &cfg, offers: &offers, arrival: &arrival, now: 0 };
        let m = reply(ctx.decide(&request(0xaa, MessageType::Discover, false)));
        assert!(file(&m).is_some(), "the fixture's node boots from the network");
        crate::dhcp::fixture::edit_node(&state, |n| n.protected = true).await;
        let w = state.snapshot();
        let ctx = Ctx { world: &w, config: &cfg, offers: &offers, arrival: &arrival, now: 0 };
        let m = reply(ctx.decide(&request(0xaa, MessageType::Discover, false)));
        assert_eq!(file(&m), None);
    }

    /// UEFI firmware given no boot file retries the network for minutes, so
    /// a UEFI node on `local` gets its loader (and iPXE on UEFI its script
    /// URL): the `local` script exits to the firmware's next boot entry. A
    /// BIOS node gets its address and no boot file.
    #[tokio::test]
    async fn a_uefi_node_on_local_gets_its_loader_and_a_bios_one_nothing() {
        let (_dir, state) = world().await;
        crate::dhcp::fixture::edit_node(&state, |n| n.bootenv = "local".into()).await;
        let w = state.snapshot();
        let (cfg, offers, arrival) = (Config::default(), Offers::default(), Arrival::default());
        let ctx = Ctx { world: &w, config: &cfg, offers: &offers, arrival: &arrival, now: 0 };
        let on = |arch: u16, ipxe: bool| {
            let mut m = request(0xaa, MessageType::Discover, ipxe);
            m.opts_mut().insert(DhcpOption::ClientSystemArchitecture(Architecture::from(arch)));
            ctx.decide(&m)
        };
        assert_eq!(file(&reply(on(7, false))).as_deref(), Some(cfg.dhcp.uefi_x64_loader.as_str()));
        assert_eq!(file(&reply(on(0x0b, false))).as_deref(), Some(cfg.dhcp.uefi_arm64_loader.as_str()));
        assert!(file(&reply(on(7, true))).is_some_and(|f| f.contains("/boot/ipxe?mac=")));
        let mut http = request(0xaa, MessageType::Discover, false);
        http.opts_mut().insert(DhcpOption::ClientSystemArchitecture(Architecture::from(0x10u16)));
        http.opts_mut().insert(DhcpOption::ClassIdentifier(b"HTTPClient:Arch:00016:UNDI:003001".to_vec()));
        let http = reply(ctx.decide(&http));
        assert!(file(&http).is_some_and(|f| f.starts_with("http://") && f.ends_with(&cfg.dhcp.uefi_x64_loader)));
        assert_eq!(file(&reply(on(0, false))), None);
        assert_eq!(file(&reply(on(0, true))), None);
    }

    /// With Debian's signed GRUB installed, x64 UEFI PXE firmware booting
    /// from its disk gets GRUB, whose `local` config chainloads the disk's
    /// loader at once (no detour through the firmware's other network
    /// entries); a network on the Secure Boot chain keeps its shim (which
    /// loads that GRUB), and HTTP boot and iPXE are answered as before.
    #[tokio::test]
    async fn a_uefi_pxe_node_on_local_gets_grub_when_it_is_installed() {
        let (_dir, state) = world().await;
        crate::dhcp::fixture::edit_node(&state, |n| n.bootenv = "local".into()).await;
        let pkg = tempfile::tempdir().unwrap();
        let mut cfg = Config::default();
        cfg.boot.grub_x64 = pkg.path().join("grubnetx64.efi.signed");
        std::fs::write(&cfg.boot.grub_x64, b"grub").unwrap();
        let (offers, arrival) = (Offers::default(), Arrival::default());
        let decide = |state: &crate::state::State, arch: u16, ipxe: bool| {
            let w = state.snapshot();
            let ctx = Ctx { world: &w, config: &cfg, offers: &offers, arrival: &arrival, now: 0 };
            let mut m = request(0xaa, MessageType::Discover, ipxe);
            m.opts_mut().insert(DhcpOption::ClientSystemArchitecture(Architecture::from(arch)));
            file(&reply(ctx.decide(&m)))
        };
        assert_eq!(decide(&state, 7, false).as_deref(), Some("grubx64.efi"));
        assert_eq!(decide(&state, 9, false).as_deref(), Some("grubx64.efi"));
        assert!(decide(&state, 7, true).is_some_and(|f| f.contains("/boot/ipxe?mac=")));
        assert_eq!(decide(&state, 0, false), None);
        // Not on local: the usual loader.
        crate::dhcp::fixture::edit_node(&state, |n| n.bootenv = "discovery".into()).await;
        assert_eq!(decide(&state, 7, false).as_deref(), Some(cfg.dhcp.uefi_x64_loader.as_str()));
        // On the Secure Boot chain: the shim, on local and protected too.
        crate::dhcp::fixture::edit_network(&state, |n| n.uefi_loader = Some("shimx64.efi".into())).await;
        assert_eq!(decide(&state, 7, false).as_deref(), Some("shimx64.efi"));
        crate::dhcp::fixture::edit_node(&state, |n| n.protected = true).await;
        assert_eq!(decide(&state, 7, false).as_deref(), Some("shimx64.efi"));
        // GRUB not installed: a local node gets its loader, as before.
        crate::dhcp::fixture::edit_network(&state, |n| n.uefi_loader = None).await;
        crate::dhcp::fixture::edit_node(&state, |n| n.protected = false).await;
        crate::dhcp::fixture::edit_node(&state, |n| n.bootenv = "local".into()).await;
        std::fs::remove_file(&cfg.boot.grub_x64).unwrap();
        assert_eq!(decide(&state, 7, false).as_deref(), Some(cfg.dhcp.uefi_x64_loader.as_str()));
    }

    #[tokio::test]
    async fn declines_quarantine_only_dynamic_addresses() {
        let (_dir, state) = world().await;
        let w = state.snapshot();
        let (cfg, offers, arrival) = (Config::default(), Offers::default(), Arrival::default());
        let ctx = Ctx { world: &w, config: &cfg, offers: &offers, arrival: &arrival, now: 0 };
        let decline = |ip: &str| {
            let mut m = request(7, MessageType::Decline, false);
            m.opts_mut().insert(DhcpOption::RequestedIpAddress(ip.parse().unwrap()));
            ctx.decide(&m)
        };
        assert!(matches!(decline("10.9.0.100"), Decision::Decline { network, .. } if network == "n"));
        // A node's static address, or one in the static range: not a client's to decline.
        assert!(matches!(decline("10.9.0.10"), Decision::Ignore(_)));
        assert!(matches!(decline("10.9.0.15"), Decision::Ignore(_)));
    }

    fn with_relay_info(mut m: Message, infos: Vec<RelayInfo>) -> Message {
        let mut info = dhcproto::v4::relay::RelayAgentInformation::default();
        for i in infos {
            info.insert(i);
        }
        m.opts_mut().insert(DhcpOption::RelayAgentInformation(info));
        m
    }

    #[tokio::test]
    async fn relay_agent_information_is_echoed_and_its_link_selection_and_server_override_honoured() {
        let (_dir, state) = world().await;
        let w = state.snapshot();
        let (cfg, offers, arrival) = (Config::default(), Offers::default(), Arrival::default());
        let ctx = Ctx { world: &w, config: &cfg, offers: &offers, arrival: &arrival, now: 0 };
        let over = Ipv4Addr::new(10, 9, 0, 254);
        let info = vec![
            RelayInfo::AgentCircuitId(b"sw1/port7".to_vec()),
            RelayInfo::AgentRemoteId(b"sw1".to_vec()),
            RelayInfo::ServerIdentifierOverride(over),
        ];
        let offer = reply(ctx.decide(&with_relay_info(request(1, MessageType::Discover, false), info.clone())));
        let Some(DhcpOption::RelayAgentInformation(echoed)) = offer.opts().get(OptionCode::RelayAgentInformation)
        else {
            panic!("option 82 not echoed: {offer:?}")
        };
        assert_eq!(echoed.get(RelayCode::AgentCircuitId), Some(&RelayInfo::AgentCircuitId(b"sw1/port7".to_vec())));
        // RFC 5107: the client sees the relay's address as the server, and
        // its REQUEST naming that address is ours; the TFTP server is still us.
        assert_eq!(opt_ip(&offer, OptionCode::ServerIdentifier), Some(over));
        assert_eq!(offer.siaddr(), SERVER);
        let mut req = with_relay_info(request(1, MessageType::Request, false), info.clone());
        req.opts_mut().insert(DhcpOption::RequestedIpAddress(offer.yiaddr()));
        req.opts_mut().insert(DhcpOption::ServerIdentifier(over));
        assert!(matches!(ctx.decide(&req), Decision::Commit(_)));
        // A NAK echoes it too.
        let mut wrong = with_relay_info(request(0xaa, MessageType::Request, false), info);
        wrong.opts_mut().insert(DhcpOption::RequestedIpAddress(Ipv4Addr::new(10, 9, 0, 11)));
        let nak = reply(ctx.decide(&wrong));
        assert_eq!(nak.opts().msg_type(), Some(MessageType::Nak));
        assert!(nak.opts().get(OptionCode::RelayAgentInformation).is_some());

        // RFC 3527: the link selection names the network, whatever giaddr is.
        let mut far = request(1, MessageType::Discover, false);
        far.set_giaddr(Ipv4Addr::new(192, 0, 2, 1));
        assert!(matches!(ctx.decide(&far), Decision::Ignore(Skip::NoNetwork)));
        let selected = with_relay_info(far.clone(), vec![RelayInfo::LinkSelection(Ipv4Addr::new(10, 9, 0, 0))]);
        assert_eq!(reply(ctx.decide(&selected)).opts().msg_type(), Some(MessageType::Offer));
        let nowhere = with_relay_info(far, vec![RelayInfo::LinkSelection(Ipv4Addr::new(192, 0, 2, 0))]);
        assert!(matches!(ctx.decide(&nowhere), Decision::Ignore(Skip::NoNetwork)));
        // Found in review: without giaddr the option comes from the client
        // itself, and neither its link selection nor its override counts.
        let mut direct = request(3, MessageType::Discover, false);
        direct.set_giaddr(Ipv4Addr::UNSPECIFIED);
        let direct = with_relay_info(
            direct,
            vec![RelayInfo::LinkSelection(Ipv4Addr::new(192, 0, 2, 0)), RelayInfo::ServerIdentifierOverride(over)],
        );
        let offer = reply(ctx.decide(&direct));
        assert_eq!(offer.opts().msg_type(), Some(MessageType::Offer), "the only network, not 192.0.2.0");
        assert_eq!(opt_ip(&offer, OptionCode::ServerIdentifier), Some(SERVER));
    }

    #[tokio::test]
    async fn a_node_reserved_on_a_switch_port_is_the_machine_a_relay_reports_there() {
        use crate::types::port::{AgentId, SwitchPort};
        let (_dir, state) = world().await;
        crate::dhcp::fixture::reserve_port(&state).await;
        // Another node, whose MAC is known: plugged into that port it stays itself.
        state
            .write(|t| {
                let mut other = (**t.world().table::<Node>().get("known.t.test").unwrap()).clone();
                other.name = "other.t.test".into();
                other.macs = vec!["52:54:00:00:00:bb".parse().unwrap()];
                other.ipv4 = Some(Ipv4Addr::new(10, 9, 0, 11));
                other.port = None;
                t.put(other)
            })
            .await
            .unwrap();
        let w = state.snapshot();
        let mut cfg = Config::default();
        cfg.dhcp.trusted_relays = vec!["10.9.0.254/32".parse().unwrap()];
        let (offers, arrival) = (Offers::default(), Arrival { src: Some(RELAY.into()), ..Arrival::default() });
        let ctx = Ctx { world: &w, config: &cfg, offers: &offers, arrival: &arrival, now: 0 };
        let port = |circuit: &[u8], remote: &[u8]| {
            vec![RelayInfo::AgentCircuitId(circuit.to_vec()), RelayInfo::AgentRemoteId(remote.to_vec())]
        };
        let node_ip = Ipv4Addr::new(10, 9, 0, 10);

        // A new motherboard (a MAC no node has) in the reserved port: the
        // node's address and name, and its MAC is learned with the lease.
        let offer = reply(
            ctx.decide(&with_relay_info(request(0x42, MessageType::Discover, false), port(b"Gi1/0/7", b"leaf-3"))),
        );
        assert_eq!(offer.yiaddr(), node_ip);
        assert!(matches!(offer.opts().get(OptionCode::Hostname), Some(DhcpOption::Hostname(h)) if h == "known"));
        let mut req = with_relay_info(request(0x42, MessageType::Request, false), port(b"Gi1/0/7", b"leaf-3"));
        req.opts_mut().insert(DhcpOption::RequestedIpAddress(node_ip));
        let Decision::Commit(c) = ctx.decide(&req) else { panic!("no commit") };
        let Commit { lease, learned, .. } = *c;
        let new_mac: Mac = "52:54:00:00:00:42".parse().unwrap();
        assert_eq!(learned, Some(Learned { node: "known.t.test".into(), mac: new_mac }));
        assert_eq!(lease.ip, node_ip);
        // Committed as the server does it: the MAC first, then the lease.
        state
            .write(move |t| {
                crate::inventory::node::learn_mac(t, "known.t.test", new_mac)?;
                Ok::<_, anyhow::Error>(lease::put(t, lease, 0)?)
            })
            .await
            .unwrap();
        let after = state.snapshot();
        assert_eq!(after.table::<Node>().by_mac(&new_mac).map(|n| n.name.as_str()), Some("known.t.test"));
        assert_eq!(after.table::<Lease>().get(&node_ip).map(|l| l.mac), Some(new_mac));

        // From a relay that is not trusted: dropped, whatever it says.
        let untrusted = Arrival { src: Some(Ipv4Addr::new(10, 9, 0, 253).into()), ..Arrival::default() };
        let ctx_untrusted = Ctx { arrival: &untrusted, ..ctx };
        let mut stranger = with_relay_info(request(0x46, MessageType::Request, false), port(b"Gi1/0/7", b"leaf-3"));
        stranger.opts_mut().insert(DhcpOption::RequestedIpAddress(node_ip));
        assert!(matches!(ctx_untrusted.decide(&stranger), Decision::Ignore(Skip::UntrustedRelay)));
        // With no trusted relays configured, relays are served but a port names nobody.
        let anyone = Config::default();
        let ctx_anyone = Ctx { config: &anyone, ..ctx_untrusted };
        assert_eq!(reply(ctx_anyone.decide(&stranger)).opts().msg_type(), Some(MessageType::Nak));
        // A client itself (no giaddr) is never a relay: served from anywhere.
        let mut own = request(0xbb, MessageType::Discover, false);
        own.set_giaddr(Ipv4Addr::UNSPECIFIED);
        assert_eq!(reply(ctx_untrusted.decide(&own)).opts().msg_type(), Some(MessageType::Offer));
        // The same circuit-id on another switch, or named by the client
        // itself (no giaddr: not from a relay): a stranger.
        let elsewhere = reply(
            ctx.decide(&with_relay_info(request(0x43, MessageType::Discover, false), port(b"Gi1/0/7", b"leaf-4"))),
        );
        assert_ne!(elsewhere.yiaddr(), node_ip);
        let mut direct = with_relay_info(request(0x44, MessageType::Discover, false), port(b"Gi1/0/7", b"leaf-3"));
        direct.set_giaddr(Ipv4Addr::UNSPECIFIED);
        assert_ne!(reply(ctx.decide(&direct)).yiaddr(), node_ip);
        // A known machine in the port is itself, and nothing is learned.
        let mut known = with_relay_info(request(0xbb, MessageType::Request, false), port(b"Gi1/0/7", b"leaf-3"));
        known.opts_mut().insert(DhcpOption::RequestedIpAddress(Ipv4Addr::new(10, 9, 0, 11)));
        assert!(matches!(ctx.decide(&known), Decision::Commit(c) if c.learned.is_none()));
        // A reservation without a remote-id matches that circuit from any relay.
        crate::dhcp::fixture::edit_node(&state, |n| {
            n.port = Some(SwitchPort { circuit_id: AgentId::parse("hex:00:07").unwrap(), remote_id: None })
        })
        .await;
        let w = state.snapshot();
        let ctx = Ctx { world: &w, config: &cfg, offers: &offers, arrival: &arrival, now: 0 };
        let any =
            reply(ctx.decide(&with_relay_info(request(0x45, MessageType::Discover, false), port(&[0, 7], b"leaf-9"))));
        assert_eq!(any.yiaddr(), node_ip);
    }

    fn uefi(mut m: Message) -> Message {
        m.opts_mut().insert(DhcpOption::ClientSystemArchitecture(Architecture::from(7u16)));
        m.opts_mut().insert(DhcpOption::ClassIdentifier(b"PXEClient:Arch:00007:UNDI:003016".to_vec()));
        m
    }

    fn vendor_class(m: &Message) -> Option<&[u8]> {
        match m.opts().get(OptionCode::ClassIdentifier) {
            Some(DhcpOption::ClassIdentifier(v)) => Some(v),
            _ => None,
        }
    }

    #[tokio::test]
    async fn a_proxy_network_gives_network_boot_clients_the_boot_part_only() {
        let (_dir, state) = world().await;
        crate::dhcp::fixture::edit_network(&state, |n| {
            n.dhcp = DhcpMode::Proxy;
            n.dynamic = None;
        })
        .await;
        let w = state.snapshot();
        let (cfg, offers, arrival) = (Config::default(), Offers::default(), Arrival::default());
        let ctx = Ctx { world: &w, config: &cfg, offers: &offers, arrival: &arrival, now: 0 };

        // A BIOS PXE ROM: an OFFER with no address and no addressing, the
        // loader, option 60 (what makes it a proxy offer) and 43 (boot the
        // file, no boot-server discovery).
        let bios = reply(ctx.decide(&request(1, MessageType::Discover, false)));
        assert_eq!(bios.opts().msg_type(), Some(MessageType::Offer));
        assert_eq!((bios.yiaddr(), bios.siaddr()), (Ipv4Addr::UNSPECIFIED, SERVER));
        assert_eq!(file(&bios).as_deref(), Some("undionly.kpxe"));
        assert_eq!(vendor_class(&bios), Some(&b"PXEClient"[..]));
        assert!(
            matches!(bios.opts().get(OptionCode::VendorExtensions), Some(DhcpOption::VendorExtensions(v)) if v == &vec![6, 1, 8, 255])
        );
        for code in [OptionCode::SubnetMask, OptionCode::Router, OptionCode::AddressLeaseTime, OptionCode::DomainName] {
            assert!(bios.opts().get(code).is_none(), "{code:?} in a proxy offer");
        }
        assert_eq!(opt_ip(&bios, OptionCode::ServerIdentifier), Some(SERVER));
        // iPXE: its script, with PXE options so that it asks no further.
        let ipxe = reply(ctx.decide(&request(1, MessageType::Discover, true)));
        assert!(file(&ipxe).is_some_and(|f| f.ends_with("/boot/ipxe?mac=52:54:00:00:00:01")), "{ipxe:?}");
        assert_eq!(vendor_class(&ipxe), Some(&b"PXEClient"[..]));
        assert!(ipxe.opts().get(OptionCode::VendorExtensions).is_some());
        // UEFI PXE: the loader and no discovery control: it asks the boot
        // server (4011) next, as its firmware does after a proxy offer.
        let efi = reply(ctx.decide(&uefi(request(1, MessageType::Discover, false))));
        assert_eq!(file(&efi).as_deref(), Some("snponly.efi"));
        assert!(efi.opts().get(OptionCode::VendorExtensions).is_none());
        // Never an address: a REQUEST naming us gets the boot part in an
        // ACK (some Intel ROMs send one), not a lease; one naming the
        // site's server, or an OS's DHCP client, gets nothing.
        let mut ours = request(1, MessageType::Request, false);
        ours.opts_mut().insert(DhcpOption::ServerIdentifier(SERVER));
        let ack = reply(ctx.decide(&ours));
        assert_eq!((ack.opts().msg_type(), ack.yiaddr()), (Some(MessageType::Ack), Ipv4Addr::UNSPECIFIED));
        let mut theirs = request(1, MessageType::Request, false);
        theirs.opts_mut().insert(DhcpOption::ServerIdentifier(Ipv4Addr::new(10, 9, 0, 2)));
        theirs.opts_mut().insert(DhcpOption::RequestedIpAddress(Ipv4Addr::new(10, 9, 0, 150)));
        assert!(matches!(ctx.decide(&theirs), Decision::Ignore(Skip::OtherServer)));
        let mut os = request(2, MessageType::Discover, false);
        os.opts_mut().remove(OptionCode::ClassIdentifier);
        os.opts_mut().remove(OptionCode::ClientSystemArchitecture);
        assert!(matches!(ctx.decide(&os), Decision::Ignore(Skip::NotBooting)));
        let mut reboot = request(0xaa, MessageType::Request, false);
        reboot.opts_mut().insert(DhcpOption::RequestedIpAddress(Ipv4Addr::new(10, 9, 0, 77)));
        assert!(matches!(ctx.decide(&reboot), Decision::Ignore(_)), "no NAK on a network Fulcrum does not address");
        // A node that boots from disk: silence, so its firmware goes on to the disk.
        crate::dhcp::fixture::edit_node(&state, |n| n.bootenv = "local".into()).await;
        let w = state.snapshot();
        let ctx = Ctx { world: &w, ..ctx };
        assert!(matches!(
            ctx.decide(&request(0xaa, MessageType::Discover, false)),
            Decision::Ignore(Skip::NothingToBoot)
        ));
    }

    #[tokio::test]
    async fn a_chosen_pxelinux_boots_bios_firmware_and_ipxe_on_bios_alike() {
        let (_dir, state) = world().await;
        // (BIOS PXE, iPXE on BIOS, iPXE on UEFI) for the node (0xaa).
        let files = |state: &State, mac: u8| {
            let w = state.snapshot();
            let (cfg, offers, arrival) = (Config::default(), Offers::default(), Arrival::default());
            let ctx = Ctx { world: &w, config: &cfg, offers: &offers, arrival: &arrival, now: 0 };
            let mut ipxe_uefi = uefi(request(mac, MessageType::Discover, true));
            ipxe_uefi.opts_mut().insert(DhcpOption::UserClass(b"iPXE".to_vec()));
            (
                file(&reply(ctx.decide(&request(mac, MessageType::Discover, false)))),
                file(&reply(ctx.decide(&request(mac, MessageType::Discover, true)))),
                file(&reply(ctx.decide(&ipxe_uefi))),
            )
        };
        let script = |mac: &str| Some(format!("http://10.9.0.1/boot/ipxe?mac={mac}"));
        let node = "52:54:00:00:00:aa";
        assert_eq!(files(&state, 0xaa), (Some("undionly.kpxe".into()), script(node), script(node)));
        // Another iPXE loader chosen: iPXE still gets its script (no loop).
        crate::dhcp::fixture::edit_network(&state, |n| n.bios_loader = Some("ipxe.pxe".into())).await;
        assert_eq!(files(&state, 0xaa), (Some("ipxe.pxe".into()), script(node), script(node)));
        // PXELINUX chosen by the network: BIOS firmware and iPXE on BIOS
        // load it, as PXE firmware (option 60 and 43); UEFI is untouched.
        crate::dhcp::fixture::edit_network(&state, |n| n.bios_loader = Some("lpxelinux.0".into())).await;
        let lpx = Some("lpxelinux.0".to_string());
        assert_eq!(files(&state, 0xaa), (lpx.clone(), lpx.clone(), script(node)));
        assert_eq!(files(&state, 7).0, lpx, "a stranger on the network too");
        {
            let w = state.snapshot();
            let (cfg, offers, arrival) = (Config::default(), Offers::default(), Arrival::default());
            let ctx = Ctx { world: &w, config: &cfg, offers: &offers, arrival: &arrival, now: 0 };
            let offer = reply(ctx.decide(&request(0xaa, MessageType::Discover, true)));
            assert_eq!(vendor_class(&offer), Some(&b"PXEClient"[..]));
        }
        // The node's own choice wins; protected, it gets the configured one.
        crate::dhcp::fixture::edit_node(&state, |n| n.bios_loader = Some("pxelinux.0".into())).await;
        assert_eq!(files(&state, 0xaa).1.as_deref(), Some("pxelinux.0"));
        crate::dhcp::fixture::edit_node(&state, |n| n.protected = true).await;
        let protected = files(&state, 0xaa);
        assert_eq!(protected.0, None, "protected BIOS firmware goes on to its disk");
        assert_eq!(protected.1, None, "and so does iPXE on BIOS, PXELINUX chosen or not");
        crate::dhcp::fixture::edit_node(&state, |n| n.protected = false).await;
        crate::dhcp::fixture::edit_node(&state, |n| n.bios_loader = None).await;
        crate::dhcp::fixture::edit_network(&state, |n| n.bios_loader = None).await;
        assert_eq!(files(&state, 0xaa), (Some("undionly.kpxe".into()), script(node), script(node)));
    }

    #[tokio::test]
    async fn the_uefi_loader_is_chosen_by_node_then_network_then_config() {
        let (_dir, state) = world().await;
        let loader = |state: &State, mac: u8| {
            let w = state.snapshot();
            let (cfg, offers, arrival) = (Config::default(), Offers::default(), Arrival::default());
            let ctx = Ctx { world: &w, config: &cfg, offers: &offers, arrival: &arrival, now: 0 };
            (
                file(&reply(ctx.decide(&uefi(request(mac, MessageType::Discover, false))))),
                file(&reply(ctx.decide(&request(mac, MessageType::Discover, false)))),
            )
        };
        assert_eq!(loader(&state, 0xaa), (Some("snponly.efi".into()), Some("undionly.kpxe".into())));
        crate::dhcp::fixture::edit_network(&state, |n| n.uefi_loader = Some("ipxe.efi".into())).await;
        assert_eq!(loader(&state, 0xaa).0.as_deref(), Some("ipxe.efi"), "the network's");
        assert_eq!(loader(&state, 7).0.as_deref(), Some("ipxe.efi"), "a stranger on it too");
        crate::dhcp::fixture::edit_node(&state, |n| n.uefi_loader = Some("x86_64/snp.efi".into())).await;
        assert_eq!(loader(&state, 0xaa), (Some("x86_64/snp.efi".into()), Some("undionly.kpxe".into())), "the node's");
    }

    #[tokio::test]
    async fn the_boot_server_on_4011_gives_uefi_pxe_its_loader() {
        let (_dir, state) = world().await;
        let w = state.snapshot();
        let (cfg, offers) = (Config::default(), Offers::default());
        let arrival = Arrival { boot_server: true, ..Arrival::default() };
        let ctx = Ctx { world: &w, config: &cfg, offers: &offers, arrival: &arrival, now: 0 };
        // What OVMF sends after an answer with option 60 and no option 43:
        // a REQUEST from its address, to the server, not relayed.
        let asking = |kind: MessageType| {
            let mut m = uefi(request(1, kind, false));
            m.set_giaddr(Ipv4Addr::UNSPECIFIED);
            m.set_ciaddr(Ipv4Addr::new(10, 9, 0, 100));
            m.opts_mut().insert(DhcpOption::ClientMachineIdentifier(vec![0; 17]));
            m
        };
        let ack = reply(ctx.decide(&asking(MessageType::Request)));
        assert_eq!(ack.opts().msg_type(), Some(MessageType::Ack));
        assert_eq!(
            (ack.yiaddr(), ack.ciaddr(), ack.siaddr()),
            (Ipv4Addr::UNSPECIFIED, Ipv4Addr::new(10, 9, 0, 100), SERVER)
        );
        assert_eq!(file(&ack).as_deref(), Some("snponly.efi"));
        assert_eq!(vendor_class(&ack), Some(&b"PXEClient"[..]));
        assert!(ack.opts().get(OptionCode::ClientMachineIdentifier).is_some(), "97 echoed");
        assert!(ack.opts().get(OptionCode::AddressLeaseTime).is_none());
        // Only requests for the boot file are served there.
        assert!(matches!(ctx.decide(&asking(MessageType::Discover)), Decision::Ignore(Skip::TypeNotServed)));
        let mut os = asking(MessageType::Request);
        os.opts_mut().remove(OptionCode::ClassIdentifier);
        os.opts_mut().remove(OptionCode::ClientSystemArchitecture);
        assert!(matches!(ctx.decide(&os), Decision::Ignore(Skip::NotBooting)));
    }

    #[tokio::test]
    async fn a_network_that_is_not_authoritative_is_silent_to_strangers_in_init_reboot() {
        let (_dir, state) = world().await;
        let (cfg, offers, arrival) = (Config::default(), Offers::default(), Arrival::default());
        // INIT-REBOOT: option 50, no server identifier, for an address here.
        let reboot = |mac: u8, ip: [u8; 4]| {
            let mut m = request(mac, MessageType::Request, false);
            m.opts_mut().insert(DhcpOption::RequestedIpAddress(Ipv4Addr::from(ip)));
            m
        };
        {
            let w = state.snapshot();
            let ctx = Ctx { world: &w, config: &cfg, offers: &offers, arrival: &arrival, now: 0 };
            // Authoritative (the default): a stranger asking for a static-range address is told no.
            assert_eq!(reply(ctx.decide(&reboot(5, [10, 9, 0, 15]))).opts().msg_type(), Some(MessageType::Nak));
        }
        state
            .write(|t| {
                let mut n = (**t.world().table::<Network>().get("n").unwrap()).clone();
                n.authoritative = false;
                t.put(n)?;
                lease::put(
                    t,
                    Lease {
                        ip: Ipv4Addr::new(10, 9, 0, 100),
                        mac: Mac([0x52, 0x54, 0, 0, 0, 6]),
                        client_id: None,
                        network: "n".into(),
                        hostname: None,
                        port: None,
                        expires_at: 10_000,
                    },
                    0,
                )
                .map_err(|e| match e {
                    lease::LeaseError::State(s) => s,
                    other => panic!("{other}"),
                })?;
                Ok::<_, StateError>(())
            })
            .await
            .unwrap();
        let w = state.snapshot();
        let ctx = Ctx { world: &w, config: &cfg, offers: &offers, arrival: &arrival, now: 0 };
        // A stranger: silence (another server may hold its lease).
        assert!(matches!(ctx.decide(&reboot(5, [10, 9, 0, 15])), Decision::Ignore(Skip::NotAuthoritative)));
        // A client with a lease here asking for another address: NAK.
        assert_eq!(reply(ctx.decide(&reboot(6, [10, 9, 0, 15]))).opts().msg_type(), Some(MessageType::Nak));
        // ... and for its own: ACK. A known node is never a stranger.
        assert!(matches!(ctx.decide(&reboot(6, [10, 9, 0, 100])), Decision::Commit(_)));
        assert!(matches!(ctx.decide(&reboot(0xaa, [10, 9, 0, 10])), Decision::Commit(_)));
    }

    #[tokio::test]
    async fn a_client_identifier_names_the_client_before_its_mac() {
        let (_dir, state) = world().await;
        let (cfg, arrival) = (Config::default(), Arrival::default());
        let with_id = |m: u8, kind: MessageType, id: &[u8]| {
            let mut r = request(m, kind, false);
            r.opts_mut().insert(DhcpOption::ClientIdentifier(id.to_vec()));
            r
        };
        let bind = |req: Message| {
            let state = state.clone();
            async move {
                let w = state.snapshot();
                let offers = Offers::default();
                let ctx = Ctx {
                    world: &w,
                    config: &Config::default(),
                    offers: &offers,
                    arrival: &Arrival::default(),
                    now: 0,
                };
                let Decision::Commit(c) = ctx.decide(&req) else { panic!("not committed: {req:?}") };
                let lease = c.lease;
                let ip = lease.ip;
                state.write(move |t| lease::put(t, lease, 0)).await.unwrap();
                ip
            }
        };
        // Two operating systems on one NIC (one MAC), each with its own
        // client identifier: two leases, one each.
        let mut a = with_id(1, MessageType::Request, b"\x01os-a");
        a.opts_mut().insert(DhcpOption::RequestedIpAddress(Ipv4Addr::new(10, 9, 0, 100)));
        let ip_a = bind(a).await;
        let w = state.snapshot();
        let offers = Offers::default();
        let ctx = Ctx { world: &w, config: &cfg, offers: &offers, arrival: &arrival, now: 0 };
        let offer_b = reply(ctx.decide(&with_id(1, MessageType::Discover, b"\x01os-b")));
        assert_ne!(offer_b.yiaddr(), ip_a, "the other identifier does not get os-a's address");
        // The same identifier behind another MAC (a NIC swapped): its lease.
        let moved = reply(ctx.decide(&with_id(7, MessageType::Discover, b"\x01os-a")));
        assert_eq!(moved.yiaddr(), ip_a);
        // A RELEASE from the same MAC with the other identifier leaves it.
        let mut rel = with_id(1, MessageType::Release, b"\x01os-b");
        rel.set_ciaddr(ip_a);
        let Decision::Release { ip, client } = ctx.decide(&rel) else { panic!() };
        state.write(move |t| lease::release(t, ip, &client)).await.unwrap();
        assert!(state.snapshot().table::<Lease>().get(&ip_a).is_some(), "released by a client that does not hold it");
        let mut rel = with_id(1, MessageType::Release, b"\x01os-a");
        rel.set_ciaddr(ip_a);
        let Decision::Release { ip, client } = ctx.decide(&rel) else { panic!() };
        state.write(move |t| lease::release(t, ip, &client)).await.unwrap();
        assert!(state.snapshot().table::<Lease>().get(&ip_a).is_none());
    }

    #[tokio::test]
    async fn a_nodes_firmware_uuid_and_architecture_are_recorded_when_they_change() {
        let (_dir, state) = world().await;
        let mut uuid = vec![0u8];
        uuid.extend(1..=16u8);
        let req = |arch: u16| {
            let mut m = request(0xaa, MessageType::Request, true);
            m.opts_mut().insert(DhcpOption::RequestedIpAddress(Ipv4Addr::new(10, 9, 0, 10)));
            m.opts_mut().insert(DhcpOption::ClientMachineIdentifier(uuid.clone()));
            m.opts_mut().insert(DhcpOption::ClientSystemArchitecture(Architecture::from(arch)));
            m
        };
        let decide = |m: &Message| {
            let w = state.snapshot();
            let (cfg, offers, arrival) = (Config::default(), Offers::default(), Arrival::default());
            let ctx = Ctx { world: &w, config: &cfg, offers: &offers, arrival: &arrival, now: 5 };
            match ctx.decide(m) {
                Decision::Commit(c) => c.firmware,
                other => panic!("{other:?}"),
            }
        };
        let first = decide(&req(0)).expect("recorded the first time");
        assert_eq!(first.uuid.as_deref(), Some("01020304-0506-0708-090a-0b0c0d0e0f10"));
        assert_eq!(first.arch, Some(0));
        state.write(move |t| firmware::record(t, first)).await.unwrap();
        assert!(decide(&req(0)).is_none(), "the same again is not written again");
        // The machine was switched to UEFI: recorded anew.
        assert_eq!(decide(&req(7)).and_then(|f| f.arch), Some(7));
        // A stranger's firmware is nobody's to record.
        let mut stranger = request(9, MessageType::Request, true);
        stranger.opts_mut().insert(DhcpOption::RequestedIpAddress(Ipv4Addr::new(10, 9, 0, 100)));
        assert!(decide(&stranger).is_none());
    }

    #[tokio::test]
    async fn unknown_client_policy_serves_nodes_always_and_strangers_as_the_network_says() {
        let (_dir, state) = world().await;
        let (cfg, arrival) = (Config::default(), Arrival::default());
        // A plain OS client (no PXE options), the discovery agent, a PXE ROM.
        let plain = || {
            let mut m = request(1, MessageType::Discover, false);
            m.opts_mut().remove(OptionCode::ClassIdentifier);
            m.opts_mut().remove(OptionCode::ClientSystemArchitecture);
            m
        };
        let agent = || {
            let mut m = plain();
            m.opts_mut().insert(DhcpOption::ClassIdentifier(b"fulcrum-discovery".to_vec()));
            m
        };
        let pxe = || request(2, MessageType::Discover, false);
        let node = || request(0xaa, MessageType::Discover, false);
        for (policy, want) in [
            (UnknownClients::Serve, [true, true, true, true]),
            (UnknownClients::Discovery, [false, true, true, true]),
            (UnknownClients::Ignore, [false, false, false, true]),
        ] {
            crate::dhcp::fixture::edit_network(&state, move |n| n.unknown_clients = policy).await;
            let w = state.snapshot();
            let offers = Offers::default();
            let ctx = Ctx { world: &w, config: &cfg, offers: &offers, arrival: &arrival, now: 0 };
            let got: Vec<bool> =
                [plain(), agent(), pxe(), node()].iter().map(|m| matches!(ctx.decide(m), Decision::Reply(_))).collect();
            assert_eq!(got, want, "{policy:?}: plain, agent, PXE, node");
        }
    }

    #[test]
    fn malformed_datagrams_do_not_parse_or_panic() {
        use super::super::server::parse;
        assert!(parse(&[]).is_none());
        assert!(parse(&[1, 1, 6, 0]).is_none());
        // A valid header with a truncated option 94 (length 1 instead of 3).
        let mut good = Vec::new();
        use dhcproto::{Encodable, Encoder};
        request(1, MessageType::Discover, false).encode(&mut Encoder::new(&mut good)).unwrap();
        let end = good.iter().rposition(|b| *b == 255).unwrap();
        let mut bad = good[..end].to_vec();
        bad.extend_from_slice(&[94, 1, 1, 255]);
        let _ = parse(&bad);
        for cut in [10, 100, 236, 240, good.len() - 3] {
            let _ = parse(&good[..cut]);
        }
    }
}
