//! The DHCPv6 decision against a real store: who gets which address,
//! which messages are answered, what a relay and a boot client get.

use std::net::Ipv6Addr;

use dhcproto::v6::{
    DhcpOption, DhcpOptions, IAAddr, Message, MessageType, OptionCode, Status, UserClass, IANA, IAPD, IATA, ORO,
};

use super::handler::{eui64_mac, Arrival6, Ctx6, Decision6, Skip6, Write6, DYNAMIC_IID};
use super::relay::Hop;
use crate::config::Config;
use crate::dhcp::duid::{Duid, NodeDuid};
use crate::dhcp::lease6::{self, Lease6};
use crate::inventory::network::{Network, V6Prefix};
use crate::inventory::node::Node;
use crate::state::State;
use crate::types::mac::Mac;
use crate::types::range::Range;

use crate::dhcp::fixture::NODE_MAC;
const PREFIX: &str = "fd00:9:0:1::";
const SERVER_ADDR: &str = "fd00:9:0:1::1";

async fn world() -> (tempfile::TempDir, State) {
    crate::dhcp::fixture::world(Network {
        v6prefix: Some(V6Prefix::Explicit(format!("{PREFIX}/64").parse().unwrap())),
        interface: Some("br0".into()),
        lease_seconds: 4000,
        ..crate::dhcp::fixture::network()
    })
    .await
}

fn server_duid() -> Duid {
    Duid::llt(Mac([2, 0, 0, 0, 0, 1]), 1_000_000_000)
}

const LOCAL: [Ipv6Addr; 1] = [Ipv6Addr::new(0xfd00, 9, 0, 1, 0, 0, 0, 1)];

fn arrival() -> Arrival6<'static> {
    Arrival6 { iface: Some("br0"), local: &LOCAL, src: Some("fe80::1234".parse().unwrap()), unicast: false }
}

/// A DUID-LL of `mac`.
fn duid_ll(mac: &str) -> Vec<u8> {
    let mut d = vec![0, 3, 0, 1];
    d.extend_from_slice(&mac.parse::<Mac>().unwrap().0);
    d
}

fn msg(kind: MessageType, client: &[u8], iaid: u32, addr: Option<Ipv6Addr>) -> Message {
    let mut m = Message::new_with_id(kind, [1, 2, 3]);
    m.opts_mut().insert(DhcpOption::ClientId(client.to_vec()));
    let mut ia_opts = DhcpOptions::new();
    if let Some(addr) = addr {
        ia_opts.insert(DhcpOption::IAAddr(IAAddr { addr, preferred_life: 0, valid_life: 0, opts: DhcpOptions::new() }));
    }
    m.opts_mut().insert(DhcpOption::IANA(IANA { id: iaid, t1: 0, t2: 0, opts: ia_opts }));
    m
}

fn with_server_id(mut m: Message, id: &Duid) -> Message {
    m.opts_mut().insert(DhcpOption::ServerId(id.as_bytes().to_vec()));
    m
}

/// The addresses with non-zero valid lifetime in the answer's IA_NAs.
fn granted(m: &Message) -> Vec<(u32, Ipv6Addr, u32, u32)> {
    let mut out = Vec::new();
    for o in m.opts().get_all(OptionCode::IANA).unwrap_or_default() {
        let DhcpOption::IANA(ia) = o else { continue };
        for a in ia.opts.get_all(OptionCode::IAAddr).unwrap_or_default() {
            if let DhcpOption::IAAddr(a) = a {
                if a.valid_life > 0 {
                    out.push((ia.id, a.addr, a.preferred_life, a.valid_life));
                }
            }
        }
    }
    out
}

fn answer(d: &Decision6) -> &Message {
    match d {
        Decision6::Reply(m) | Decision6::Write { reply: m, .. } => m,
        Decision6::Ignore(why) => panic!("ignored: {why:?}"),
    }
}

fn top_status(m: &Message) -> Option<Status> {
    match m.opts().get(OptionCode::StatusCode) {
        Some(DhcpOption::StatusCode(s)) => Some(s.status),
        _ => None,
    }
}

fn boot_url(m: &Message) -> Option<String> {
    m.opts().iter().find_map(|o| match o {
        DhcpOption::Unknown(u) if u16::from(u.code()) == 59 => Some(String::from_utf8_lossy(u.data()).into_owned()),
        _ => None,
    })
}

#[tokio::test]
async fn a_node_gets_the_address_the_api_shows_and_its_duid_is_recorded() {
    let (_dir, state) = world().await;
    let w = state.snapshot();
    let (cfg, arr, sid) = (Config::default(), arrival(), server_duid());
    let ctx = Ctx6 { world: &w, config: &cfg, arrival: &arr, server_duid: &sid, now: 1000 };
    let client = duid_ll(NODE_MAC);
    let want = w.table::<Node>().get("known.t.test").unwrap().ipv6(&w).unwrap();
    assert_eq!(u128::from(want) >> 64, u128::from(PREFIX.parse::<Ipv6Addr>().unwrap()) >> 64);

    let adv = ctx.decide(&msg(MessageType::Solicit, &client, 7, None), &[]);
    let adv = answer(&adv);
    assert_eq!(adv.msg_type(), MessageType::Advertise);
    assert_eq!(adv.xid(), [1, 2, 3]);
    assert_eq!(granted(adv), vec![(7, want, 3000, 4000)]);
    assert!(matches!(adv.opts().get(OptionCode::Preference), Some(DhcpOption::Preference(255))));
    match adv.opts().get(OptionCode::IANA) {
        Some(DhcpOption::IANA(ia)) => assert_eq!((ia.t1, ia.t2), (1500, 2400)),
        other => panic!("{other:?}"),
    }

    let req = with_server_id(msg(MessageType::Request, &client, 7, Some(want)), &sid);
    let Decision6::Write { write: Write6::Bind(leases), reply, .. } = ctx.decide(&req, &[]) else { panic!() };
    assert_eq!(reply.msg_type(), MessageType::Reply);
    assert_eq!(granted(&reply), vec![(7, want, 3000, 4000)]);
    assert_eq!(leases.len(), 1);
    assert_eq!((leases[0].addr, leases[0].node.as_deref(), leases[0].expires_at), (want, Some("known.t.test"), 5000));

    // Committed: the DUID is the node's from now on.
    state.write(move |t| lease6::bind(t, leases, 1000, u32::MAX)).await.unwrap();
    let w = state.snapshot();
    let duid = Duid::new(&client).unwrap();
    assert_eq!(w.table::<NodeDuid>().of_node("known.t.test"), std::slice::from_ref(&duid));
    assert_eq!(w.table::<Lease6>().of("n", &duid, 7).map(|l| l.addr), Some(want));
}

