//! Entry points for the fuzz targets in `fuzz/` (cargo-fuzz builds the
//! crate with `--cfg fuzzing`) and for the bounded pass in the unit tests.
//! Each takes bytes as they come off the network, runs them through what
//! the server does with them, against one shared fixture world (networks,
//! nodes with tokens, the shipped bootenvs, a file root with a symlink
//! out), and checks what must hold of the answer. A panic or a failed check
//! is a finding.
//!
//! - [`dhcp4`]: a DHCPv4 datagram, decoded, decided, and the reply encoded
//!   as the server sends it.
//! - [`dhcp6`]: a DHCPv6 datagram (relayed or not), unwrapped, decoded,
//!   decided, and the answer encoded and wrapped as the server sends it.
//! - [`tftp`]: a TFTP datagram, split as RFC 1350 and 2347 say (the way
//!   async-tftp hands the file name to the handler), then resolved under
//!   the TFTP root.
//! - [`boot_http`]: an HTTP request to the boot routes (target, Host, the
//!   peer it comes from), through the real router.
//! - [`dns`]: a DNS message as it arrives over UDP, parsed as
//!   hickory-server parses it and answered by Fulcrum's request handler
//!   (TSIG check, transfers, zones, forwarding refusal), the answer encoded
//!   as the server sends it.

use std::cell::Cell;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Once, OnceLock};

use axum::extract::ConnectInfo;
use axum::Router;
use dhcproto::v4::{Message, MessageType, OptionCode};
use dhcproto::{Decodable, Decoder, Encodable, Encoder};
use tower::ServiceExt;

use crate::boot::http::{BootSettings, BootState};
use crate::boot::tftp::RootHandler;
use crate::config::Config;
use crate::dhcp::v4::handler::{Arrival, Ctx, Decision};
use crate::dhcp::v4::offers::Offers;
use crate::dhcp::v4::server::{destination, parse};
use crate::inventory::bootenv::shipped;
use crate::inventory::network::Network;
use crate::inventory::node::Node;
use crate::state::{State, StateError};
use crate::types::range::Range;
use crate::types::secret::Secret;

/// The admin node's address on the fixture's relayed network.
const SERVER: Ipv4Addr = Ipv4Addr::new(10, 9, 0, 1);
/// What is outside every served root; no answer may carry it.
const SECRET: &[u8] = b"FUZZ-SECRET-OUTSIDE-THE-ROOT";
/// The fixture nodes: name, MAC, static address, token.
const NODES: [(&str, &str, Option<Ipv4Addr>, &str); 3] = [
    ("a.t.test", "52:54:00:00:00:aa", Some(Ipv4Addr::new(10, 9, 0, 10)), "token-of-node-a-0123456789"),
    ("b.t.test", "52:54:00:00:00:bb", Some(Ipv4Addr::new(10, 9, 0, 11)), "token-of-node-b-0123456789"),
    ("c.t.test", "52:54:00:00:00:cc", None, "token-of-node-c-0123456789"),
];

/// What every target runs against, built once per process.
struct Fixture {
    _dir: tempfile::TempDir,
    rt: tokio::runtime::Runtime,
    state: State,
    config: Config,
    arrival: Arrival,
    tftp: RootHandler,
    tftp_root: PathBuf,
    dns: Arc<crate::dns::server::Dns>,
    boot: Router,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| build().unwrap_or_else(|e| panic!("the fuzz fixture cannot be built: {e:#}")))
}

