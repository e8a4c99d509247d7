//! The `fulcrum` binary: everything is in the library's [`fulcrum::app`].
//! Its heap is mimalloc's: glibc's malloc and free took as much of the
//! DHCP path's CPU as Fulcrum's own code, and with mimalloc the same
//! machine served 13-45 % more DHCPv4 leases a second at the 18,000 to
//! 26,000 offered/s steps (BENCHMARKS.md, "DHCPv4").

#[global_allocator]
static HEAP: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    fulcrum::app::main()
}
