//! The DHCPv6 relay envelope (RFC 8415 section 9): unwrapping a
//! RELAY-FORW, nested to any depth up to the hop limit, down to the
//! client's message, and wrapping the answer in the matching RELAY-REPLs
//! with each relay's interface-id echoed.
//!
//! Written here rather than taken from dhcproto: dhcproto 0.15 decodes the
//! relay-message option (9) always as another relay message, so the
//! client's SOLICIT inside every RELAY-FORW comes out as garbage (its
//! transaction id read as a hop count, its options as addresses). Only the
//! envelope is ours; the client's message is decoded by dhcproto.

use std::net::Ipv6Addr;

/// RELAY-FORW and RELAY-REPL message types.
pub(crate) const RELAY_FORW: u8 = 12;
pub(crate) const RELAY_REPL: u8 = 13;
/// Option codes the envelope uses.
const OPT_RELAY_MSG: u16 = 9;
const OPT_INTERFACE_ID: u16 = 18;
const OPT_REMOTE_ID: u16 = 37;
const OPT_CLIENT_LINKLAYER: u16 = 79;
/// RFC 8415 section 7.6: HOP_COUNT_LIMIT.
pub(crate) const HOP_COUNT_LIMIT: u8 = 8;

/// One relay a message passed through, outermost first in [`Unwrapped`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Hop {
    pub(crate) hop_count: u8,
    pub(crate) link_addr: Ipv6Addr,
    pub(crate) peer_addr: Ipv6Addr,
    pub(crate) interface_id: Option<Vec<u8>>,
    /// RFC 4649: the relay's remote-id, without its enterprise number.
    pub(crate) remote_id: Option<Vec<u8>>,
    /// RFC 6939: the client's link-layer type and address, as the relay
    /// next to it saw them.
    pub(crate) client_linklayer: Option<(u16, Vec<u8>)>,
}

/// A datagram with its relay envelope taken off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Unwrapped<'a> {
    /// The relays, outermost (the one that sent us the datagram) first.
    pub(crate) hops: Vec<Hop>,
    /// The client's message.
    pub(crate) inner: &'a [u8],
}

/// Why an envelope was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum RelayError {
    #[error("truncated relay message")]
    Truncated,
    #[error("relay message without a relay-message option")]
    NoRelayMessage,
    #[error("relayed through more than {HOP_COUNT_LIMIT} relays")]
    TooManyHops,
}

impl RelayError {
    /// The reason's label in `/metrics`.
    pub(crate) fn label(self) -> &'static str {
        match self {
            RelayError::Truncated => "relay_truncated",
            RelayError::NoRelayMessage => "relay_no_message",
            RelayError::TooManyHops => "relay_hops",
        }
    }
}

/// The options of a message body, as (code, value) pairs; `None` if an
/// option runs past the end.
fn options(mut b: &[u8]) -> Option<Vec<(u16, &[u8])>> {
    let mut out = Vec::new();
    while !b.is_empty() {
        let code = u16::from_be_bytes([*b.first()?, *b.get(1)?]);
        let len = usize::from(u16::from_be_bytes([*b.get(2)?, *b.get(3)?]));
        let value = b.get(4..4 + len)?;
        out.push((code, value));
        b = &b[4 + len..];
    }
    Some(out)
}

fn addr(b: &[u8]) -> Ipv6Addr {
    let mut a = [0u8; 16];
    a.copy_from_slice(b);
    Ipv6Addr::from(a)
}

/// Takes the relay envelope off a datagram (a client's own message comes
/// back with no hops).
pub(crate) fn unwrap(datagram: &[u8]) -> Result<Unwrapped<'_>, RelayError> {
    let mut hops = Vec::new();
    let mut msg = datagram;
    while msg.first() == Some(&RELAY_FORW) {
        if hops.len() >= usize::from(HOP_COUNT_LIMIT) {
            return Err(RelayError::TooManyHops);
        }
        let head = msg.get(..34).ok_or(RelayError::Truncated)?;
        let opts = options(&msg[34..]).ok_or(RelayError::Truncated)?;
        let find = |code: u16| opts.iter().find(|(c, _)| *c == code).map(|(_, v)| *v);
        let client_linklayer = find(OPT_CLIENT_LINKLAYER)
            .filter(|v| v.len() > 2)
            .map(|v| (u16::from_be_bytes([v[0], v[1]]), v[2..].to_vec()));
        hops.push(Hop {
            hop_count: head[1],
            link_addr: addr(&head[2..18]),
            peer_addr: addr(&head[18..34]),
            interface_id: find(OPT_INTERFACE_ID).map(<[u8]>::to_vec),
            remote_id: find(OPT_REMOTE_ID).and_then(|v| v.get(4..)).filter(|id| !id.is_empty()).map(<[u8]>::to_vec),
            client_linklayer,
        });
        msg = find(OPT_RELAY_MSG).ok_or(RelayError::NoRelayMessage)?;
    }
    if msg.is_empty() {
        return Err(RelayError::Truncated);
    }
    Ok(Unwrapped { hops, inner: msg })
}

fn push_option(out: &mut Vec<u8>, code: u16, value: &[u8]) {
    out.extend_from_slice(&code.to_be_bytes());
    // Values here are at most a datagram long.
    out.extend_from_slice(&(value.len().min(usize::from(u16::MAX)) as u16).to_be_bytes());
    out.extend_from_slice(value);
}