#[tokio::test]
async fn unknown_clients_get_stable_dynamic_addresses_and_a_taken_one_is_not_given_twice() {
    let (_dir, state) = world().await;
    let w = state.snapshot();
    let (cfg, arr, sid) = (Config::default(), arrival(), server_duid());
    let ctx = Ctx6 { world: &w, config: &cfg, arrival: &arr, server_duid: &sid, now: 1000 };
    let a = duid_ll("02:00:00:00:00:01");
    let first = granted(answer(&ctx.decide(&msg(MessageType::Solicit, &a, 1, None), &[])));
    let again = granted(answer(&ctx.decide(&msg(MessageType::Solicit, &a, 1, None), &[])));
    assert_eq!(first, again, "the same identity association gets the same address");
    let addr = first[0].1;
    assert_eq!(u128::from(addr) as u64 & DYNAMIC_IID, DYNAMIC_IID);
    let other_ia = granted(answer(&ctx.decide(&msg(MessageType::Solicit, &a, 2, None), &[])));
    assert_ne!(other_ia[0].1, addr);

    // Someone else holds the first choice: the client gets the next one.
    let squatter = Duid::new(&duid_ll("02:00:00:00:00:99")).unwrap();
    state
        .write(move |t| {
            lease6::bind(
                t,
                vec![Lease6 {
                    addr,
                    duid: Some(squatter),
                    iaid: 1,
                    network: "n".into(),
                    node: None,
                    port: None,
                    expires_at: 9999,
                    written_us: 0,
                }],
                1000,
                u32::MAX,
            )
        })
        .await
        .unwrap();
    let w = state.snapshot();
    let ctx = Ctx6 { world: &w, config: &cfg, arrival: &arr, server_duid: &sid, now: 1000 };
    let moved = granted(answer(&ctx.decide(&msg(MessageType::Solicit, &a, 1, None), &[])));
    assert_ne!(moved[0].1, addr);
    // Asking to renew the taken address: it comes back with lifetime 0.
    let renew = with_server_id(msg(MessageType::Renew, &a, 1, Some(addr)), &sid);
    let reply = ctx.decide(&renew, &[]);
    let DhcpOption::IANA(ia) = answer(&reply).opts().get(OptionCode::IANA).unwrap() else { panic!() };
    let zeroed = ia.opts.iter().any(|o| matches!(o, DhcpOption::IAAddr(x) if x.addr == addr && x.valid_life == 0));
    assert!(zeroed, "{ia:?}");
}

#[tokio::test]
async fn server_identifier_rules_and_rapid_commit() {
    let (_dir, state) = world().await;
    let w = state.snapshot();
    let (cfg, arr, sid) = (Config::default(), arrival(), server_duid());
    let ctx = Ctx6 { world: &w, config: &cfg, arrival: &arr, server_duid: &sid, now: 1000 };
    let c = duid_ll("02:00:00:00:00:01");
    let ignored = |d: Decision6| match d {
        Decision6::Ignore(why) => why,
        other => panic!("answered: {other:?}"),
    };
    assert_eq!(
        ignored(ctx.decide(&with_server_id(msg(MessageType::Solicit, &c, 1, None), &sid), &[])),
        Skip6::UnexpectedServerId
    );
    assert_eq!(ignored(ctx.decide(&msg(MessageType::Request, &c, 1, None), &[])), Skip6::NoServerId);
    let other = Duid::llt(Mac([2, 0, 0, 0, 0, 2]), 5);
    assert_eq!(
        ignored(ctx.decide(&with_server_id(msg(MessageType::Request, &c, 1, None), &other), &[])),
        Skip6::OtherServer
    );
    let mut no_client = Message::new_with_id(MessageType::Solicit, [0, 0, 1]);
    no_client.opts_mut().insert(DhcpOption::IANA(IANA { id: 1, t1: 0, t2: 0, opts: DhcpOptions::new() }));
    assert_eq!(ignored(ctx.decide(&no_client, &[])), Skip6::NoClientId);
    let mut advertise = msg(MessageType::Advertise, &c, 1, None);
    advertise.set_msg_type(MessageType::Advertise);
    assert_eq!(ignored(ctx.decide(&advertise, &[])), Skip6::NotClientMessage);

    let mut rapid = msg(MessageType::Solicit, &c, 1, None);
    rapid.opts_mut().insert(DhcpOption::RapidCommit);
    let Decision6::Write { write: Write6::Bind(leases), reply, .. } = ctx.decide(&rapid, &[]) else { panic!() };
    assert_eq!(reply.msg_type(), MessageType::Reply);
    assert!(reply.opts().get(OptionCode::RapidCommit).is_some());
    assert_eq!(leases.len(), 1);
}

#[tokio::test]
async fn relayed_and_link_local_clients_are_recognised_by_their_mac() {
    let (_dir, state) = world().await;
    let w = state.snapshot();
    let (cfg, sid) = (Config::default(), server_duid());
    let want = w.table::<Node>().get("known.t.test").unwrap().ipv6(&w).unwrap();
    // iPXE's DUID-UUID carries no MAC.
    let uuid = [0u8, 4, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9];

    // Through a relay on another link, which adds the client's MAC (RFC 6939).
    let relayed = Arrival6 { iface: None, local: &[], src: Some("fd00:77::1".parse().unwrap()), unicast: false };
    let ctx = Ctx6 { world: &w, config: &cfg, arrival: &relayed, server_duid: &sid, now: 1000 };
    let hops = [Hop {
        hop_count: 0,
        link_addr: "fd00:9:0:1::fe".parse().unwrap(),
        peer_addr: "fe80::5".parse().unwrap(),
        interface_id: Some(b"eth7".to_vec()),
        remote_id: None,
        client_linklayer: Some((1, NODE_MAC.parse::<Mac>().unwrap().0.to_vec())),
    }];
    let adv = ctx.decide(&msg(MessageType::Solicit, &uuid, 1, None), &hops);
    assert_eq!(granted(answer(&adv))[0].1, want);
    // A relay whose link address is on no v6 network: nobody to serve.
    let elsewhere = [Hop { link_addr: "fd00:55::1".parse().unwrap(), ..hops[0].clone() }];
    assert!(matches!(
        ctx.decide(&msg(MessageType::Solicit, &uuid, 1, None), &elsewhere),
        Decision6::Ignore(Skip6::NoNetwork)
    ));

    // Straight from the client: the EUI-64 of its link-local source.
    let eui = "fe80::5054:ff:fe00:aa".parse().unwrap();
    assert_eq!(eui64_mac(eui), Some(NODE_MAC.parse().unwrap()));
    let direct = Arrival6 { src: Some(eui), ..arrival() };
    let ctx = Ctx6 { world: &w, config: &cfg, arrival: &direct, server_duid: &sid, now: 1000 };
    let adv = ctx.decide(&msg(MessageType::Solicit, &uuid, 1, None), &[]);
    assert_eq!(granted(answer(&adv))[0].1, want);
}

