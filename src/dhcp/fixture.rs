//! The world the DHCP decision tests run against (tests only): the
//! `local` and `discovery` bootenvs, one network `n` (10.9.0.0/24, static
//! 10.9.0.10-20, domain t.test), shaped by each test, and one node,
//! `known.t.test`, with MAC 52:54:00:00:00:aa and 10.9.0.10, booting
//! discovery.

use crate::inventory::bootenv::{BootKind, Bootenv};
use crate::inventory::network::Network;
use crate::inventory::node::Node;
use crate::state::{Schema, State, StateError};
use crate::types::range::Range;

/// The known node's MAC.
pub(crate) const NODE_MAC: &str = "52:54:00:00:00:aa";

/// Network `n` with nothing but what every test needs; each test sets the rest.
pub(crate) fn network() -> Network {
    Network {
        name: "n".into(),
        id: 1,
        subnet: "10.9.0.0/24".parse().expect("fixture"),
        router: None,
        dynamic: None,
        static_range: Range {
            start: "10.9.0.10".parse().expect("fixture"),
            end: "10.9.0.20".parse().expect("fixture"),
        },
        domain: "t.test".into(),
        dns_servers: vec![],
        v6prefix: None,
        ra: Default::default(),
        slaac: false,
        authoritative: true,
        unknown_clients: Default::default(),
        dhcp: Default::default(),
        uefi_loader: None,
        bios_loader: None,
        interface: None,
        server: None,
        lease_seconds: 600,
        mtu: 1500,
    }
}

/// A store in a temporary directory holding the fixture, with `net` as `n`.
pub(crate) async fn world(net: Network) -> (tempfile::TempDir, State) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut schema = Schema::new(1);
    crate::inventory::register(&mut schema);
    crate::dhcp::register(&mut schema);
    let state = State::open_dir(dir.path(), schema).expect("store");
    state
        .write(move |t| {
            for (name, kind) in [("local", BootKind::Local), ("discovery", BootKind::Network)] {
                t.put(Bootenv {
                    name: name.into(),
                    description: String::new(),
                    os: String::new(),
                    kind,
                    kernel: Some("k".into()),
                    initrds: vec![],
                    kernel_params: String::new(),
                    ipxe: String::new(),
                    grub: String::new(),
                    templates: Default::default(),
                    image: None,
                    requires: Default::default(),
                })?;
            }
            t.put(net)?;
            t.put(Node {
                network: Some("n".into()),
                ipv4: Some("10.9.0.10".parse().expect("fixture")),
                ..Node::bare("known.t.test", vec![NODE_MAC.parse().expect("fixture")], "discovery")
            })?;
            Ok::<_, StateError>(())
        })
        .await
        .expect("fixture written");
    (dir, state)
}

/// Changes the known node with `f`.
pub(crate) async fn edit_node(state: &State, f: impl FnOnce(&mut Node) + Send + 'static) {
    state
        .write(move |t| {
            let mut n = (**t.world().table::<Node>().get("known.t.test").expect("fixture node")).clone();
            f(&mut n);
            t.put(n)
        })
        .await
        .expect("node changed");
}

/// Reserves the known node on port `Gi1/0/7` of the relay with
/// remote-id `leaf-3`.
pub(crate) async fn reserve_port(state: &State) {
    use crate::types::port::{AgentId, SwitchPort};
    edit_node(state, |n| {
        n.port = Some(SwitchPort {
            circuit_id: AgentId::parse("Gi1/0/7").expect("fixture"),
            remote_id: Some(AgentId::parse("leaf-3").expect("fixture")),
        })
    })
    .await;
}

/// Changes network `n` with `f`.
pub(crate) async fn edit_network(state: &State, f: impl FnOnce(&mut Network) + Send + 'static) {
    state
        .write(move |t| {
            let mut n = (**t.world().table::<Network>().get("n").expect("fixture network")).clone();
            f(&mut n);
            t.put(n)
        })
        .await
        .expect("network changed");
}