fn network(name: &str, id: u16, net: &str, server: Ipv4Addr, dynamic: (&str, &str), fixed: (&str, &str)) -> Network {
    Network {
        name: name.into(),
        id,
        subnet: net.parse().expect("fixture subnet"),
        router: Some(server),
        dynamic: Some(Range { start: dynamic.0.parse().expect("fixture"), end: dynamic.1.parse().expect("fixture") }),
        static_range: Range { start: fixed.0.parse().expect("fixture"), end: fixed.1.parse().expect("fixture") },
        domain: "t.test".into(),
        dns_servers: vec![server],
        // The relayed network's /64 is fixed, so that the relay seeds'
        // link address lands in it.
        v6prefix: (id == 1)
            .then(|| crate::inventory::network::V6Prefix::Explicit("fd00:0:0:1::/64".parse().expect("fixture prefix"))),
        ra: Default::default(),
        slaac: false,
        authoritative: true,
        unknown_clients: Default::default(),
        dhcp: Default::default(),
        uefi_loader: None,
        bios_loader: None,
        interface: None,
        server: Some(server),
        lease_seconds: 600,
        mtu: 1500,
    }
}

fn build() -> anyhow::Result<Fixture> {
    let dir = tempfile::tempdir()?;
    let files = dir.path().join("files");
    let loaders = dir.path().join("loaders");
    for d in [&files, &loaders] {
        std::fs::create_dir_all(d.join("sub"))?;
        std::fs::write(d.join("sub/kernel"), b"a kernel")?;
        std::os::unix::fs::symlink(dir.path().join("secret"), d.join("out"))?;
        // TFTP follows root's own links out of its root: this one is planted.
        if std::fs::metadata("/proc/self").is_ok_and(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0) {
            std::os::unix::fs::lchown(d.join("out"), Some(65534), Some(65534))?;
        }
        std::os::unix::fs::symlink(d.join("sub/kernel"), d.join("in"))?;
    }
    std::fs::write(loaders.join("undionly.kpxe"), b"a loader")?;
    std::fs::write(dir.path().join("secret"), SECRET)?;

    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let state = State::open_dir(&dir.path().join("data"), crate::server::schema())?;
    let envs = shipped()?;
    rt.block_on(state.write(move |t| {
        for env in envs {
            t.put(env)?;
        }
        t.put(network("relayed", 1, "10.9.0.0/24", SERVER, ("10.9.0.100", "10.9.0.120"), ("10.9.0.10", "10.9.0.20")))?;
        // Another server's addresses: proxyDHCP only.
        let site = network("site", 3, "10.7.0.0/24", SERVER, ("10.7.0.100", "10.7.0.101"), ("10.7.0.10", "10.7.0.20"));
        t.put(Network { dhcp: crate::inventory::network::DhcpMode::Proxy, dynamic: None, ..site })?;
        let local = Ipv4Addr::new(10, 8, 0, 1);
        t.put(network("local", 2, "10.8.0.0/24", local, ("10.8.0.100", "10.8.0.101"), ("10.8.0.10", "10.8.0.20")))?;
        for (i, (name, mac, ipv4, token)) in NODES.into_iter().enumerate() {
            t.put(Node {
                network: Some("relayed".into()),
                ipv4,
                port: (i == 1).then(|| crate::types::port::SwitchPort {
                    circuit_id: crate::types::port::AgentId::parse("sw1/port7").expect("fixture port"),
                    remote_id: None,
                }),
                token: Secret::new(token),
                ..Node::bare(name, vec![mac.parse().expect("fixture MAC")], ["ubuntu-24.04", "discovery", "local"][i])
            })?;
        }
        t.put(crate::dns::records::DnsRecord {
            id: "fuzz-www".into(),
            name: "www.t.test".into(),
            ttl: None,
            data: crate::dns::records::RecordData::Cname { target: "a.t.test".into() },
            created_at: 0,
        })?;
        Ok::<_, StateError>(())
    }))?;

    let mut config = Config::default();
    // Relayed datagrams come from these: node b is reserved on a port of
    // the DHCPv4 relay.
    config.dhcp.trusted_relays =
        vec![ipnet::IpNet::from(std::net::IpAddr::from(Ipv4Addr::new(10, 9, 0, 254))), "fe80::/10".parse()?];
    config.dns.tsig =
        Some(toml::from_str("name = \"xfr\"\nsecret = \"ZnVsY3J1bS10ZXN0LWtleS1mb3ItdHNpZy0zMmJ5dGVz\"")?);
    let dns = Arc::new(crate::dns::server::Dns::new(state.clone(), &config, Arc::default())?);
    let arrival = Arrival {
        iface: None,
        local_addrs: vec![SERVER, Ipv4Addr::new(10, 8, 0, 1)],
        iface_addrs: vec![Ipv4Addr::new(10, 8, 0, 1)],
        src: Some(Ipv4Addr::new(10, 9, 0, 254).into()),
        boot_server: false,
    };
    let tftp = RootHandler::new(&loaders, None, Arc::default(), None)?;
    let boot = crate::boot::http::router(BootState {
        state: state.clone(),
        stats: Arc::default(),
        tracer: crate::inventory::trace::Tracer::off(),
        settings: Arc::new(BootSettings {
            files_dir: files,
            loaders_dir: loaders.clone(),
            shim_x64: "/nonexistent/shimx64.efi".into(),
            grub_x64: "/nonexistent/grubx64.efi".into(),
            public_url: None,
            listen: SocketAddr::new(SERVER.into(), 80),
            discovery_bootenv: config.boot.discovery_bootenv.clone(),
            clients: vec![],
        }),
    });
    let tftp_root = std::fs::canonicalize(&loaders)?;
    Ok(Fixture { _dir: dir, rt, state, config, arrival, tftp, tftp_root, boot, dns })
}

