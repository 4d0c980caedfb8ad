//! Lifeline's side of the replication benchmark: each run copies the template stores, starts
//! central's mesh and the window's behind a counting UDP relay, and times the initial sync and
//! the catch-up until central's digest equals the window's.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use lifeline_core::Store;
use lifeline_core::store::AuthorCheck;
use lifeline_sync::mesh::Mesh;

use super::phase::{Phase, PhaseRun, Runs, Side};
use super::setup::{
    Template, changes_per_commit, open_central, open_window, registration_json, saved_bytes,
    start_central, start_window, window_name, write_registrations,
};
use super::{CONVERGE_WITHIN, Plan};
use crate::measure::median;
use crate::relay::Relay;

/// How often convergence is checked: a feed-head read, and the digests once it is reached.
const POLL: Duration = Duration::from_millis(5);
/// Digests are compared at least this often even before central's feed says it is time.
const DIGEST_AT_LEAST_EVERY: Duration = Duration::from_millis(500);

/// Lifeline's side at one size, the same without signatures, and the workload as JSON for
/// samod.
#[derive(Debug)]
pub struct LifelineSeries {
    pub side: Side,
    /// The same runs with nothing signed, sent or checked (`AuthorCheck::UncheckedActorIds`).
    pub unsigned: Side,
    /// The same signed runs with every batch merged and judged on central's writer thread
    /// (`MeshConfig::prepare_batches` off), as before batches were prepared as they are read.
    pub on_the_writer: Side,
    /// Changes per signed commit in the workload.
    pub changes_per_commit: f64,
    pub initial_json: Vec<serde_json::Value>,
    pub catch_up_json: Vec<serde_json::Value>,
}

/// How one of the interleaved runs replicates.
#[derive(Debug, Clone, Copy)]
struct Variant {
    name: &'static str,
    dir: &'static str,
    authors: AuthorCheck,
    prepare_batches: bool,
}

/// The variants of every run, in the order they run: signed as nodes run, then without
/// signatures, then signed with every batch merged on central's writer.
const VARIANTS: [Variant; 3] = [
    Variant {
        name: "lifeline",
        dir: "",
        authors: AuthorCheck::Signatures,
        prepare_batches: true,
    },
    Variant {
        name: "lifeline without signatures",
        dir: "-unsigned",
        authors: AuthorCheck::UncheckedActorIds,
        prepare_batches: true,
    },
    Variant {
        name: "lifeline merged on the writer",
        dir: "-on-writer",
        authors: AuthorCheck::Signatures,
        prepare_batches: false,
    },
];

/// Every run of Lifeline's side with `registrations` registrations, in `dir`.
pub fn series(
    rt: &tokio::runtime::Runtime,
    dir: &Path,
    registrations: usize,
    plan: &Plan,
) -> anyhow::Result<LifelineSeries> {
    eprintln!("setup: writing {registrations} registrations on the window");
    let template = Template::create(rt, dir, registrations, plan.setup_writers)?;
    let mut runs: [Runs; 3] = Default::default();
    let mut catch_up_saved = Vec::new();
    let mut catch_up_json = Vec::new();
    let mut changes_per_commit = None;
    let detail = format!(" ({registrations} registrations)");
    // The variants interleaved, so that all see the same machine.
    for run in 0..plan.runs {
        for (variant, runs) in VARIANTS.iter().zip(runs.iter_mut()) {
            let dir = dir.join(format!("run{run}{}", variant.dir));
            let out = one_run(rt, &template, &dir, plan, run, *variant)?;
            runs.push(
                variant.name,
                &detail,
                run,
                plan.runs,
                out.initial,
                out.catch_up,
            );
            if variant.dir.is_empty() {
                changes_per_commit = changes_per_commit.or(out.changes_per_commit);
                catch_up_saved.push(out.catch_up_saved_bytes);
                if catch_up_json.is_empty() {
                    catch_up_json = out.catch_up_json;
                }
            }
        }
    }
    let side = |name: &str, runs: Runs| Side {
        name: name.into(),
        transport: "lifeline-sync Mesh: QUIC with mutual TLS (quinn, rustls); the UDP relay \
                    counts every datagram's payload"
            .into(),
        initial: Phase::new(
            registrations,
            template.records,
            template.saved_bytes,
            runs.initial,
        ),
        catch_up: Phase::new(
            plan.catch_up_registrations,
            plan.catch_up_records,
            median_u64(&catch_up_saved),
            runs.catch_up,
        ),
    };
    let [signed, unsigned, on_the_writer] = runs;
    Ok(LifelineSeries {
        side: side(VARIANTS[0].name, signed),
        unsigned: side(VARIANTS[1].name, unsigned),
        on_the_writer: side(VARIANTS[2].name, on_the_writer),
        changes_per_commit: changes_per_commit.unwrap_or_default(),
        initial_json: template.samod_json,
        catch_up_json,
    })
}