#[tokio::test]
async fn a_node_reserved_on_a_switch_port_is_the_client_the_relay_next_to_it_names() {
    let (_dir, state) = world().await;
    crate::dhcp::fixture::reserve_port(&state).await;
    let w = state.snapshot();
    let (mut cfg, sid) = (Config::default(), server_duid());
    cfg.dhcp.trusted_relays = vec!["fd00:77::/64".parse().unwrap()];
    let want = w.table::<Node>().get("known.t.test").unwrap().ipv6(&w).unwrap();
    let relayed = Arrival6 { iface: None, local: &[], src: Some("fd00:77::1".parse().unwrap()), unicast: false };
    let ctx = Ctx6 { world: &w, config: &cfg, arrival: &relayed, server_duid: &sid, now: 1000 };
    // A new board: a DUID with a MAC no node has, no RFC 6939 option.
    let client = duid_ll("52:54:00:00:00:42");
    let hop = |circuit: &[u8], remote: Option<&[u8]>| Hop {
        hop_count: 0,
        link_addr: "fd00:9:0:1::fe".parse().unwrap(),
        peer_addr: "fe80::5".parse().unwrap(),
        interface_id: Some(circuit.to_vec()),
        remote_id: remote.map(<[u8]>::to_vec),
        client_linklayer: None,
    };
    let req = with_server_id(msg(MessageType::Request, &client, 1, Some(want)), &sid);
    let Decision6::Write { write: Write6::Bind(leases), reply, .. } =
        ctx.decide(&req, &[hop(b"Gi1/0/7", Some(b"leaf-3"))])
    else {
        panic!("no binding")
    };
    assert_eq!(granted(&reply)[0].1, want);
    assert_eq!(leases[0].node.as_deref(), Some("known.t.test"));
    // Committed, its DUID is the node's, as for any node.
    state.write(move |t| lease6::bind(t, leases, 1000, u32::MAX)).await.unwrap();
    let after = state.snapshot();
    assert_eq!(after.table::<NodeDuid>().of_node("known.t.test"), &[Duid::new(&client).unwrap()][..]);
    // Another switch's port of the same name, or no interface-id: a stranger.
    let other = duid_ll("52:54:00:00:00:43");
    // A relay that is not trusted is not heard at all; with no trusted
    // relays configured, relays are heard but a port names nobody.
    let untrusted = Arrival6 { src: Some("fd00:78::1".parse().unwrap()), ..relayed };
    let solicit = msg(MessageType::Solicit, &other, 1, None);
    let hops = [hop(b"Gi1/0/7", Some(b"leaf-3"))];
    let dropped = Ctx6 { arrival: &untrusted, ..ctx }.decide(&solicit, &hops);
    assert!(matches!(dropped, Decision6::Ignore(Skip6::UntrustedRelay)), "{dropped:?}");
    let anyone = Config::default();
    let adv = Ctx6 { config: &anyone, ..ctx }.decide(&solicit, &hops);
    assert_ne!(granted(answer(&adv))[0].1, want);
    for hops in [[hop(b"Gi1/0/7", Some(b"leaf-4"))], [Hop { interface_id: None, ..hop(b"x", Some(b"leaf-3")) }]] {
        let adv = ctx.decide(&msg(MessageType::Solicit, &other, 1, None), &hops);
        assert_ne!(granted(answer(&adv))[0].1, want, "{hops:?}");
    }
    // A client's own RELAY-FORW naming the port, wrapped by the trusted
    // relay (whose layer names another port): the inner layer is forged
    // as easily as sent, so it names nobody.
    let forged = [hop(b"Gi9/9/9", Some(b"leaf-9")), hop(b"Gi1/0/7", Some(b"leaf-3"))];
    let adv = ctx.decide(&msg(MessageType::Solicit, &other, 1, None), &forged);
    assert_ne!(granted(answer(&adv))[0].1, want, "a forged inner layer claimed the port");
}