thread_local! {
    /// Set while the server's guarded decoder runs (see [`guarded`]).
    static IN_GUARDED_DECODER: Cell<bool> = const { Cell::new(false) };
}

/// Runs `decode` the way the server runs dhcproto's decoder: a panic in it
/// is caught there ([`parse`]) and costs one datagram, so it is not a
/// finding here either, and the panic hook (libFuzzer's aborts) is told
/// to let it unwind. dhcproto has such panics only as `debug_assert!`s
/// (a Rapid Commit option with a length, seen with `cargo fuzz -a`);
/// Fulcrum builds its releases without debug assertions.
fn guarded<T>(decode: impl FnOnce() -> T) -> T {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !IN_GUARDED_DECODER.with(Cell::get) {
                previous(info);
            }
        }));
    });
    IN_GUARDED_DECODER.with(|f| f.set(true));
    let out = decode();
    IN_GUARDED_DECODER.with(|f| f.set(false));
    out
}

/// The DHCPv4 server's whole path for one datagram, but the sockets and
/// the commit: decode (dropped when it does not decode), decide, address
/// the reply, encode it. What it hands out must be on the client's network
/// and not another node's address, and every reply must encode and decode
/// back to the same kind.
pub fn dhcp4(data: &[u8]) {
    let fx = fixture();
    let Some(req) = guarded(|| parse(data)) else { return };
    let world = fx.state.snapshot();
    let offers = Offers::default();
    // Half the inputs as if they came to the boot server's port (4011).
    let arrival = Arrival { boot_server: req.xid() & 1 == 1, ..fx.arrival.clone() };
    let ctx = Ctx { world: &world, config: &fx.config, offers: &offers, arrival: &arrival, now: 1_000 };
    let decision = ctx.decide(&req);
    if arrival.boot_server || world.table::<Network>().get("site").is_some_and(|s| s.subnet.contains(&req.giaddr())) {
        assert!(!matches!(decision, Decision::Commit(_)), "a lease from the boot server or on a proxy network");
    }
    let src = SocketAddr::new(Ipv4Addr::new(10, 9, 0, 254).into(), 67);
    let replies: Vec<&Message> = match &decision {
        Decision::Reply(m) => vec![m],
        Decision::Commit(c) => {
            let (lease, ack, nak) = (&c.lease, &c.ack, &c.nak);
            let net = world.table::<Network>().get(&lease.network).expect("a lease on a network that does not exist");
            assert!(net.subnet.contains(&lease.ip), "lease {} outside {}", lease.ip, net.subnet);
            if let Some(node) = world.table::<Node>().by_ip(lease.ip) {
                assert!(
                    node.macs.contains(&lease.mac)
                        || c.learned.as_ref().is_some_and(|l| l.node == node.name && l.mac == lease.mac),
                    "lease of {}'s address {} to {}",
                    node.name,
                    lease.ip,
                    lease.mac
                );
            }
            vec![ack, nak]
        }
        Decision::Release { .. } | Decision::Decline { .. } | Decision::Ignore(_) => vec![],
    };
    for reply in replies {
        let _ = destination(&req, reply, src);
        let mut bytes = Vec::new();
        reply.encode(&mut Encoder::new(&mut bytes)).expect("a reply that does not encode");
        let back = Message::decode(&mut Decoder::new(&bytes)).expect("a reply that does not decode");
        assert_eq!(back.opts().msg_type(), reply.opts().msg_type());
        assert_eq!(back.xid(), req.xid());
        if reply.opts().msg_type() == Some(MessageType::Offer) && !reply.yiaddr().is_unspecified() {
            let net = world.table::<Network>().iter().find(|n| n.subnet.contains(&reply.yiaddr())).cloned();
            assert!(net.is_some(), "offer of {} on no network", reply.yiaddr());
        }
        if reply.yiaddr().is_unspecified() {
            // A proxy or boot-server answer (or an ACK to INFORM): no lease in it.
            assert!(reply.opts().get(OptionCode::AddressLeaseTime).is_none(), "a lease time without an address");
        }
    }
}

