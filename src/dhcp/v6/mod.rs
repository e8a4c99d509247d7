//! The DHCPv6 server (RFC 8415). The socket loop ([`server`]) does I/O:
//! it takes off the relay envelope ([`relay`]), parses, asks the
//! [`handler`] for a decision against the current snapshot, and for a
//! binding commits it through the state writer before the REPLY leaves.
//! Network boot over IPv6 is chosen in [`boot`].

pub(crate) mod boot;
pub(crate) mod handler;
pub(crate) mod relay;
pub(crate) mod server;

#[cfg(test)]
mod tests;
