//! DHCPv4 leases: the record (one address held by one client on one
//! network), the client's identity (its client identifier, option 61, when
//! it sends one, else its hardware address: RFC 2131 4.2), the indexes by
//! client and by MAC, the operations the server commits (a lease, a
//! release, a decline's quarantine), and what happens to leases when the
//! node or network they belong to is deleted (registered as cascades, so
//! the inventory need not know leases exist).

use std::net::Ipv4Addr;
use std::sync::Arc;

use imbl::OrdMap;
use serde::{Deserialize, Serialize};

use crate::inventory::network::Network;
use crate::inventory::node::Node;
use crate::state::{record, Index, Schema, StateError, Table, Txn, World};
use crate::types::mac::Mac;
use crate::types::port::SwitchPort;

/// The MAC that holds quarantined (declined) addresses.
pub(crate) const DECLINED: Mac = Mac([0; 6]);

/// A client identifier (option 61), as the client sent it.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct ClientId(Arc<[u8]>);

impl ClientId {
    /// Option 61's value; `None` unless it is 2 to 255 bytes (RFC 2132 9.14).
    pub(crate) fn new(bytes: &[u8]) -> Option<ClientId> {
        (2..=255).contains(&bytes.len()).then(|| ClientId(bytes.into()))
    }
}

impl std::fmt::Display for ClientId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        crate::types::hex::write(f, &self.0, false)
    }
}

impl std::fmt::Debug for ClientId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ClientId({self})")
    }
}

impl Serialize for ClientId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ClientId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<ClientId, D::Error> {
        let text = String::deserialize(d)?;
        crate::types::hex::parse(&text)
            .and_then(|b| ClientId::new(&b))
            .ok_or_else(|| serde::de::Error::custom("not a client identifier"))
    }
}

/// Who holds a lease: the client identifier when the client sent one,
/// else its MAC.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) enum ClientKey {
    Id(ClientId),
    Mac(Mac),
}

impl ClientKey {
    pub(crate) fn new(id: Option<ClientId>, mac: Mac) -> ClientKey {
        id.map_or(ClientKey::Mac(mac), ClientKey::Id)
    }
}

/// A DHCPv4 lease.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Lease {
    pub(crate) ip: Ipv4Addr,
    pub(crate) mac: Mac,
    /// The client identifier it sent (option 61), which then names the
    /// client instead of `mac`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) client_id: Option<ClientId>,
    pub(crate) network: String,
    pub(crate) hostname: Option<String>,
    /// The switch port its relay named (option 82), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) port: Option<SwitchPort>,
    /// Unix seconds.
    pub(crate) expires_at: u64,
}

/// A network's place in [`LeaseIndex::names`].
type NetIx = usize;

/// The addresses one client holds, one per network. Almost always one,
/// held inline: copying an index node (copy on write, once per write that
/// touches it) then copies bytes, with no reference count to change and
/// nothing to free when the old node goes. Several share a slice.
#[derive(Clone)]
enum ClientLeases {
    One((NetIx, Ipv4Addr)),
    Many(Arc<[(NetIx, Ipv4Addr)]>),
}

impl ClientLeases {
    fn of(mut held: Vec<(NetIx, Ipv4Addr)>) -> Option<ClientLeases> {
        match held.len() {
            0 => None,
            1 => held.pop().map(ClientLeases::One),
            _ => Some(ClientLeases::Many(held.into())),
        }
    }

    fn as_slice(&self) -> &[(NetIx, Ipv4Addr)] {
        match self {
            ClientLeases::One(one) => std::slice::from_ref(one),
            ClientLeases::Many(many) => many,
        }
    }
}

impl Lease {
    /// Who holds it.
    pub(crate) fn key(&self) -> ClientKey {
        ClientKey::new(self.client_id.clone(), self.mac)
    }
}

/// Lease by client identifier (for clients that sent one) and by MAC (for
/// every lease: a client without identifier is found there, and the node
/// whose MAC it is, whatever identifier its clients used). Networks are
/// named by their place in `names`, which holds each name once.
#[derive(Clone, Default)]
pub(crate) struct LeaseIndex {
    by_id: OrdMap<ClientId, ClientLeases>,
    by_mac: OrdMap<Mac, ClientLeases>,
    /// Every network ever leased on, in the order first seen: few,
    /// searched in order, and shared between copies of the index.
    names: Arc<[Arc<str>]>,
}