/// The DHCPv6 server's whole path for one datagram, but the sockets and
/// the write: the relay envelope off, decode (dropped when it does not
/// decode), decide, encode, the envelope back on. What it binds must be in
/// the network's /64; a node's own address only to that node; the answer
/// must decode back with the client's transaction id.
pub fn dhcp6(data: &[u8]) {
    use crate::dhcp::v6::handler::{Arrival6, Ctx6, Decision6, Write6};
    use crate::dhcp::v6::relay;
    use crate::net::ula;
    let fx = fixture();
    let Ok(unwrapped) = relay::unwrap(data) else { return };
    let Some(req) = guarded(|| crate::dhcp::v6::server::parse(unwrapped.inner)) else { return };
    let world = fx.state.snapshot();
    let gid = world.global_id();
    let nets = world.table::<Network>();
    let local: [std::net::Ipv6Addr; 1] = [std::net::Ipv6Addr::new(0xfd00, 0, 0, 1, 0, 0, 0, 1)];
    let arrival = Arrival6 {
        iface: None,
        local: &local,
        src: Some("fe80::5054:ff:fe00:aa".parse().expect("fixture")),
        unicast: false,
    };
    let server_duid = crate::dhcp::duid::Duid::llt("02:00:00:00:00:01".parse().expect("fixture"), 1);
    let ctx = Ctx6 { world: &world, config: &fx.config, arrival: &arrival, server_duid: &server_duid, now: 1_000 };
    let decision = ctx.decide(&req, &unwrapped.hops);
    let answers: Vec<&dhcproto::v6::Message> = match &decision {
        Decision6::Reply(m) => vec![m],
        Decision6::Write { write, reply, refused } => {
            if let Write6::Bind(leases) = write {
                for l in leases {
                    let net = nets.get(&l.network).expect("a lease on a network that does not exist");
                    let prefix = net.v6_prefix(gid).expect("a lease on a network without a v6 prefix");
                    assert_eq!(u128::from(l.addr) >> 64, u128::from(prefix) >> 64, "lease {} outside its /64", l.addr);
                    let iid = u128::from(l.addr) as u64;
                    if let Some(owner) = world.table::<Node>().by_interface_id(iid) {
                        assert_eq!(
                            l.node.as_deref(),
                            Some(owner.name.as_str()),
                            "{}'s address {} to another client",
                            owner.name,
                            l.addr
                        );
                    }
                    if let Some(n) = &l.node {
                        assert!(l.addr == ula::node_address(prefix, n) || iid >> 48 == 0xffff);
                    }
                }
            }
            vec![reply, refused]
        }
        Decision6::Ignore(_) => vec![],
    };
    for a in answers {
        let mut bytes = Vec::new();
        a.encode(&mut Encoder::new(&mut bytes)).expect("an answer that does not encode");
        let wrapped = relay::wrap(&unwrapped.hops, bytes.clone());
        assert_eq!(wrapped.first() == Some(&relay::RELAY_REPL), !unwrapped.hops.is_empty());
        let back = dhcproto::v6::Message::decode(&mut Decoder::new(&bytes)).expect("an answer that does not decode");
        assert_eq!(back.xid(), req.xid());
    }
}

