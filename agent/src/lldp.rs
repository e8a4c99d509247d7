//! LLDP (IEEE 802.1AB): which switch port each NIC is plugged into. One
//! thread per interface listens on a raw `AF_PACKET` socket for the first
//! LLDP frame, until a deadline; the parser reads the chassis, port,
//! system name and port description TLVs.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::sysfs::{at, number};

/// LLDP's EtherType.
const ETH_P_LLDP: u16 = 0x88cc;
/// The nearest-bridge group address LLDP frames are sent to.
const LLDP_GROUP: [u8; 6] = [0x01, 0x80, 0xc2, 0x00, 0x00, 0x0e];

/// The switch port at the other end of a cable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Neighbour {
    pub(crate) chassis_id: String,
    pub(crate) port_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) system_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) port_description: Option<String>,
}

/// The listeners, one per interface.
pub(crate) struct Listening(Vec<(String, JoinHandle<Option<Neighbour>>)>);

impl Listening {
    /// Waits for every listener (each stops at its deadline): what each
    /// interface heard.
    pub(crate) fn wait(self) -> Vec<(String, Neighbour)> {
        self.0.into_iter().filter_map(|(nic, h)| h.join().ok().flatten().map(|n| (nic, n))).collect()
    }
}

/// Listens on each of `nics` for up to `wait`.
pub(crate) fn listen(root: &Path, nics: &[String], wait: Duration) -> Listening {
    let deadline = Instant::now() + wait;
    Listening(
        nics.iter()
            .filter_map(|nic| {
                let index = number(&at(root, "/sys/class/net").join(nic).join("ifindex"))?;
                let index = i32::try_from(index).ok()?;
                let name = nic.clone();
                let h = std::thread::spawn(move || match first_frame(index, deadline) {
                    Ok(n) => n,
                    Err(e) => {
                        crate::say!("LLDP on {name}: {e}");
                        None
                    }
                });
                Some((nic.clone(), h))
            })
            .collect(),
    )
}

fn os_error(what: &str) -> std::io::Error {
    let e = std::io::Error::last_os_error();
    std::io::Error::new(e.kind(), format!("{what}: {e}"))
}

/// The first LLDP frame on interface `index` before `deadline`.
fn first_frame(index: i32, deadline: Instant) -> std::io::Result<Option<Neighbour>> {
    let proto = ETH_P_LLDP.to_be();
    // SAFETY: plain socket(2); the descriptor is owned at once.
    let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW | libc::SOCK_CLOEXEC, i32::from(proto)) };
    if fd < 0 {
        return Err(os_error("socket"));
    }
    // SAFETY: fd is a fresh descriptor nobody else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: sockaddr_ll is plain data; zeroed is a valid value.
    let mut addr: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    addr.sll_family = libc::AF_PACKET as u16;
    addr.sll_protocol = proto;
    addr.sll_ifindex = index;
    let len = std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t;
    // SAFETY: addr lives across the call and len is its size.
    if unsafe { libc::bind(fd.as_raw_fd(), std::ptr::addr_of!(addr).cast(), len) } < 0 {
        return Err(os_error("bind"));
    }
    // SAFETY: packet_mreq is plain data; zeroed is a valid value.
    let mut mreq: libc::packet_mreq = unsafe { std::mem::zeroed() };
    mreq.mr_ifindex = index;
    mreq.mr_type = libc::PACKET_MR_MULTICAST as u16;
    mreq.mr_alen = 6;
    mreq.mr_address[..6].copy_from_slice(&LLDP_GROUP);
    let mlen = std::mem::size_of::<libc::packet_mreq>() as libc::socklen_t;
    // SAFETY: mreq lives across the call and mlen is its size.
    let joined = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_PACKET,
            libc::PACKET_ADD_MEMBERSHIP,
            std::ptr::addr_of!(mreq).cast(),
            mlen,
        )
    };
    if joined < 0 {
        return Err(os_error("joining the LLDP group"));
    }
    let mut buf = [0u8; 1600];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(None);
        }
        let tv = libc::timeval {
            tv_sec: left.as_secs() as libc::time_t,
            tv_usec: libc::suseconds_t::from(left.subsec_micros().max(1)),
        };
        let tvlen = std::mem::size_of::<libc::timeval>() as libc::socklen_t;
        // SAFETY: tv lives across the call and tvlen is its size.
        let timed = unsafe {
            libc::setsockopt(fd.as_raw_fd(), libc::SOL_SOCKET, libc::SO_RCVTIMEO, std::ptr::addr_of!(tv).cast(), tvlen)
        };
        // Without the timeout the wait below could block for ever.
        if timed < 0 {
            return Err(os_error("setting the receive timeout"));
        }
        // SAFETY: buf is writable for its whole length.
        let n = unsafe { libc::recv(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            if matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut | std::io::ErrorKind::Interrupted
            ) {
                continue;
            }
            return Err(e);
        }
        let frame = &buf[..usize::try_from(n).unwrap_or(0)];
        if let Some(neighbour) = parse_frame(frame) {
            return Ok(Some(neighbour));
        }
    }
}

