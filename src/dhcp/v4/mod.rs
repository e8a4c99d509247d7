//! The DHCPv4 server. The socket loop ([`server`]) only does I/O: it parses
//! (malformed datagrams are counted and dropped, never a panic), asks the
//! [`handler`] for a decision against the current snapshot and the
//! in-memory [`offers`], and for a lease commits it through the state
//! writer before the ACK ([`reply`]) leaves. What a relay's option 82 says
//! (its switch port, link selection, server override) is read in [`relay`]. Commits in flight belong to
//! the server's task tracker and finish before shutdown completes.

pub(crate) mod handler;
pub(crate) mod limit;
pub(crate) mod offers;
pub(crate) mod relay;
pub(crate) mod reply;
pub(crate) mod server;