/// A TFTP datagram: RRQ and WRQ are split into file name and mode (and
/// options, which only the TFTP library reads), the name must be UTF-8 (as
/// the library requires), and is resolved under the root. A resolved file
/// must be a file inside the root.
pub fn tftp(data: &[u8]) {
    let fx = fixture();
    let Some((op, rest)) = data.split_first_chunk::<2>() else { return };
    if !matches!(u16::from_be_bytes(*op), 1 | 2) {
        return;
    }
    let mut fields = rest.split(|b| *b == 0);
    let Some(Ok(name)) = fields.next().map(std::str::from_utf8) else { return };
    if let Ok(crate::boot::tftp::Target::File(full)) = fx.tftp.target(Path::new(name)) {
        assert!(full.starts_with(&fx.tftp_root), "{name:?} resolved outside the root: {}", full.display());
        assert!(full.is_file(), "{name:?} resolved to a non-file {}", full.display());
        let body = std::fs::read(&full).expect("a resolved file reads");
        assert_ne!(body, SECRET, "{name:?} reached the secret");
    }
}

/// Runs `req`, as from `peer`, through the fixture's boot router.
fn serve(
    fx: &Fixture,
    mut req: axum::http::Request<axum::body::Body>,
    peer: Ipv4Addr,
) -> (axum::http::StatusCode, axum::body::Bytes) {
    req.extensions_mut().insert(ConnectInfo(SocketAddr::new(IpAddr::V4(peer), 40_000)));
    fx.rt.block_on(async {
        let resp = fx.boot.clone().oneshot(req).await.expect("the router is infallible");
        let status = resp.status();
        (status, axum::body::to_bytes(resp.into_body(), 1 << 20).await.expect("a body"))
    })
}

/// An HTTP request to the boot routes. The input is `P TARGET [\nHOST]`: the
/// first byte picks the peer (loopback, node a's address, node b's, a host
/// A DNS message from a client on the fixture's served network: parsed as
/// hickory-server parses it (what does not parse gets FORMERR from the
/// server and never reaches the handler), answered by the handler. Every
/// answer decodes, carries the request's id and is a response; an
/// authoritative one answers only for names in the fixture's zones; a
/// transfer over UDP is never answered with the zone.
///
/// A query the UDP loops' answer cache would take ([`crate::dns::cache::key`])
/// parses, and its answer is the one any query with the same key gets:
/// the same question with another id, without its EDNS options and with
/// the payload size clamped as the key has it, is answered with the same
/// bytes after the id.
pub fn dns(data: &[u8]) {
    let answers = dns_answers(data);
    let mut keybuf = Vec::new();
    let Some(key) = crate::dns::cache::key(data, &mut keybuf) else { return };
    let [answer] = answers.as_slice() else {
        panic!("a query the cache takes did not parse: {} answers to {data:02x?}", answers.len())
    };
    let encoded = answer.to_vec().unwrap_or_else(|e| panic!("re-encoding the answer: {e}"));
    if !crate::dns::cache::keepable(&encoded) {
        return;
    }
    // The same key: another id, the OPT (if any) without options and with
    // the payload size the key holds.
    let mut twin = vec![data[0] ^ 0xFF, data[1]];
    twin.extend_from_slice(key);
    if data.len() - 2 != key.len() {
        twin.extend_from_slice(&[0, 0]);
    }
    assert_eq!(crate::dns::cache::key(&twin, &mut Vec::new()), Some(key), "the twin has the same key");
    let twins = dns_answers(&twin);
    let [other] = twins.as_slice() else { panic!("{} answers to the twin", twins.len()) };
    let other = other.to_vec().unwrap_or_else(|e| panic!("re-encoding the twin's answer: {e}"));
    assert_eq!(encoded[2..], other[2..], "two queries with one cache key answered differently");
}

