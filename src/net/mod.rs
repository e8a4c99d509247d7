//! Addressing as pure functions over values, and the host's side of the
//! network:
//! - [`ula`]: RFC 4193 `fd` prefixes and the MD5 interface IDs that map a
//!   node's FQDN to its IPv6 address;
//! - [`alloc`]: the free-address search over a range, with a cursor;
//! - [`arrival`]: receiving an IPv6 datagram with its destination and
//!   hop limit;
//! - [`iface`]: the host's interfaces and their IPv4 addresses (pnet);
//! - [`ssh`]: how Fulcrum invokes `ssh` to reach a node;
//! - [`probe`]: the aliveness probe (ping, then an SSH login);
//! - [`tls`]: the API's certificate and its TLS listener;
//! - [`http1`]: the boot port's HTTP/1.1 server, with sendfile bodies.

pub(crate) mod alloc;
pub(crate) mod arrival;
pub(crate) mod http1;
pub(crate) mod iface;
pub(crate) mod probe;
pub(crate) mod ssh;
pub(crate) mod tls;
pub(crate) mod ula;