/// Wraps the server's answer in one RELAY-REPL per hop, innermost first,
/// so that the outermost goes back to the relay that sent the request.
pub(crate) fn wrap(hops: &[Hop], answer: Vec<u8>) -> Vec<u8> {
    hops.iter().rev().fold(answer, |inner, hop| {
        let mut out = Vec::with_capacity(inner.len() + 64);
        out.push(RELAY_REPL);
        out.push(hop.hop_count);
        out.extend_from_slice(&hop.link_addr.octets());
        out.extend_from_slice(&hop.peer_addr.octets());
        if let Some(id) = &hop.interface_id {
            push_option(&mut out, OPT_INTERFACE_ID, id);
        }
        push_option(&mut out, OPT_RELAY_MSG, &inner);
        out
    })
}

/// Wraps `inner` in a RELAY-FORW, as a relay would (for tests).
#[cfg(test)]
pub(crate) fn forward(hop: &Hop, inner: &[u8]) -> Vec<u8> {
    let mut out = vec![RELAY_FORW, hop.hop_count];
    out.extend_from_slice(&hop.link_addr.octets());
    out.extend_from_slice(&hop.peer_addr.octets());
    if let Some(id) = &hop.interface_id {
        push_option(&mut out, OPT_INTERFACE_ID, id);
    }
    if let Some(id) = &hop.remote_id {
        // Enterprise number 9 (Cisco), as switches send it.
        push_option(&mut out, OPT_REMOTE_ID, &[&[0, 0, 0, 9], &id[..]].concat());
    }
    if let Some((htype, ll)) = &hop.client_linklayer {
        let mut v = htype.to_be_bytes().to_vec();
        v.extend_from_slice(ll);
        push_option(&mut out, OPT_CLIENT_LINKLAYER, &v);
    }
    push_option(&mut out, OPT_RELAY_MSG, inner);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hop(n: u8, id: Option<&[u8]>) -> Hop {
        Hop {
            hop_count: n,
            link_addr: format!("fd00:{n}::1").parse().unwrap(),
            peer_addr: format!("fe80::{n}").parse().unwrap(),
            interface_id: id.map(<[u8]>::to_vec),
            remote_id: None,
            client_linklayer: (n == 0).then(|| (1, vec![0x52, 0x54, 0, 0, 0, 1])),
        }
    }

    #[test]
    fn nested_relays_unwrap_and_the_reply_retraces_them() {
        let solicit = [1u8, 0xaa, 0xbb, 0xcc, 0, 8, 0, 2, 0, 0];
        let inner = forward(&hop(0, Some(b"port7")), &solicit);
        let outer = forward(&hop(1, None), &inner);
        let u = unwrap(&outer).unwrap();
        assert_eq!(u.inner, &solicit);
        assert_eq!(u.hops, vec![hop(1, None), hop(0, Some(b"port7"))]);
        assert_eq!(u.hops[1].client_linklayer, Some((1, vec![0x52, 0x54, 0, 0, 0, 1])));

        // A remote-id comes without its enterprise number; an empty one is none.
        let with_remote = Hop { remote_id: Some(b"leaf-3".to_vec()), ..hop(0, Some(b"port7")) };
        assert_eq!(unwrap(&forward(&with_remote, &solicit)).unwrap().hops, vec![with_remote]);
        let empty_remote = Hop { remote_id: Some(Vec::new()), ..hop(0, None) };
        assert_eq!(unwrap(&forward(&empty_remote, &solicit)).unwrap().hops[0].remote_id, None);

        let reply = wrap(&u.hops, vec![7, 0xaa, 0xbb, 0xcc]);
        assert_eq!(reply[0], RELAY_REPL);
        let as_forw = [&[RELAY_FORW], &reply[1..]].concat();
        let back = unwrap(&as_forw).unwrap();
        assert_eq!(back.hops.len(), 1, "the outer RELAY-REPL holds the inner one");
        assert_eq!(back.hops[0].peer_addr, hop(1, None).peer_addr);
        // The inner RELAY-REPL echoes the interface-id of the relay next to the client.
        let inner_repl = back.inner;
        assert_eq!(inner_repl[0], RELAY_REPL);
        let inner_as_forw = [&[RELAY_FORW], &inner_repl[1..]].concat();
        let inner_back = unwrap(&inner_as_forw).unwrap();
        assert_eq!(inner_back.hops[0].interface_id.as_deref(), Some(&b"port7"[..]));
        assert_eq!(inner_back.inner, &[7, 0xaa, 0xbb, 0xcc]);
    }

    #[test]
    fn broken_envelopes_are_refused() {
        assert_eq!(unwrap(&[RELAY_FORW, 0, 1]), Err(RelayError::Truncated));
        let no_msg = {
            let mut v = vec![RELAY_FORW, 0];
            v.extend_from_slice(&[0; 32]);
            v
        };
        assert_eq!(unwrap(&no_msg), Err(RelayError::NoRelayMessage));
        let mut long = forward(&hop(0, None), &[1, 0, 0, 0]);
        long.truncate(long.len() - 2);
        assert_eq!(unwrap(&long), Err(RelayError::Truncated));
        let mut deep = vec![1, 0, 0, 0];
        for n in 0..=HOP_COUNT_LIMIT {
            deep = forward(&hop(n, None), &deep);
        }
        assert_eq!(unwrap(&deep), Err(RelayError::TooManyHops));
        assert_eq!(unwrap(&[]), Err(RelayError::Truncated));
    }
}
