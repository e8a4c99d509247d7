//! What a DHCPv4 relay agent says in its option 82 (RFC 3046) and how far
//! it is believed: sub-options count only from a relay (giaddr set), never
//! from a client speaking for itself. The server identifier override
//! (RFC 5107), and the switch port the client is plugged into
//! (circuit-id, remote-id) for port reservations.

use std::net::Ipv4Addr;

use dhcproto::v4::relay::{RelayAgentInformation, RelayCode, RelayInfo};
use dhcproto::v4::{DhcpOption, Message, OptionCode};

use crate::types::port::SwitchPort;

/// The relay agent information (option 82) a request carries, to echo.
pub(crate) fn relay_info(req: &Message) -> Option<&RelayAgentInformation> {
    match req.opts().get(OptionCode::RelayAgentInformation) {
        Some(DhcpOption::RelayAgentInformation(info)) => Some(info),
        _ => None,
    }
}

/// The relay agent information, when a relay sent it.
pub(crate) fn from_relay(req: &Message) -> Option<&RelayAgentInformation> {
    relay_info(req).filter(|_| !req.giaddr().is_unspecified())
}

/// RFC 5107: the address a relay asks clients to see as the server
/// identifier (it forwards their unicast renewals to us).
pub(crate) fn server_id_override(req: &Message) -> Option<Ipv4Addr> {
    match from_relay(req)?.get(RelayCode::ServerIdentifierOverride) {
        Some(RelayInfo::ServerIdentifierOverride(ip)) => Some(*ip),
        _ => None,
    }
}

/// RFC 3527: the link the relay says the client is on.
pub(crate) fn link_selection(req: &Message) -> Option<Ipv4Addr> {
    match from_relay(req)?.get(RelayCode::LinkSelection) {
        Some(RelayInfo::LinkSelection(link)) => Some(*link),
        _ => None,
    }
}

/// The switch port the relay reports the client in: its circuit-id and,
/// if it sent one, its remote-id. `None` without a usable circuit-id.
pub(crate) fn relay_port(req: &Message) -> Option<SwitchPort> {
    let info = from_relay(req)?;
    let circuit_id = match info.get(RelayCode::AgentCircuitId) {
        Some(RelayInfo::AgentCircuitId(id)) => Some(&id[..]),
        _ => None,
    };
    let remote_id = match info.get(RelayCode::AgentRemoteId) {
        Some(RelayInfo::AgentRemoteId(id)) => Some(&id[..]),
        _ => None,
    };
    SwitchPort::from_relay(circuit_id, remote_id)
}