fn dns_answers(data: &[u8]) -> Vec<hickory_proto::op::Message> {
    use hickory_proto::op::{Message, MessageType, ResponseCode};
    let fx = fixture();
    let client = SocketAddr::from(([10, 9, 0, 50], 5353));
    let Ok(request) =
        hickory_server::server::Request::from_bytes(data.to_vec(), client, hickory_server::net::xfer::Protocol::Udp)
    else {
        return Vec::new();
    };
    let captured = crate::dns::udp::Collected::default();
    fx.rt.block_on(crate::dns::server::Handler(fx.dns.clone()).handle(&request, captured.clone()));
    let sent = captured.0.lock().unwrap_or_else(|p| p.into_inner()).clone();
    assert!(sent.len() <= 1, "{} answers to one UDP request", sent.len());
    let mut out = Vec::new();
    for bytes in sent {
        let m = Message::from_vec(&bytes).unwrap_or_else(|e| panic!("an answer that does not decode: {e}"));
        assert_eq!(m.metadata.id, request.metadata.id);
        assert_eq!(m.metadata.message_type, MessageType::Response);
        if m.metadata.authoritative && m.metadata.response_code == ResponseCode::NoError {
            for r in &m.answers {
                let name = crate::dns::answer::plain(&r.name);
                assert!(
                    ["t.test", "in-addr.arpa", "ip6.arpa"].iter().any(|z| crate::dns::zones::in_zone(&name, z)),
                    "an authoritative answer for {name}"
                );
            }
        }
        out.push(m);
    }
    out
}

/// on no served network), then the request target and the Host header.
/// Nothing answers 5xx, nothing outside a root is served, and a node's
/// token reaches no one but the node itself and the admin node.
pub fn boot_http(data: &[u8]) {
    let fx = fixture();
    let Some((&pick, rest)) = data.split_first() else { return };
    let peers = [
        Ipv4Addr::LOCALHOST,
        Ipv4Addr::new(10, 9, 0, 10),
        Ipv4Addr::new(10, 9, 0, 11),
        Ipv4Addr::new(10, 9, 0, 50),
        Ipv4Addr::new(192, 0, 2, 7),
    ];
    let peer = peers[usize::from(pick) % peers.len()];
    let (target, host) = match rest.iter().position(|b| *b == b'\n') {
        Some(i) => (&rest[..i], Some(&rest[i + 1..])),
        None => (rest, None),
    };
    let mut req = axum::http::Request::builder().uri(target);
    if let Some(host) = host {
        req = req.header(axum::http::header::HOST, host);
    }
    let Ok(req) = req.body(axum::body::Body::empty()) else { return };
    let (status, body) = serve(fx, req, peer);
    assert!(!status.is_server_error(), "{status} for {:?}", String::from_utf8_lossy(data));
    assert!(
        !body.windows(SECRET.len()).any(|w| w == SECRET),
        "the secret served for {:?}",
        String::from_utf8_lossy(data)
    );
    for (name, _, own, token) in NODES {
        let allowed = peer.is_loopback() || Some(peer) == own || own.is_none();
        let leaked = body.windows(token.len()).any(|w| w == token.as_bytes());
        assert!(allowed || !leaked, "{name}'s token went to {peer} for {:?}", String::from_utf8_lossy(data));
    }
}