/// Adds `ip` on network `net` under `key`; `one_per_network`: replacing
/// what `key` held on the same network (a client holds one lease per
/// network; a MAC may be behind several client identifiers).
fn link<K: Ord + Clone>(map: &mut OrdMap<K, ClientLeases>, key: &K, net: NetIx, ip: Ipv4Addr, one_per_network: bool) {
    let stays = |&(n, held): &(NetIx, Ipv4Addr)| held != ip && (!one_per_network || n != net);
    let held = match map.get(key) {
        // Something stays beside the new one: several.
        Some(h) if h.as_slice().iter().any(stays) => {
            let mut held: Vec<_> = h.as_slice().iter().copied().filter(stays).collect();
            held.push((net, ip));
            ClientLeases::Many(held.into())
        }
        _ => ClientLeases::One((net, ip)),
    };
    map.insert(key.clone(), held);
}

/// Removes `ip` on network `net` from what `key` holds.
fn unlink<K: Ord + Clone>(map: &mut OrdMap<K, ClientLeases>, key: &K, net: NetIx, ip: Ipv4Addr) {
    let Some(held) = map.get(key) else { return };
    if !held.as_slice().contains(&(net, ip)) {
        return;
    }
    let rest = held.as_slice().iter().copied().filter(|h| *h != (net, ip)).collect();
    match ClientLeases::of(rest) {
        Some(rest) => {
            map.insert(key.clone(), rest);
        }
        None => {
            map.remove(key);
        }
    }
}

impl Index<Lease> for LeaseIndex {
    fn inserted(&mut self, old: Option<&Lease>, new: &Lease) {
        if let Some(old) = old {
            self.removed(old);
        }
        let net = self.ix_or_add(&new.network);
        if let Some(id) = &new.client_id {
            link(&mut self.by_id, id, net, new.ip, true);
        }
        link(&mut self.by_mac, &new.mac, net, new.ip, false);
    }

    fn removed(&mut self, old: &Lease) {
        // A network never seen holds no lease.
        let Some(net) = self.ix(&old.network) else { return };
        if let Some(id) = &old.client_id {
            unlink(&mut self.by_id, id, net, old.ip);
        }
        unlink(&mut self.by_mac, &old.mac, net, old.ip);
    }
}

impl LeaseIndex {
    /// Where `network` is in `names`, if it was ever leased on.
    fn ix(&self, network: &str) -> Option<NetIx> {
        self.names.iter().position(|n| **n == *network)
    }

    /// Where `network` is in `names`, added if new (kept while the process
    /// runs: one per network ever leased on).
    fn ix_or_add(&mut self, network: &str) -> NetIx {
        if let Some(i) = self.ix(network) {
            return i;
        }
        let mut names = self.names.to_vec();
        names.push(Arc::from(network));
        self.names = names.into();
        self.names.len() - 1
    }
}

record!(Lease, kind = "lease", table = "leases", key = ip: Ipv4Addr, index = LeaseIndex);

impl Table<Lease> {
    /// The lease `client` holds on `network`, expired or not.
    pub(crate) fn of(&self, network: &str, client: &ClientKey) -> Option<&Arc<Lease>> {
        let net = self.index().ix(network)?;
        match client {
            ClientKey::Id(id) => {
                let held = self.index().by_id.get(id)?;
                held.as_slice().iter().find(|(n, _)| *n == net).and_then(|(_, ip)| self.get(ip))
            }
            // A client without identifier: its MAC's lease that no
            // identifier holds.
            ClientKey::Mac(mac) => self
                .index()
                .by_mac
                .get(mac)?
                .as_slice()
                .iter()
                .filter(|(n, _)| *n == net)
                .find_map(|(_, ip)| self.get(ip).filter(|l| l.client_id.is_none())),
        }
    }

    /// Every lease held with hardware address `mac`, on any network.
    fn all_of<'a>(&'a self, mac: &Mac) -> impl Iterator<Item = Ipv4Addr> + 'a {
        self.index().by_mac.get(mac).into_iter().flat_map(|held| held.as_slice().iter().map(|(_, ip)| *ip))
    }
}