#[tokio::test]
async fn boot_urls_confirm_release_decline_and_information_requests() {
    let (_dir, state) = world().await;
    let w = state.snapshot();
    let (cfg, arr, sid) = (Config::default(), arrival(), server_duid());
    let ctx = Ctx6 { world: &w, config: &cfg, arrival: &arr, server_duid: &sid, now: 1000 };
    let node = duid_ll(NODE_MAC);

    // iPXE asks for option 59: its script URL on the admin node's ULA.
    let mut ipxe = msg(MessageType::Solicit, &node, 1, None);
    ipxe.opts_mut().insert(DhcpOption::ORO(ORO { opts: vec![OptionCode::from(59u16), OptionCode::from(23u16)] }));
    ipxe.opts_mut().insert(DhcpOption::UserClass(UserClass { data: vec![b"iPXE".to_vec()] }));
    let adv = ctx.decide(&ipxe, &[]);
    assert_eq!(boot_url(answer(&adv)).as_deref(), Some("http://[fd00:9:0:1::1]/boot/ipxe?mac=52:54:00:00:00:aa"));
    // Not asked for: not sent.
    let plain = ctx.decide(&msg(MessageType::Solicit, &node, 1, None), &[]);
    assert_eq!(boot_url(answer(&plain)), None);

    // CONFIRM: on this link or not.
    let on: Ipv6Addr = "fd00:9:0:1::77".parse().unwrap();
    let off: Ipv6Addr = "fd00:8::77".parse().unwrap();
    let c = ctx.decide(&msg(MessageType::Confirm, &node, 1, Some(on)), &[]);
    assert_eq!(top_status(answer(&c)), Some(Status::Success));
    let c = ctx.decide(&msg(MessageType::Confirm, &node, 1, Some(off)), &[]);
    assert_eq!(top_status(answer(&c)), Some(Status::NotOnLink));
    assert!(matches!(ctx.decide(&msg(MessageType::Confirm, &node, 1, None), &[]), Decision6::Ignore(_)));

    // RELEASE gives back what was named; DECLINE quarantines only dynamic addresses.
    let dynamic = Ipv6Addr::from(u128::from(on) | u128::from(DYNAMIC_IID));
    let rel = ctx.decide(&with_server_id(msg(MessageType::Release, &node, 1, Some(on)), &sid), &[]);
    assert!(matches!(&rel, Decision6::Write { write: Write6::Release { ias, .. }, .. } if ias == &vec![(1, vec![on])]));
    assert_eq!(top_status(answer(&rel)), Some(Status::Success));
    let mut decline = with_server_id(msg(MessageType::Decline, &node, 1, Some(on)), &sid);
    let DhcpOption::IANA(ia) = decline.opts_mut().get_mut(OptionCode::IANA).unwrap() else { panic!() };
    ia.opts.insert(DhcpOption::IAAddr(IAAddr {
        addr: dynamic,
        preferred_life: 0,
        valid_life: 0,
        opts: DhcpOptions::new(),
    }));
    let dec = ctx.decide(&decline, &[]);
    assert!(
        matches!(&dec, Decision6::Write { write: Write6::Decline { ias, until: 1600, .. }, .. } if ias == &vec![(1, vec![dynamic])])
    );

    // INFORMATION-REQUEST, even without a client identifier: the search
    // domain; DNS servers only where Fulcrum's DNS listens on IPv6.
    let mut info = Message::new_with_id(MessageType::InformationRequest, [4, 5, 6]);
    info.opts_mut().insert(DhcpOption::ORO(ORO { opts: vec![OptionCode::from(23u16), OptionCode::from(24u16)] }));
    let r = ctx.decide(&info, &[]);
    let r = answer(&r);
    assert_eq!(r.msg_type(), MessageType::Reply);
    let domain = r.opts().iter().find_map(|o| match o {
        DhcpOption::Unknown(u) if u16::from(u.code()) == 24 => Some(u.data().to_vec()),
        _ => None,
    });
    assert_eq!(domain.as_deref(), Some(&b"\x01t\x04test\x00"[..]));
    assert!(r.opts().get(OptionCode::DomainNameServers).is_none(), "DNS listens on IPv4 only by default");
    assert!(r.opts().get(OptionCode::IANA).is_none());
    let mut v6_dns = Config::default();
    v6_dns.dns.listen = vec!["[::]:53".parse().unwrap()];
    let ctx = Ctx6 { world: &w, config: &v6_dns, arrival: &arr, server_duid: &sid, now: 1000 };
    let r = ctx.decide(&info, &[]);
    assert!(matches!(answer(&r).opts().get(OptionCode::DomainNameServers),
        Some(DhcpOption::DomainNameServers(s)) if s == &vec![SERVER_ADDR.parse::<Ipv6Addr>().unwrap()]));
}

#[tokio::test]
async fn a_node_that_boots_from_disk_gets_no_boot_url() {
    let (_dir, state) = world().await;
    crate::dhcp::fixture::edit_node(&state, |n| n.bootenv = "local".into()).await;
    let w = state.snapshot();
    let (cfg, arr, sid) = (Config::default(), arrival(), server_duid());
    let ctx = Ctx6 { world: &w, config: &cfg, arrival: &arr, server_duid: &sid, now: 1000 };
    let mut ipxe = msg(MessageType::Solicit, &duid_ll(NODE_MAC), 1, None);
    ipxe.opts_mut().insert(DhcpOption::ORO(ORO { opts: vec![OptionCode::from(59u16)] }));
    ipxe.opts_mut().insert(DhcpOption::UserClass(UserClass { data: vec![b"iPXE".to_vec()] }));
    assert_eq!(boot_url(answer(&ctx.decide(&ipxe, &[]))), None);
}

#[tokio::test]
async fn a_protected_node_gets_no_boot_url_whatever_its_bootenv() {
    let (_dir, state) = world().await;
    let ipxe = || {
        let mut m = msg(MessageType::Solicit, &duid_ll(NODE_MAC), 1, None);
        m.opts_mut().insert(DhcpOption::ORO(ORO { opts: vec![OptionCode::from(59u16)] }));
        m.opts_mut().insert(DhcpOption::UserClass(UserClass { data: vec![b"iPXE".to_vec()] }));
        m
    };
    let (cfg, arr, sid) = (Config::default(), arrival(), server_duid());
    let w = state.snapshot();
    let ctx = Ctx6 { world: &w, config: &cfg, arrival: &arr, server_duid: &sid, now: 1000 };
    assert!(boot_url(answer(&ctx.decide(&ipxe(), &[]))).is_some(), "the fixture's node boots from the network");
    crate::dhcp::fixture::edit_node(&state, |n| n.protected = true).await;
    let w = state.snapshot();
    let ctx = Ctx6 { world: &w, config: &cfg, arrival: &arr, server_duid: &sid, now: 1000 };
    assert_eq!(boot_url(answer(&ctx.decide(&ipxe(), &[]))), None);
}

#[test]
fn malformed_datagrams_do_not_parse_or_panic() {
    use super::server::parse;
    assert!(parse(&[]).is_none());
    assert!(parse(&[1, 0]).is_none());
    // An authentication option (11) shorter than its fixed part: dhcproto
    // computes `len - 11` on it.
    let _ = parse(&[1, 0, 0, 1, 0, 11, 0, 2, 0, 0]);
    // An IA_NA whose length runs past the end.
    let _ = parse(&[1, 0, 0, 1, 0, 3, 0, 40, 0, 0, 0, 1]);
}

#[tokio::test]
async fn strangers_stop_at_the_cap_and_nodes_never_do_and_expired_leases_are_reaped() {
    let (_dir, state) = world().await;
    let mut cfg = Config::default();
    cfg.dhcp.unknown_leases6 = 3;
    let (arr, sid) = (arrival(), server_duid());
    for i in 1..=3u8 {
        let w = state.snapshot();
        let ctx = Ctx6 { world: &w, config: &cfg, arrival: &arr, server_duid: &sid, now: 1000 };
        let c = duid_ll(&format!("02:00:00:00:01:{i:02x}"));
        let Decision6::Write { write: Write6::Bind(leases), .. } =
            ctx.decide(&with_server_id(msg(MessageType::Request, &c, 1, None), &sid), &[])
        else {
            panic!("stranger {i} refused below the cap")
        };
        state.write(move |t| lease6::bind(t, leases, 1000, u32::MAX)).await.unwrap();
    }
    let w = state.snapshot();
    assert_eq!(w.table::<Lease6>().strangers_on("n"), 3);
    let ctx = Ctx6 { world: &w, config: &cfg, arrival: &arr, server_duid: &sid, now: 1000 };
    let fourth = ctx.decide(&msg(MessageType::Solicit, &duid_ll("02:00:00:00:01:04"), 1, None), &[]);
    assert_eq!(top_status(answer(&fourth)), Some(Status::NoAddrsAvail));
    // A stranger that already holds a lease keeps it; a node is never capped.
    let again = ctx.decide(&msg(MessageType::Solicit, &duid_ll("02:00:00:00:01:01"), 1, None), &[]);
    assert_eq!(granted(answer(&again)).len(), 1);
    let node = ctx.decide(&msg(MessageType::Solicit, &duid_ll(NODE_MAC), 1, None), &[]);
    assert_eq!(granted(answer(&node)).len(), 1);
    // Expired (valid 4000 s from 1000): reaped, and the count goes with them.
    let n = state.write(|t| lease6::reap(t, 5001, 10)).await.unwrap();
    assert_eq!(n, 3);
    assert_eq!(state.snapshot().table::<Lease6>().strangers_on("n"), 0);
}

