//! The `fulcrum` binary: everything is in the library's [`fulcrum::app`].
//! Its heap is mimalloc's: glibc's malloc and free took as much of the
//! DHCP path's CPU as Fulcrum's own code, and with mimalloc the same
//! machine served 25-43 % more DHCPv4 leases a second past 18,000
//! offered/s (BENCHMARKS.md, "DHCPv4").

#[global_allocator]
static HEAP: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    fulcrum::app::main()
}
