//! The `lifeline` binary. Everything lives in the library; see `cli.rs`.

fn main() -> std::process::ExitCode {
    lifeline_node::cli::main()
}
