//! Fuzz target: a DHCPv6 datagram through the relay envelope, decode,
//! decision and the encoded answer (`fulcrum::fuzzing::dhcp6`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| fulcrum::fuzzing::dhcp6(data));
