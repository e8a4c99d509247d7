//! Fuzz target: a DNS message answered by Fulcrum's request handler
//! (`fulcrum::fuzzing::dns`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| fulcrum::fuzzing::dns(data));