#[tokio::test]
async fn unknown_client_policy_in_dhcpv6() {
    use crate::inventory::network::UnknownClients;
    use dhcproto::v6::VendorClass;
    let (_dir, state) = world().await;
    let (cfg, arr, sid) = (Config::default(), arrival(), server_duid());
    let plain = || msg(MessageType::Solicit, &duid_ll("02:00:00:00:02:01"), 1, None);
    let agent = || {
        let mut m = plain();
        m.opts_mut().insert(DhcpOption::VendorClass(VendorClass { num: 0, data: vec![b"fulcrum-discovery".to_vec()] }));
        m
    };
    let ipxe = || {
        let mut m = plain();
        m.opts_mut().insert(DhcpOption::UserClass(UserClass { data: vec![b"iPXE".to_vec()] }));
        m
    };
    let node = || msg(MessageType::Solicit, &duid_ll(NODE_MAC), 1, None);
    for (policy, want) in [
        (UnknownClients::Serve, [true, true, true, true]),
        (UnknownClients::Discovery, [false, true, true, true]),
        (UnknownClients::Ignore, [false, false, false, true]),
    ] {
        crate::dhcp::fixture::edit_network(&state, move |n| n.unknown_clients = policy).await;
        let w = state.snapshot();
        let ctx = Ctx6 { world: &w, config: &cfg, arrival: &arr, server_duid: &sid, now: 1000 };
        let got: Vec<bool> = [plain(), agent(), ipxe(), node()]
            .iter()
            .map(|m| !matches!(ctx.decide(m, &[]), Decision6::Ignore(_)))
            .collect();
        assert_eq!(got, want, "{policy:?}: plain, agent, iPXE, node");
    }
}

/// Found in review: a node's two identity associations in one REQUEST got
/// the same address, and the commit refused the whole answer; a node's
/// second DUID (the installed system after iPXE) got a dynamic address.
#[tokio::test]
async fn a_node_has_one_address_per_network_whichever_duid_asks() {
    let (_dir, state) = world().await;
    let (cfg, arr, sid) = (Config::default(), arrival(), server_duid());
    let want = {
        let w = state.snapshot();
        w.table::<Node>().get("known.t.test").unwrap().ipv6(&w).unwrap()
    };
    let w = state.snapshot();
    let ctx = Ctx6 { world: &w, config: &cfg, arrival: &arr, server_duid: &sid, now: 1000 };
    let mut two = with_server_id(msg(MessageType::Request, &duid_ll(NODE_MAC), 1, None), &sid);
    two.opts_mut().insert(DhcpOption::IANA(IANA { id: 2, t1: 0, t2: 0, opts: DhcpOptions::new() }));
    let Decision6::Write { write: Write6::Bind(leases), reply, .. } = ctx.decide(&two, &[]) else { panic!() };
    let got = granted(&reply);
    assert_eq!(got.len(), 1, "one address, for one of the two IAs: {got:?}");
    assert_eq!(got[0].1, want);
    assert_eq!(leases.len(), 1);
    state.write(move |t| lease6::bind(t, leases, 1000, u32::MAX)).await.unwrap();

    // The installed system: another DUID (a DUID-LLT of the same MAC).
    let mut llt = vec![0, 1, 0, 1, 0, 0, 0, 9];
    llt.extend_from_slice(&NODE_MAC.parse::<Mac>().unwrap().0);
    let w = state.snapshot();
    let ctx = Ctx6 { world: &w, config: &cfg, arrival: &arr, server_duid: &sid, now: 1000 };
    let Decision6::Write { write: Write6::Bind(leases), reply, .. } =
        ctx.decide(&with_server_id(msg(MessageType::Request, &llt, 9, None), &sid), &[])
    else {
        panic!()
    };
    assert_eq!(granted(&reply), vec![(9, want, 3000, 4000)]);
    state.write(move |t| lease6::bind(t, leases, 1000, u32::MAX)).await.unwrap();
    let w = state.snapshot();
    let l = w.table::<Lease6>().get(&want).unwrap();
    assert_eq!((l.duid.as_ref().map(|d| d.as_bytes().to_vec()), l.iaid), (Some(llt), 9));
}

/// Found in review: a node was recognised on any network (and got an
/// address the API never shows, past the stranger rules).
#[tokio::test]
async fn a_node_is_a_node_only_on_its_own_network() {
    let (_dir, state) = world().await;
    state
        .write(|t| {
            let mut m = (**t.world().table::<Network>().get("n").unwrap()).clone();
            m.name = "m".into();
            m.id = 2;
            m.subnet = "10.8.0.0/24".parse().unwrap();
            m.static_range = Range { start: "10.8.0.10".parse().unwrap(), end: "10.8.0.20".parse().unwrap() };
            m.v6prefix = Some(V6Prefix::Explicit("fd00:9:0:2::/64".parse().unwrap()));
            m.interface = Some("br1".into());
            m.unknown_clients = crate::inventory::network::UnknownClients::Ignore;
            t.put(m)
        })
        .await
        .unwrap();
    let w = state.snapshot();
    let (cfg, sid) = (Config::default(), server_duid());
    let elsewhere =
        Arrival6 { iface: Some("br1"), local: &LOCAL, src: Some("fe80::1234".parse().unwrap()), unicast: false };
    let ctx = Ctx6 { world: &w, config: &cfg, arrival: &elsewhere, server_duid: &sid, now: 1000 };
    assert!(matches!(
        ctx.decide(&msg(MessageType::Solicit, &duid_ll(NODE_MAC), 1, None), &[]),
        Decision6::Ignore(Skip6::UnknownClient)
    ));
}

