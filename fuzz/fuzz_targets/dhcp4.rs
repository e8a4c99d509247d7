//! DHCPv4 datagrams: parse (must never panic), and for what parses, encode
//! the server's reply path's inputs back without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some(msg) = fulcrum::dhcp::v4::server::parse(data) {
        let _ = fulcrum::dhcp::pxe::classify(msg.opts());
        let _ = fulcrum::net::mac::Mac::from_chaddr(msg.chaddr());
    }
});
