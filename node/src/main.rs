//! The `lifeline` binary. Everything lives in the library; see `cli.rs`.

/// mimalloc instead of glibc's allocator (bench/README, "allocator").
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    lifeline_node::process::without_huge_pages();
    lifeline_node::cli::main()
}