/// A lease of no node on network `n`, held by the DUID-LL of `mac`.
fn stranger_lease(addr: &str, mac: &str) -> Lease6 {
    Lease6 {
        addr: addr.parse().unwrap(),
        duid: Some(Duid::new(&duid_ll(mac)).unwrap()),
        iaid: 1,
        network: "n".into(),
        node: None,
        port: None,
        expires_at: 9999,
        written_us: 0,
    }
}

/// Found in review: the stranger cap was checked against the snapshot
/// only; many REQUESTs in flight went past it.
#[tokio::test]
async fn the_stranger_cap_holds_at_commit() {
    let (_dir, state) = world().await;
    let stranger = |n: u8| stranger_lease(&format!("fd00:9:0:1:ffff::{n}"), &format!("02:00:00:00:03:{n:02x}"));
    state.write(move |t| lease6::bind(t, vec![stranger(1)], 1000, 1)).await.unwrap();
    let over = state.write(move |t| lease6::bind(t, vec![stranger(2)], 1000, 1)).await;
    assert!(matches!(over, Err(lease6::Lease6Error::Taken(_))), "{over:?}");
    // Renewing an existing one is not a new stranger.
    state.write(move |t| lease6::bind(t, vec![stranger(1)], 1000, 1)).await.unwrap();
}

#[tokio::test]
async fn a_node_keeps_at_most_sixteen_duids_the_oldest_going() {
    let (_dir, state) = world().await;
    for i in 0..20u8 {
        let lease = Lease6 {
            addr: format!("fd00:9:0:1::{i:x}").parse().unwrap(),
            duid: Some(Duid::new(&[0, 2, 0, 0, 0, 9, i]).unwrap()),
            iaid: 1,
            network: "n".into(),
            node: Some("known.t.test".into()),
            port: None,
            expires_at: 9999,
            written_us: 0,
        };
        state.write(move |t| lease6::bind(t, vec![lease], 1000 + u64::from(i), u32::MAX)).await.unwrap();
    }
    let w = state.snapshot();
    let held = w.table::<NodeDuid>().of_node("known.t.test");
    assert_eq!(held.len(), lease6::MAX_NODE_DUIDS);
    assert!(!held.contains(&Duid::new(&[0, 2, 0, 0, 0, 9, 0]).unwrap()), "the oldest went");
    assert!(held.contains(&Duid::new(&[0, 2, 0, 0, 0, 9, 19]).unwrap()));
}

/// Found in review: UEFI HTTP boot needs the answer to name HTTPClient.
#[tokio::test]
async fn uefi_http_boot_gets_its_vendor_class_back() {
    use dhcproto::v6::{Architecture, VendorClass};
    let (_dir, state) = world().await;
    let w = state.snapshot();
    let (cfg, arr, sid) = (Config::default(), arrival(), server_duid());
    let ctx = Ctx6 { world: &w, config: &cfg, arrival: &arr, server_duid: &sid, now: 1000 };
    let mut http = msg(MessageType::Solicit, &duid_ll("02:00:00:00:04:01"), 1, None);
    http.opts_mut().insert(DhcpOption::ORO(ORO { opts: vec![OptionCode::from(59u16)] }));
    http.opts_mut().insert(DhcpOption::ClientArchType(vec![Architecture::from(0x10u16)]));
    http.opts_mut()
        .insert(DhcpOption::VendorClass(VendorClass { num: 343, data: vec![b"HTTPClient:Arch:00016".to_vec()] }));
    let d = ctx.decide(&http, &[]);
    let adv = answer(&d);
    assert_eq!(boot_url(adv).as_deref(), Some("http://[fd00:9:0:1::1]/boot/loaders/snponly.efi"));
    assert!(matches!(adv.opts().get(OptionCode::VendorClass),
        Some(DhcpOption::VendorClass(v)) if v.data == vec![b"HTTPClient".to_vec()]));
}

/// RFC 8415 18.3.7: a RELEASE for an IA with no binding says NoBinding for it.
#[tokio::test]
async fn releasing_what_one_does_not_hold_says_no_binding() {
    let (_dir, state) = world().await;
    let (cfg, arr, sid) = (Config::default(), arrival(), server_duid());
    let client = duid_ll("02:00:00:00:05:01");
    let w = state.snapshot();
    let ctx = Ctx6 { world: &w, config: &cfg, arrival: &arr, server_duid: &sid, now: 1000 };
    let Decision6::Write { write: Write6::Bind(leases), .. } =
        ctx.decide(&with_server_id(msg(MessageType::Request, &client, 1, None), &sid), &[])
    else {
        panic!()
    };
    let held = leases[0].addr;
    state.write(move |t| lease6::bind(t, leases, 1000, u32::MAX)).await.unwrap();
    let w = state.snapshot();
    let ctx = Ctx6 { world: &w, config: &cfg, arrival: &arr, server_duid: &sid, now: 1000 };
    let ia_status = |m: &Message| -> Vec<(u32, Status)> {
        m.opts()
            .get_all(OptionCode::IANA)
            .unwrap_or_default()
            .iter()
            .filter_map(|o| match o {
                DhcpOption::IANA(ia) => match ia.opts.get(OptionCode::StatusCode) {
                    Some(DhcpOption::StatusCode(s)) => Some((ia.id, s.status)),
                    _ => None,
                },
                _ => None,
            })
            .collect()
    };
    let own = ctx.decide(&with_server_id(msg(MessageType::Release, &client, 1, Some(held)), &sid), &[]);
    assert_eq!(ia_status(answer(&own)), vec![]);
    let other = ctx.decide(&with_server_id(msg(MessageType::Release, &client, 2, Some(held)), &sid), &[]);
    assert_eq!(ia_status(answer(&other)), vec![(2, Status::NoBinding)]);
    assert_eq!(top_status(answer(&other)), Some(Status::Success));
}