/// A lease the transaction refused.
#[derive(Debug, thiserror::Error)]
pub(crate) enum LeaseError {
    /// Someone else holds the address (a node's static address, or an
    /// unexpired lease of another client).
    #[error("{0} is held by another client")]
    Taken(Ipv4Addr),
    /// The node reserved on the client's port could not take its MAC (a
    /// node was given that MAC meanwhile).
    #[error("node `{node}` cannot learn MAC {mac} in its port")]
    NotLearned {
        mac: Mac,
        node: String,
        #[source]
        source: Box<crate::inventory::error::InventoryError>,
    },
    #[error(transparent)]
    State(#[from] StateError),
}

/// Whether `ip` is spoken for by someone other than `client` (whose
/// hardware address is `mac`): a node's static address, or another
/// client's unexpired lease. A node's own static address is never taken
/// from it: a lease left there by a node that was re-addressed (kept until
/// that client's next request) gives way.
pub(crate) fn taken_by_other(w: &World, ip: Ipv4Addr, client: &ClientKey, mac: &Mac, now: u64) -> bool {
    if let Some(n) = w.table::<Node>().by_ip(ip) {
        return !n.macs.contains(mac);
    }
    matches!(w.table::<Lease>().get(&ip), Some(l) if l.key() != *client && l.expires_at > now)
}

/// Whether `ip` is held by an unexpired lease.
pub(crate) fn leased(w: &World, ip: Ipv4Addr, now: u64) -> bool {
    matches!(w.table::<Lease>().get(&ip), Some(l) if l.expires_at > now)
}

/// Records a lease; the client's previous lease on the same network (at
/// another address) is released in the same transaction.
pub(crate) fn put(txn: &mut Txn<'_>, lease: Lease, now: u64) -> Result<Arc<Lease>, LeaseError> {
    let key = lease.key();
    if taken_by_other(txn.world(), lease.ip, &key, &lease.mac, now) {
        return Err(LeaseError::Taken(lease.ip));
    }
    if let Some(prev) = txn.world().table::<Lease>().of(&lease.network, &key).map(|l| l.ip) {
        if prev != lease.ip {
            txn.delete::<Lease, _>(&prev)?;
        }
    }
    Ok(txn.put(lease)?)
}

/// The client gave its address back.
pub(crate) fn release(txn: &mut Txn<'_>, ip: Ipv4Addr, client: &ClientKey) -> Result<(), LeaseError> {
    if txn.world().table::<Lease>().get(&ip).is_some_and(|l| l.key() == *client) {
        txn.delete::<Lease, _>(&ip)?;
    }
    Ok(())
}

/// Client `mac` found `ip`, which it was leased, in use: nobody gets it
/// until `until`. Refused for an address held by anyone else (a node's
/// static address, another client's lease): a DECLINE is not a way to
/// take an address from its holder.
pub(crate) fn quarantine(
    txn: &mut Txn<'_>,
    ip: Ipv4Addr,
    client: &ClientKey,
    network: String,
    until: u64,
) -> Result<(), LeaseError> {
    let w = txn.world();
    let held_by_other = w.table::<Lease>().get(&ip).is_some_and(|l| l.key() != *client && l.mac != DECLINED);
    if held_by_other || w.table::<Node>().by_ip(ip).is_some() {
        return Err(LeaseError::Taken(ip));
    }
    txn.delete::<Lease, _>(&ip)?;
    txn.put(Lease { ip, mac: DECLINED, client_id: None, network, hostname: None, port: None, expires_at: until })?;
    Ok(())
}

/// A deleted node's leases go with it: those of its MACs, and any at its
/// static address.
fn node_deleted(txn: &mut Txn<'_>, node: &Node) -> Result<(), StateError> {
    let leases = txn.world().table::<Lease>();
    let mut ips: Vec<Ipv4Addr> = node.macs.iter().flat_map(|m| leases.all_of(m)).collect();
    ips.extend(node.ipv4.filter(|ip| leases.contains(ip)));
    for ip in ips {
        txn.delete::<Lease, _>(&ip)?;
    }
    Ok(())
}

/// A deleted network's leases go with it.
fn network_deleted(txn: &mut Txn<'_>, net: &Network) -> Result<(), StateError> {
    let ips: Vec<Ipv4Addr> =
        txn.world().table::<Lease>().iter().filter(|l| l.network == net.name).map(|l| l.ip).collect();
    for ip in ips {
        txn.delete::<Lease, _>(&ip)?;
    }
    Ok(())
}

/// A renamed node's leases carry its new name.
fn node_renamed(txn: &mut Txn<'_>, old: &Node, new: &Node) -> Result<(), StateError> {
    let leases = txn.world().table::<Lease>();
    let named: Vec<Lease> = old
        .macs
        .iter()
        .flat_map(|m| leases.all_of(m))
        .filter_map(|ip| leases.get(&ip))
        .filter(|l| l.hostname.as_deref() == Some(old.name.as_str()))
        .map(|l| (**l).clone())
        .collect();
    for l in named {
        txn.put(Lease { hostname: Some(new.name.clone()), ..l })?;
    }
    Ok(())
}

/// Registers leases and their cascades.
pub(crate) fn register(schema: &mut Schema) {
    schema
        .register::<Lease>()
        .on_delete::<Node>(node_deleted)
        .on_delete::<Network>(network_deleted)
        .on_rekey::<Node>(node_renamed);
}

crate::types::schema::string_valued!(
    ClientId,
    "A DHCPv4 client identifier (option 61) as colon-separated hex pairs.",
    Some("^[0-9a-f]{2}(:[0-9a-f]{2})+$")
);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::bootenv::{BootKind, Bootenv};
    use crate::state::State;

