//! `lifeline-bench`: runs one of Lifeline's benchmarks, prints its table and writes its JSON.
//! The measurements live in the library so that tests can run them directly.

use clap::{Parser, Subcommand};

use lifeline_bench::{chaos, console, failover, his, peers, replication, scale, store};

/// mimalloc instead of glibc's allocator, as the `lifeline` binary has (bench/README,
/// "allocator").
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
    /// Time and bytes on the wire to replicate a window's registrations to central over the
    /// mesh (QUIC, mutual TLS), and to catch up; against samod (automerge-repo).
    Replication(replication::ReplicationArgs),
    /// Failover to the standby and reconciliation of an outage, with real daemons (build the
    /// `lifeline` binary first: `cargo build --release -p lifeline-node`).
    Failover(failover::FailoverArgs),
    /// The desk console's pages with a big store (1M records by default): the whole
    /// loopback round trip of each page, per desk.
    Console(console::ConsoleArgs),
    /// A real hospital's volume with real daemons: status, reports, open, memory and desk
    /// latency at a million patients, a new window's sync, an outage's reconciliation.
    Scale(scale::ScaleArgs),
    /// What central keeps about what its peers hold, per record, with 1, 20 and 60 peers
    /// acknowledging every record.
    Peers(peers::PeersArgs),
    /// Writes catalogs of realistic size as the CSV files `lifeline catalog import` reads.
    Catalogs(scale::CatalogArgs),
    /// The HIS bridge against a real PostgreSQL (Debian's package): first pull of the patient
    /// master, incremental pulls, push of an episode's records.
    His(his::HisArgs),
    /// A bounded loop of faults with real daemons (SIGKILL a node while desks write, restart
    /// it, cut a relayed link); at the end every acknowledged write must be on every node and
    /// every store must verify (build `lifeline` first, as for `failover`).
    Chaos(chaos::ChaosArgs),
}

fn main() -> anyhow::Result<()> {
    // The stores and meshes measured here run in this process: as in the daemon.
    lifeline_node::process::without_huge_pages();
    match Cli::parse().command {
        Command::Store(args) => store::run(&args).map(drop),
        Command::Replication(args) => replication::run(&args).map(drop),
        Command::Failover(args) => failover::run(&args).map(drop),
        Command::Console(args) => console::run(&args).map(drop),
        Command::Scale(args) => scale::run(&args).map(drop),
        Command::Peers(args) => peers::run(&args).map(drop),
        Command::Catalogs(args) => scale::write_catalogs(&args),
        Command::His(args) => his::run(&args).map(drop),
        Command::Chaos(args) => chaos::run(&args).map(drop),
    }
}