#[cfg(test)]
mod tests {
    //! The bounded fuzz pass of the test suite: every seed of the committed
    //! corpora (`fuzz/corpus/<target>/`, taken from real clients), then
    //! mutations of them from a seeded generator. `FULCRUM_FUZZ_RUNS`
    //! (mutations per target, default 100,000) and `FULCRUM_FUZZ_SEED`
    //! repeat or lengthen a run.

    use super::*;

    /// xorshift64*: small, seeded, good enough to mutate bytes.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n.max(1) as u64) as usize
        }
    }

    /// Strings that path and query handling must get right.
    const TOKENS: [&[u8]; 14] = [
        b"..",
        b"%2e%2e",
        b"%252e%252e",
        b"%c0%ae",
        b"/",
        b"\\",
        b"%00",
        b"\0",
        b"%5c",
        b"?mac=",
        b"52:54:00:00:00:aa",
        b"&mac=",
        b"/boot/templates/",
        b"%ff",
    ];

    fn mutate(rng: &mut Rng, seeds: &[Vec<u8>]) -> Vec<u8> {
        let mut v = seeds[rng.below(seeds.len())].clone();
        for _ in 0..=rng.below(4) {
            let at = rng.below(v.len() + 1);
            let last = v.len().saturating_sub(1);
            match rng.below(7) {
                0 if !v.is_empty() => v[at.min(last)] ^= 1 << rng.below(8),
                1 if !v.is_empty() => v[at.min(last)] = rng.next() as u8,
                2 => v.insert(at, rng.next() as u8),
                3 if at < v.len() => {
                    let end = (at + 1 + rng.below(16)).min(v.len());
                    v.drain(at..end);
                }
                4 => {
                    let t = TOKENS[rng.below(TOKENS.len())];
                    v.splice(at..at, t.iter().copied());
                }
                5 => {
                    let other = &seeds[rng.below(seeds.len())];
                    let from = rng.below(other.len());
                    v.truncate(at);
                    v.extend_from_slice(&other[from..]);
                }
                _ => v.truncate(at),
            }
        }
        v
    }

    fn corpus(target: &str) -> Vec<Vec<u8>> {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus").join(target);
        let mut seeds: Vec<Vec<u8>> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|f| std::fs::read(f.expect("a corpus entry").path()).expect("a corpus file"))
            .collect();
        seeds.sort();
        assert!(seeds.len() >= 3, "{}: only {} seeds", dir.display(), seeds.len());
        seeds
    }

    fn run(target: &str, f: fn(&[u8])) {
        let seeds = corpus(target);
        let runs: usize = std::env::var("FULCRUM_FUZZ_RUNS").ok().and_then(|v| v.parse().ok()).unwrap_or(100_000);
        // CI replays one fixed sequence, so a landing never fails on a bug
        // the commit did not touch; anywhere else each run explores anew
        // (the seed is printed to replay a failure).
        let seed: u64 = std::env::var("FULCRUM_FUZZ_SEED").ok().and_then(|v| v.parse().ok()).unwrap_or_else(|| {
            if std::env::var_os("CI").is_some() {
                return 0x5eed_f00d_cafe_0001;
            }
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(1, |d| d.as_nanos() as u64) | 1
        });
        println!("{target}: {} seeds, {runs} mutations, FULCRUM_FUZZ_SEED={seed}", seeds.len());
        for s in &seeds {
            f(s);
        }
        let mut rng = Rng(seed);
        for _ in 0..runs {
            f(&mutate(&mut rng, &seeds));
        }
    }

    #[test]
    fn dhcp4_survives_mutated_client_packets() {
        run("dhcp4", dhcp4);
    }

    #[test]
    fn dhcp6_survives_mutated_client_packets() {
        run("dhcp6", dhcp6);
    }

    /// The DHCPv6 oracle is live: the relayed iPXE seed is answered with
    /// node a's address through the relay.
    #[test]
    fn the_dhcp6_fixture_answers_real_requests() {
        use crate::dhcp::v6::handler::{Arrival6, Ctx6, Decision6};
        let fx = fixture();
        let seed = std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/dhcp6/relay-forw")).unwrap();
        let u = crate::dhcp::v6::relay::unwrap(&seed).unwrap();
        let req = crate::dhcp::v6::server::parse(u.inner).unwrap();
        let world = fx.state.snapshot();
        let local: [std::net::Ipv6Addr; 0] = [];
        let arrival = Arrival6 { iface: None, local: &local, src: Some("fe80::1".parse().unwrap()), unicast: false };
        let duid = crate::dhcp::duid::Duid::llt("02:00:00:00:00:01".parse().unwrap(), 1);
        let ctx = Ctx6 { world: &world, config: &fx.config, arrival: &arrival, server_duid: &duid, now: 1_000 };
        let Decision6::Reply(adv) = ctx.decide(&req, &u.hops) else { panic!("not answered") };
        let want = world.table::<Node>().get("a.t.test").unwrap().ipv6(&world).unwrap();
        assert!(format!("{adv:?}").contains(&format!("{want:?}")), "{adv:?}");
    }

    #[test]
    fn tftp_survives_mutated_client_requests() {
        run("tftp", tftp);
    }

    #[test]
    fn dns_survives_mutated_client_queries() {
        run("dns", dns);
    }

    #[test]
    fn boot_http_survives_mutated_client_requests() {
        run("boot_http", boot_http);
    }

    /// The DNS oracle is live: dig's query for a node is answered with its
    /// address, and the signed one is signed back.
    #[test]
    fn the_dns_fixture_answers_real_queries() {
        let seed =
            |n: &str| std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/dns").join(n)).unwrap();
        let a = dns_answers(&seed("a"));
        assert_eq!(a.len(), 1);
        assert_eq!(a[0].answers.len(), 1, "{:?}", a[0]);
        assert_eq!(a[0].answers[0].data.to_string(), "10.9.0.10");
        let outside = dns_answers(&seed("outside"));
        assert_eq!(outside[0].metadata.response_code, hickory_proto::op::ResponseCode::Refused);
    }

    /// The oracles are live: a seed that must be answered is answered.
    #[test]
    fn the_fixture_answers_real_requests() {
        let fx = fixture();
        assert!(fx.tftp.target(Path::new("undionly.kpxe")).is_ok());
        assert!(fx.tftp.target(Path::new("out")).is_err());
        let input = |target: &str, peer: u8| [&[peer], target.as_bytes()].concat();
        // Node a's token file (a template), from node a: carries its token.
        let req = axum::http::Request::builder()
            .uri("/boot/templates/52:54:00:00:00:aa/node.auth")
            .body(axum::body::Body::empty())
            .expect("request");
        let (status, body) = serve(fx, req, Ipv4Addr::new(10, 9, 0, 10));
        assert_eq!(status, 200);
        assert!(String::from_utf8_lossy(&body).contains(NODES[0].3));
        // From node a, and from node b (refused, or the token oracle fires).
        boot_http(&input("/boot/ipxe?mac=52:54:00:00:00:aa", 1));
        boot_http(&input("/boot/templates/52:54:00:00:00:aa/node.auth", 2));
    }

    #[test]
    fn the_dhcp4_fixture_reaches_port_reservations() {
        let fx = fixture();
        let seed = std::fs::read(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/dhcp4/relayed-request-reserved-port"),
        )
        .expect("the seed");
        let req = Message::decode(&mut Decoder::new(&seed)).expect("the seed decodes");
        let world = fx.state.snapshot();
        let offers = Offers::default();
        let ctx = Ctx { world: &world, config: &fx.config, offers: &offers, arrival: &fx.arrival, now: 1_000 };
        match ctx.decide(&req) {
            Decision::Commit(c) => assert_eq!(c.learned.map(|l| l.node).as_deref(), Some("b.t.test")),
            other => panic!("the seed should reach node b's port: {other:?}"),
        }
    }
}
