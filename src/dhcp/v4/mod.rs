//! The DHCPv4 server. The socket loop ([`server`]) only does I/O: it parses
//! (malformed datagrams are counted and dropped, never a panic), asks the
//! pure [`handler`] for a decision against the current snapshot, and for a
//! lease commits it through the state writer before the ACK leaves.

pub mod handler;
pub mod offers;
pub mod reply;
pub mod server;
