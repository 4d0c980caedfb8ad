//! The `lifeline` binary. Everything lives in the library; see `cli.rs`.

/// mimalloc instead of glibc's allocator (bench/README, "allocator").
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    // mimalloc asks the kernel for transparent huge pages, and each first touch of one then
    // zeroes 2 MiB: a sixth of the machine's CPU while a central freshly restarted took an
    // outage's records (bench/README, "failover"). Off for this process; a refusal only
    // leaves the kernel's default.
    #[cfg(target_os = "linux")]
    let _ = rustix::thread::disable_transparent_huge_pages(true);
    lifeline_node::cli::main()
}