    /// A node with one MAC, on network `a` when it has an address.
    fn node(name: &str, mac: Mac, ipv4: Option<&str>) -> Node {
        Node {
            network: ipv4.map(|_| "a".into()),
            ipv4: ipv4.map(|ip| ip.parse().unwrap()),
            ..Node::bare(name, vec![mac], "local")
        }
    }

    fn lease(ip: &str, mac: Mac, network: &str) -> Lease {
        Lease {
            ip: ip.parse().unwrap(),
            mac,
            client_id: None,
            network: network.into(),
            hostname: None,
            port: None,
            expires_at: 1000,
        }
    }

    /// A store with the inventory's kinds and leases, in a directory of its own.
    fn open() -> (tempfile::TempDir, State) {
        let dir = tempfile::tempdir().unwrap();
        let mut schema = Schema::new(1);
        crate::inventory::register(&mut schema);
        register(&mut schema);
        let state = State::open_dir(dir.path(), schema).unwrap();
        (dir, state)
    }

    /// The index follows a MAC from one lease to several (two networks;
    /// on one of them a client identifier beside the bare MAC) and back to
    /// none, and each client finds its own lease on each network throughout.
    #[tokio::test]
    async fn the_index_follows_a_mac_through_one_several_and_no_leases() {
        let (_dir, state) = open();
        let m = Mac([2, 0, 0, 0, 0, 9]);
        let id = ClientId::new(&[1, 2, 0, 0, 0, 0, 9]).unwrap();
        let with_id = |ip: &str, net: &str| Lease { client_id: Some(id.clone()), ..lease(ip, m, net) };
        let (a1, b1, a2) = (with_id("10.1.0.5", "a"), lease("10.2.0.5", m, "b"), lease("10.1.0.9", m, "a"));
        state
            .write(move |t| {
                put(t, a1, 0)?;
                put(t, b1, 0)?;
                put(t, a2, 0)?;
                Ok::<_, LeaseError>(())
            })
            .await
            .unwrap();
        let ip = |l: Option<&Arc<Lease>>| l.map(|l| l.ip.to_string());
        let (by_id, by_mac) = (ClientKey::Id(id.clone()), ClientKey::Mac(m));
        let w = state.snapshot();
        let leases = w.table::<Lease>();
        assert_eq!(ip(leases.of("a", &by_id)).as_deref(), Some("10.1.0.5"));
        assert_eq!(ip(leases.of("a", &by_mac)).as_deref(), Some("10.1.0.9"), "the MAC's own lease, not the id's");
        assert_eq!(ip(leases.of("b", &by_mac)).as_deref(), Some("10.2.0.5"));
        assert!(leases.of("b", &by_id).is_none() && leases.of("c", &by_mac).is_none());
        let mut all: Vec<String> = leases.all_of(&m).map(|ip| ip.to_string()).collect();
        all.sort();
        assert_eq!(all, ["10.1.0.5", "10.1.0.9", "10.2.0.5"]);
        let ips = ["10.1.0.5", "10.2.0.5", "10.1.0.9"].map(|ip| ip.parse::<Ipv4Addr>().unwrap());
        let clients = [by_id.clone(), by_mac.clone(), by_mac.clone()];
        for (n, (ip_, client)) in ips.into_iter().zip(clients).enumerate() {
            state.write(move |t| release(t, ip_, &client)).await.unwrap();
            let w = state.snapshot();
            let left: Vec<Ipv4Addr> = w.table::<Lease>().all_of(&m).collect();
            assert_eq!(left.len(), 2 - n, "after {} releases: {left:?}", n + 1);
            assert!(!left.contains(&ip_));
        }
        let w = state.snapshot();
        assert!(w.table::<Lease>().index().by_mac.is_empty() && w.table::<Lease>().index().by_id.is_empty());
        state.close().await;
    }

