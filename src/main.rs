//! The `fulcrum` binary: everything is in the library's [`fulcrum::app`].
//! Its heap is mimalloc's: glibc's malloc and free took as much of the
//! DHCP path's CPU as Fulcrum's own code, and with mimalloc the same
//! machine served 13-45 % more DHCPv4 leases a second at the 18,000 to
//! 26,000 offered/s steps (BENCHMARKS.md, "DHCPv4"). Transparent huge
//! pages are off for the process: mimalloc asks for them, and the kernel
//! zeroes each 2 MiB page on first touch. With them, page faults were 6 %
//! of the DHCPv4 server's CPU at 22,000 offered/s; without, 1.8 %, and
//! its memory was a quarter smaller (128 against 95 MiB; one run each,
//! BENCHMARKS.md).

#[global_allocator]
static HEAP: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    // Before any thread starts; the flag is the whole process's, and the
    // programs it starts (jigs, image builds) inherit it, which costs them
    // nothing they rely on. A kernel without it only costs the zeroing.
    let _ = rustix::thread::disable_transparent_huge_pages(true);
    fulcrum::app::main()
}