fn median_u64(values: &[u64]) -> u64 {
    median(&values.iter().map(|&v| v as f64).collect::<Vec<_>>()) as u64
}

struct LifelineRun {
    initial: PhaseRun,
    catch_up: PhaseRun,
    catch_up_saved_bytes: u64,
    catch_up_json: Vec<serde_json::Value>,
    /// Changes per signed commit among the registrations, as the window sent them (signed
    /// runs).
    changes_per_commit: Option<f64>,
}

/// Waits until central holds what the window holds: first central's feed head reaching
/// `central_feed_target` (one new feed entry per record it takes), then equal digests.
fn wait_converged(central: &Store, window: &Store, central_feed_target: u64) -> anyhow::Result<()> {
    let start = Instant::now();
    let mut last_digest = start;
    loop {
        let now = Instant::now();
        let due = now.duration_since(last_digest) >= DIGEST_AT_LEAST_EVERY;
        if central.feed_head()? >= central_feed_target || due {
            last_digest = now;
            if central.digest()? == window.digest()? {
                return Ok(());
            }
        }
        if start.elapsed() > CONVERGE_WITHIN {
            bail!(
                "central did not converge with the window within {CONVERGE_WITHIN:?} \
                 (central's feed at {}, waiting for {central_feed_target})",
                central.feed_head()?
            );
        }
        std::thread::sleep(POLL);
    }
}

fn one_run(
    rt: &tokio::runtime::Runtime,
    template: &Template,
    dir: &Path,
    plan: &Plan,
    run: usize,
    variant: Variant,
) -> anyhow::Result<LifelineRun> {
    let authors = variant.authors;
    std::fs::create_dir_all(dir)?;
    for file in ["central.redb", "window.redb"] {
        std::fs::copy(template.dir.join(file), dir.join(file))
            .with_context(|| format!("cannot copy the template's {file}"))?;
    }
    let central = open_central(&dir.join("central.redb"), authors)?;
    let window = open_window(&dir.join("window.redb"), template.patient, authors)?;
    let w01 = window_name()?;

    // Initial sync.
    let feed_before = central.feed_head()?;
    let central_mesh = rt.block_on(start_central(
        &central,
        &template.central,
        variant.prepare_batches,
    ))?;
    let central_addr = central_mesh
        .local_addr()
        .context("central's mesh has no address")?;
    let relay = rt.block_on(Relay::udp(central_addr))?;
    let sync = |central_feed_target: u64| -> anyhow::Result<(Mesh, PhaseRun)> {
        let wire_before = relay.traffic();
        let start = Instant::now();
        let mesh = rt.block_on(start_window(&window.store, &template.window, relay.addr()))?;
        wait_converged(&central, &window.store, central_feed_target)?;
        let phase = PhaseRun {
            elapsed_ms: start.elapsed().as_secs_f64() * 1e3,
            wire: relay.traffic().since(&wire_before),
        };
        Ok((mesh, phase))
    };
    let (window_mesh, initial) = sync(feed_before + template.records as u64)?;

    // Catch-up: the window goes away, works, and comes back.
    rt.block_on(window_mesh.shutdown());
    let gone = Instant::now();
    while central_mesh.is_connected(&w01) {
        if gone.elapsed() > Duration::from_secs(30) {
            bail!("central still sees the window 30 s after its mesh stopped");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let first = 1_000_000 * (run as u64 + 1);
    let written = write_registrations(
        &window,
        first,
        plan.catch_up_registrations,
        plan.setup_writers,
    )?;
    let catch_up_saved_bytes = saved_bytes(&window.store, &written)?;
    let catch_up_json = if run == 0 {
        registration_json(&window.store, &written)?
    } else {
        Vec::new()
    };
    let feed_before = central.feed_head()?;
    let (window_mesh, catch_up) = sync(feed_before + plan.catch_up_records as u64)?;
    let changes_per_commit = match authors {
        AuthorCheck::Signatures => {
            Some(changes_per_commit(&window.store, &template.registrations)?)
        }
        AuthorCheck::UncheckedActorIds => None,
    };

    rt.block_on(async {
        window_mesh.shutdown().await;
        central_mesh.shutdown().await;
    });
    drop(relay);
    drop(window);
    drop(central);
    std::fs::remove_dir_all(dir).with_context(|| format!("cannot remove {}", dir.display()))?;
    Ok(LifelineRun {
        initial,
        catch_up,
        catch_up_saved_bytes,
        catch_up_json,
        changes_per_commit,
    })
}
