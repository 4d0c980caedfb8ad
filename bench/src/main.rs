//! `lifeline-bench`: runs one of Lifeline's benchmarks, prints its table and writes its JSON.
//! The measurements live in the library so that tests can run them directly.

use clap::{Parser, Subcommand};
use lifeline_bench::store;

#[derive(Debug, Parser)]
#[command(name = "lifeline-bench", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Durable write latency and group-commit throughput of the store, against bare redb.
    Store(store::StoreArgs),
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Store(args) => store::run(&args).map(drop),
    }
}
