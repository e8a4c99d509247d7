//! Fuzz target: a TFTP request's file name resolved under the root
//! (`fulcrum::fuzzing::tftp`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| fulcrum::fuzzing::tftp(data));