#[tokio::test]
async fn prefix_delegation_and_temporary_addresses_are_refused_by_their_status() {
    let (_dir, state) = world().await;
    let w = state.snapshot();
    let (cfg, arr, sid) = (Config::default(), arrival(), server_duid());
    let ctx = Ctx6 { world: &w, config: &cfg, arrival: &arr, server_duid: &sid, now: 1000 };
    let client = duid_ll(NODE_MAC);
    let ia_status = |m: &Message, code: OptionCode| -> Vec<(u32, Option<Status>)> {
        m.opts()
            .get_all(code)
            .unwrap_or_default()
            .iter()
            .filter_map(|o| {
                let (id, opts) = match o {
                    DhcpOption::IAPD(ia) => (ia.id, &ia.opts),
                    DhcpOption::IATA(ia) => (ia.id, &ia.opts),
                    _ => return None,
                };
                let st = match opts.get(OptionCode::StatusCode) {
                    Some(DhcpOption::StatusCode(s)) => Some(s.status),
                    _ => None,
                };
                Some((id, st))
            })
            .collect()
    };
    // dhcpcd asks for an address and a prefix: the address, and the IA_PD
    // back with NoPrefixAvail.
    let mut both = msg(MessageType::Solicit, &client, 1, None);
    both.opts_mut().insert(DhcpOption::IAPD(IAPD { id: 9, t1: 0, t2: 0, opts: DhcpOptions::new() }));
    let adv = ctx.decide(&both, &[]);
    let adv = answer(&adv);
    assert_eq!(granted(adv).len(), 1);
    assert_eq!(ia_status(adv, OptionCode::IAPD), vec![(9, Some(Status::NoPrefixAvail))]);
    assert_eq!(top_status(adv), None);
    // Only a prefix: nothing to give, said at the top too.
    let mut pd_only = Message::new_with_id(MessageType::Solicit, [4, 5, 6]);
    pd_only.opts_mut().insert(DhcpOption::ClientId(client.clone()));
    pd_only.opts_mut().insert(DhcpOption::IAPD(IAPD { id: 9, t1: 0, t2: 0, opts: DhcpOptions::new() }));
    let adv = ctx.decide(&pd_only, &[]);
    assert_eq!(top_status(answer(&adv)), Some(Status::NoPrefixAvail));
    // A RENEW or REBIND naming an IA_PD: Fulcrum never bound it, NoBinding
    // (RFC 8415 18.3.4, 18.3.5).
    for kind in [MessageType::Renew, MessageType::Rebind] {
        let mut renew = msg(kind, &client, 1, None);
        if kind == MessageType::Renew {
            renew = with_server_id(renew, &sid);
        }
        renew.opts_mut().insert(DhcpOption::IAPD(IAPD { id: 9, t1: 0, t2: 0, opts: DhcpOptions::new() }));
        let r = ctx.decide(&renew, &[]);
        assert_eq!(ia_status(answer(&r), OptionCode::IAPD), vec![(9, Some(Status::NoBinding))], "{kind:?}");
    }
    // A temporary address in a REQUEST: NoAddrsAvail in its IA_TA.
    let mut ta = with_server_id(msg(MessageType::Request, &client, 1, None), &sid);
    ta.opts_mut().insert(DhcpOption::IATA(IATA { id: 5, opts: DhcpOptions::new() }));
    let reply = ctx.decide(&ta, &[]);
    let reply = answer(&reply);
    assert_eq!(granted(reply).len(), 1);
    assert_eq!(ia_status(reply, OptionCode::IATA), vec![(5, Some(Status::NoAddrsAvail))]);
}

#[tokio::test]
async fn what_a_client_must_multicast_is_not_taken_by_unicast() {
    let (_dir, state) = world().await;
    let w = state.snapshot();
    let (cfg, sid) = (Config::default(), server_duid());
    let unicast = Arrival6 { unicast: true, ..arrival() };
    let ctx = Ctx6 { world: &w, config: &cfg, arrival: &unicast, server_duid: &sid, now: 1000 };
    let c = duid_ll("02:00:00:00:00:01");
    let ignored = |d: Decision6| match d {
        Decision6::Ignore(why) => why,
        other => panic!("answered: {other:?}"),
    };
    // RFC 8415 16: discarded.
    let addr: Ipv6Addr = "fd00:9:0:1::5".parse().unwrap();
    for kind in [MessageType::Solicit, MessageType::Confirm, MessageType::Rebind, MessageType::InformationRequest] {
        assert_eq!(ignored(ctx.decide(&msg(kind, &c, 1, Some(addr)), &[])), Skip6::Unicast, "{kind:?}");
    }
    // RFC 8415 18.4: UseMulticast, the two identifiers, nothing else,
    // and nothing written.
    for kind in [MessageType::Request, MessageType::Renew, MessageType::Release, MessageType::Decline] {
        let d = ctx.decide(&with_server_id(msg(kind, &c, 1, Some(addr)), &sid), &[]);
        let Decision6::Reply(r) = d else { panic!("{kind:?}: {d:?}") };
        assert_eq!((r.msg_type(), top_status(&r)), (MessageType::Reply, Some(Status::UseMulticast)), "{kind:?}");
        assert_eq!(r.opts().iter().count(), 3, "{kind:?}: {r:?}");
        assert!(granted(&r).is_empty());
    }
    // Another server's REQUEST is still not ours to answer.
    let other = Duid::llt(Mac([2, 0, 0, 0, 0, 2]), 5);
    assert_eq!(
        ignored(ctx.decide(&with_server_id(msg(MessageType::Request, &c, 1, None), &other), &[])),
        Skip6::OtherServer
    );
    // Multicast, the same SOLICIT is answered.
    let (multicast, sid2) = (arrival(), server_duid());
    let ctx = Ctx6 { world: &w, config: &cfg, arrival: &multicast, server_duid: &sid2, now: 1000 };
    assert_eq!(answer(&ctx.decide(&msg(MessageType::Solicit, &c, 1, None), &[])).msg_type(), MessageType::Advertise);
}

#[tokio::test]
async fn a_request_for_an_address_off_this_link_gets_not_on_link() {
    let (_dir, state) = world().await;
    let w = state.snapshot();
    let (cfg, arr, sid) = (Config::default(), arrival(), server_duid());
    let ctx = Ctx6 { world: &w, config: &cfg, arrival: &arr, server_duid: &sid, now: 1000 };
    let c = duid_ll("02:00:00:00:00:01");
    let off: Ipv6Addr = "fd00:9:0:2::5".parse().unwrap();
    let ia_status = |m: &Message| -> Vec<(u32, Option<Status>)> {
        m.opts()
            .get_all(OptionCode::IANA)
            .unwrap_or_default()
            .iter()
            .filter_map(|o| match o {
                DhcpOption::IANA(ia) => Some((
                    ia.id,
                    match ia.opts.get(OptionCode::StatusCode) {
                        Some(DhcpOption::StatusCode(s)) => Some(s.status),
                        _ => None,
                    },
                )),
                _ => None,
            })
            .collect()
    };
    let request = with_server_id(msg(MessageType::Request, &c, 7, Some(off)), &sid);
    let d = ctx.decide(&request, &[]);
    let r = answer(&d);
    assert_eq!(ia_status(r), [(7, Some(Status::NotOnLink))]);
    assert!(granted(r).is_empty() && matches!(d, Decision6::Reply(_)), "nothing bound: {d:?}");
    // A RENEW of it gets it back with zero lifetimes, and an address here.
    let renew = with_server_id(msg(MessageType::Renew, &c, 7, Some(off)), &sid);
    let d = ctx.decide(&renew, &[]);
    let r = answer(&d);
    assert_eq!(ia_status(r), [(7, None)]);
    assert!(granted(r).iter().all(|(_, a, ..)| *a != off) && !granted(r).is_empty(), "{r:?}");
}

