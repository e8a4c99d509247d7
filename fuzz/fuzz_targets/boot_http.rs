//! Fuzz target: a request to the boot routes through the real router
//! (`fulcrum::fuzzing::boot_http`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| fulcrum::fuzzing::boot_http(data));
