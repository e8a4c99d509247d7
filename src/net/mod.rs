//! Addressing: MAC addresses, RFC 4193 prefixes and MD5 interface IDs,
//! IPv4 address allocation, and the host's own interfaces.

pub mod alloc;
pub mod iface;
pub mod mac;
pub mod ssh;
pub mod ula;