fn hex_mac(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect::<Vec<_>>().join(":")
}

/// An ID TLV's value: its subtype byte, then a MAC (subtype 4 for a
/// chassis, 3 for a port) or text.
fn id_value(v: &[u8], mac_subtype: u8) -> Option<String> {
    let (&subtype, rest) = v.split_first()?;
    if subtype == mac_subtype && rest.len() == 6 {
        Some(hex_mac(rest))
    } else {
        Some(String::from_utf8_lossy(rest).trim_end_matches('\0').to_string())
    }
}

/// Reads an Ethernet frame carrying an LLDPDU; `None` for anything else
/// or an LLDPDU without its chassis and port IDs.
pub(crate) fn parse_frame(frame: &[u8]) -> Option<Neighbour> {
    let mut body = frame.get(12..)?;
    // An 802.1Q tag may come first.
    if body.get(..2)? == [0x81, 0x00] {
        body = body.get(4..)?;
    }
    if body.get(..2)? != ETH_P_LLDP.to_be_bytes() {
        return None;
    }
    let mut tlvs = body.get(2..)?;
    let (mut chassis, mut port, mut system_name, mut port_description) = (None, None, None, None);
    while tlvs.len() >= 2 {
        let head = u16::from_be_bytes([tlvs[0], tlvs[1]]);
        let (kind, len) = (head >> 9, usize::from(head & 0x1ff));
        let value = tlvs.get(2..2 + len)?;
        let text = || Some(String::from_utf8_lossy(value).trim_end_matches('\0').to_string());
        match kind {
            0 => break,
            1 => chassis = id_value(value, 4),
            2 => port = id_value(value, 3),
            4 => port_description = text(),
            5 => system_name = text(),
            _ => {}
        }
        tlvs = &tlvs[2 + len..];
    }
    Some(Neighbour { chassis_id: chassis?, port_id: port?, system_name, port_description })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tlv(kind: u16, value: &[u8]) -> Vec<u8> {
        let mut v = ((kind << 9) | value.len() as u16).to_be_bytes().to_vec();
        v.extend_from_slice(value);
        v
    }

    fn frame(tagged: bool, tlvs: &[Vec<u8>]) -> Vec<u8> {
        let mut f = LLDP_GROUP.to_vec();
        f.extend_from_slice(&[0x02, 0, 0, 0, 0, 0x01]);
        if tagged {
            f.extend_from_slice(&[0x81, 0x00, 0x00, 0x0a]);
        }
        f.extend_from_slice(&ETH_P_LLDP.to_be_bytes());
        for t in tlvs {
            f.extend_from_slice(t);
        }
        f
    }

    #[test]
    fn reads_a_switch_port() {
        let f = frame(
            false,
            &[
                tlv(1, &[4, 0x02, 0x11, 0x22, 0x33, 0x44, 0x55]),
                tlv(2, b"\x05Ethernet1/7"),
                tlv(3, &[0, 120]),
                tlv(4, b"rack 3 top"),
                tlv(5, b"leaf-03"),
                tlv(0, &[]),
            ],
        );
        let n = parse_frame(&f).unwrap();
        assert_eq!(n.chassis_id, "02:11:22:33:44:55");
        assert_eq!(n.port_id, "Ethernet1/7");
        assert_eq!(n.system_name.as_deref(), Some("leaf-03"));
        assert_eq!(n.port_description.as_deref(), Some("rack 3 top"));
    }

    #[test]
    fn reads_a_tagged_frame_and_a_mac_port() {
        let f = frame(true, &[tlv(1, b"\x07sw1"), tlv(2, &[3, 1, 2, 3, 4, 5, 6])]);
        let n = parse_frame(&f).unwrap();
        assert_eq!((n.chassis_id.as_str(), n.port_id.as_str()), ("sw1", "01:02:03:04:05:06"));
        assert_eq!(n.system_name, None);
    }

    #[test]
    fn ignores_what_is_not_lldp_or_is_cut_short() {
        let mut ip = frame(false, &[]);
        ip[12] = 0x08;
        ip[13] = 0x00;
        assert_eq!(parse_frame(&ip), None);
        assert_eq!(parse_frame(&frame(false, &[tlv(2, b"\x05eth0")])), None, "no chassis ID");
        let mut cut = frame(false, &[tlv(1, b"\x07sw1"), tlv(2, b"\x05eth0")]);
        cut.truncate(cut.len() - 2);
        assert_eq!(parse_frame(&cut), None);
        assert_eq!(parse_frame(&[0u8; 5]), None);
    }
}