    #[tokio::test]
    async fn a_client_holds_one_lease_per_network_and_loses_them_with_its_node() {
        let (_dir, state) = open();
        let m = Mac([2, 0, 0, 0, 0, 1]);
        let other = Mac([2, 0, 0, 0, 0, 2]);
        state
            .write(move |t| {
                put(t, lease("10.1.0.5", m, "a"), 0)?;
                put(t, lease("10.2.0.5", m, "b"), 0)?;
                // A new address on network a releases the old one there.
                put(t, lease("10.1.0.6", m, "a"), 0)?;
                put(t, lease("10.1.0.7", other, "a"), 0)?;
                Ok::<_, LeaseError>(())
            })
            .await
            .unwrap();
        let w = state.snapshot();
        let leases = w.table::<Lease>();
        let km = ClientKey::Mac(m);
        assert_eq!(leases.of("a", &km).map(|l| l.ip.to_string()).as_deref(), Some("10.1.0.6"));
        assert_eq!(leases.of("b", &km).map(|l| l.ip.to_string()).as_deref(), Some("10.2.0.5"));
        assert!(leases.get(&"10.1.0.5".parse::<Ipv4Addr>().unwrap()).is_none());
        let taken = state.write(move |t| put(t, lease("10.1.0.6", other, "a"), 0)).await;
        assert!(matches!(taken, Err(LeaseError::Taken(_))), "{taken:?}");
        // A DECLINE quarantines the decliner's own address, not another's.
        let stolen =
            state.write(move |t| quarantine(t, "10.1.0.7".parse().unwrap(), &ClientKey::Mac(m), "a".into(), 600)).await;
        assert!(matches!(stolen, Err(LeaseError::Taken(_))), "{stolen:?}");
        state
            .write(move |t| quarantine(t, "10.2.0.5".parse().unwrap(), &ClientKey::Mac(m), "b".into(), 600))
            .await
            .unwrap();
        let w = state.snapshot();
        let held = w.table::<Lease>().get(&"10.2.0.5".parse::<Ipv4Addr>().unwrap()).map(|l| l.mac);
        assert_eq!(held, Some(DECLINED));
        assert_eq!(w.table::<Lease>().get(&"10.1.0.7".parse::<Ipv4Addr>().unwrap()).map(|l| l.mac), Some(other));
        // The node that has MAC m is deleted: its leases on both networks go.
        state
            .write(move |t| {
                t.put(Bootenv {
                    name: "local".into(),
                    description: String::new(),
                    os: String::new(),
                    kind: BootKind::Local,
                    kernel: None,
                    initrds: vec![],
                    kernel_params: String::new(),
                    ipxe: String::new(),
                    grub: String::new(),
                    templates: Default::default(),
                    image: None,
                    requires: Default::default(),
                })?;
                t.put(node("n.x", m, None))?;
                t.delete::<Node, _>("n.x")
            })
            .await
            .unwrap();
        let w = state.snapshot();
        let leases = w.table::<Lease>();
        assert!(leases.of("a", &ClientKey::Mac(m)).is_none());
        assert_eq!(leases.iter().filter(|l| l.mac == other).count(), 1, "the other client's lease stays");
        // A node whose static address still holds another client's lease
        // (a re-addressed node's, until its next request) gets it anyway.
        let newcomer = Mac([2, 0, 0, 0, 0, 3]);
        state
            .write(move |t| {
                t.put(node("b.x", newcomer, Some("10.1.0.7")))?;
                put(t, Lease { hostname: Some("b.x".into()), ..lease("10.1.0.7", newcomer, "a") }, 0)?;
                Ok::<_, LeaseError>(())
            })
            .await
            .unwrap();
        let w = state.snapshot();
        assert_eq!(w.table::<Lease>().get(&"10.1.0.7".parse::<Ipv4Addr>().unwrap()).map(|l| l.mac), Some(newcomer));
        // Renamed: its lease carries the new name.
        state
            .write(move |t| {
                let mut n = (**t.world().table::<Node>().get("b.x").unwrap()).clone();
                n.name = "c.x".into();
                t.rekey::<Node, _>("b.x", n)
            })
            .await
            .unwrap();
        let w = state.snapshot();
        let l = w.table::<Lease>().get(&"10.1.0.7".parse::<Ipv4Addr>().unwrap()).cloned();
        assert_eq!(l.and_then(|l| l.hostname.clone()).as_deref(), Some("c.x"));
        state.close().await;
    }
}
