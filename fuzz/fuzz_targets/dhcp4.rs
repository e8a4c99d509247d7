//! Fuzz target: a DHCPv4 datagram through decode, decision and the encoded
//! reply (`fulcrum::fuzzing::dhcp4`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| fulcrum::fuzzing::dhcp4(data));
