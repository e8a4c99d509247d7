//! Fuzz target: every DHCPv4 datagram, through the decoder and the boot
//! classification (`fulcrum::fuzzing::dhcp4`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| fulcrum::fuzzing::dhcp4(data));