#[tokio::test]
async fn a_network_that_is_not_authoritative_leaves_a_strangers_renew_and_rebind_to_their_server() {
    let (_dir, state) = world().await;
    let (cfg, arr, sid) = (Config::default(), arrival(), server_duid());
    let stranger = duid_ll("02:00:00:00:00:01");
    let elsewhere: Ipv6Addr = "fd00:9:0:1::77".parse().unwrap();
    let decide = |w: &crate::state::World, m: &Message| {
        let ctx = Ctx6 { world: w, config: &cfg, arrival: &arr, server_duid: &sid, now: 1000 };
        ctx.decide(m, &[])
    };
    let renew = with_server_id(msg(MessageType::Renew, &stranger, 3, Some(elsewhere)), &sid);
    let rebind = msg(MessageType::Rebind, &stranger, 3, Some(elsewhere));
    // Authoritative (the default): a new binding, as RFC 8415 allows.
    let w = state.snapshot();
    assert!(!granted(answer(&decide(&w, &renew))).is_empty());
    assert!(!granted(answer(&decide(&w, &rebind))).is_empty());
    crate::dhcp::fixture::edit_network(&state, |n| n.authoritative = false).await;
    let w = state.snapshot();
    let d = decide(&w, &renew);
    let Decision6::Reply(r) = &d else { panic!("{d:?}") };
    let ia = r.opts().get_all(OptionCode::IANA).unwrap_or_default();
    assert!(
        matches!(ia, [DhcpOption::IANA(ia)] if ia.id == 3 && matches!(ia.opts.get(OptionCode::StatusCode), Some(DhcpOption::StatusCode(s)) if s.status == Status::NoBinding)),
        "{r:?}"
    );
    assert!(granted(r).is_empty());
    assert!(matches!(decide(&w, &rebind), Decision6::Ignore(Skip6::NotAuthoritative)));
    // The node keeps its own address whatever the network says.
    let node = duid_ll(NODE_MAC);
    assert!(!granted(answer(&decide(&w, &msg(MessageType::Rebind, &node, 1, None)))).is_empty());
}

/// Bindings folded into one write operation (`dhcp::fold`) are kept or
/// refused each on its own: a reply refused for its second address, or
/// for the stranger cap, leaves none of its leases for the next binding
/// to see, and the bindings around it are kept.
#[tokio::test]
async fn a_refused_binding_in_a_fold_leaves_nothing_and_its_neighbours_stay() {
    let (_dir, state) = world().await;
    let lease = |n: u16, who: u8, iaid: u32| Lease6 {
        addr: format!("fd00:9:0:1:ffff::{n:x}").parse().unwrap(),
        duid: Some(Duid::new(&duid_ll(&format!("02:00:00:00:04:{who:02x}"))).unwrap()),
        iaid,
        network: "n".into(),
        node: None,
        port: None,
        expires_at: 9999,
        written_us: 0,
    };
    let outcomes = state
        .write(move |t| {
            Ok::<_, crate::state::StateError>(vec![
                lease6::bind(t, vec![lease(1, 1, 1)], 1000, 4).is_ok(),
                // Its first address is free, its second is the first client's.
                lease6::bind(t, vec![lease(2, 2, 1), lease(1, 2, 2)], 1000, 4).is_ok(),
                lease6::bind(t, vec![lease(3, 3, 1)], 1000, 4).is_ok(),
                // Two new strangers where the cap leaves room for one.
                lease6::bind(t, vec![lease(4, 4, 1), lease(5, 4, 2)], 1000, 3).is_ok(),
                lease6::bind(t, vec![lease(6, 5, 1)], 1000, 3).is_ok(),
            ])
        })
        .await
        .unwrap();
    assert_eq!(outcomes, [true, false, true, false, true]);
    let w = state.snapshot();
    let held: Vec<u16> = w.table::<Lease6>().iter().map(|l| (u128::from(l.addr) & 0xffff) as u16).collect();
    assert_eq!(held, [1, 3, 6], "a refused reply left a lease");
    assert_eq!(w.table::<Lease6>().strangers_on("n"), 3);
}

/// Bindings are stored in the order they were written (their row key is
/// the write time, then the address), whatever their hashed addresses: a
/// fold of new bindings appends to the store instead of dirtying a page
/// each. A renewal moves its row to the end, leaving none behind.
#[tokio::test]
async fn bindings_are_stored_in_write_order_and_a_renewal_moves_its_row() {
    let (dir, state) = world().await;
    let lease =
        |tail: &str, who: u8| stranger_lease(&format!("fd00:9:0:1:ffff::{tail}"), &format!("02:00:00:00:05:{who:02x}"));
    // Addresses falling in key order, written one after the other.
    for (tail, who) in [("9", 1), ("5", 2), ("1", 3)] {
        let l = lease(tail, who);
        state.write(move |t| lease6::bind(t, vec![l], 1000, u32::MAX)).await.unwrap();
    }
    let renewed = lease("9", 1);
    state.write(move |t| lease6::bind(t, vec![renewed], 1000, u32::MAX)).await.unwrap();
    let w = state.snapshot();
    let stamps: Vec<u64> = ["9", "5", "1"]
        .map(|t| w.table::<Lease6>().get(&format!("fd00:9:0:1:ffff::{t}").parse().unwrap()).unwrap().written_us)
        .to_vec();
    assert!(stamps.iter().all(|s| *s > 0), "bind stamps the write time: {stamps:?}");
    state.close().await;
    let store = crate::state::store::redb::RedbStore::open(&dir.path().join(crate::state::store::redb::FILE)).unwrap();
    let mut rows = Vec::new();
    crate::state::Store::scan(&store, "leases6", &mut |k, _| {
        rows.push(k.to_string());
        Ok(())
    })
    .unwrap();
    let tails: Vec<&str> = rows.iter().map(|k| k.rsplit(':').next().unwrap_or_default()).collect();
    assert_eq!(tails, ["0005", "0001", "0009"], "rows in write order, the renewed one last: {rows:?}");
    assert_eq!(rows[2], format!("{:020}/fd00:0009:0000:0001:ffff:0000:0000:0009", stamps[0]));
}
