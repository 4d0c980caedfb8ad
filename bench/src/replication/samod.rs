//! The baseline of the replication benchmark: the same workload through samod, the Rust port
//! of automerge-repo, used as its documentation shows: one `Repo` per side (built for tokio,
//! with its filesystem storage), the window creating one document per registration with
//! `Repo::create`, central accepting with `Repo::make_acceptor` on a TCP listener
//! (`Transport::from_tokio_io`), and the window dialing it with `Repo::dial_tcp`, through a
//! counting TCP relay. With the default share policy the window announces every document to
//! central as soon as they are connected; a document is on central once
//! `DocHandle::they_have_our_changes` resolves for the connection.
//!
//! Each document holds one registration as a map ([`super::samod_doc`]).

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use lifeline_core::automerge::Automerge;
use samod::storage::TokioFilesystemStorage;
use samod::{BackoffConfig, ConnectionId, DocHandle, PeerId, Repo, Transport, Url};
use tokio::net::TcpListener;
use tokio::task::JoinSet;

use super::phase::{Phase, PhaseRun, Runs, Side};
use super::samod_doc::registration_doc;
use super::{CONVERGE_WITHIN, Plan};
use crate::relay::Relay;

/// The samod release measured (as pinned in Cargo.lock).
pub const SAMOD_VERSION: &str = "0.16";

/// How the two repos were connected, for the report.
pub const TRANSPORT: &str = "Repo::dial_tcp to an acceptor fed by a TcpListener (length-delimited \
frames over plain TCP, no TLS); TokioFilesystemStorage on both sides (it does not fsync); the TCP \
relay counts the stream's bytes";

/// Most documents created at once while setting up.
const CREATE_IN_FLIGHT: usize = 64;

/// One samod run's two phases.
#[derive(Debug)]
pub struct SamodRun {
    pub initial: PhaseRun,
    pub catch_up: PhaseRun,
}

async fn repo(dir: &Path, peer: &str) -> Repo {
    Repo::build_tokio()
        .with_storage(TokioFilesystemStorage::new(dir))
        .with_peer_id(PeerId::from(peer))
        .load()
        .await
}

/// Creates `docs` on `repo`, a bounded number at a time; returns their handles in order.
async fn create_all(repo: &Repo, docs: &[Automerge]) -> anyhow::Result<Vec<DocHandle>> {
    let mut handles = Vec::with_capacity(docs.len());
    for chunk in docs.chunks(CREATE_IN_FLIGHT) {
        let mut set = JoinSet::new();
        for (i, doc) in chunk.iter().enumerate() {
            let repo = repo.clone();
            let doc = doc.clone();
            set.spawn(async move { (i, repo.create(doc).await) });
        }
        let mut created: Vec<Option<DocHandle>> = vec![None; chunk.len()];
        while let Some(joined) = set.join_next().await {
            let (i, result) = joined.context("a create task failed")?;
            let handle = result.map_err(|_| anyhow!("the window's repo stopped"))?;
            if let Some(slot) = created.get_mut(i) {
                *slot = Some(handle);
            }
        }
        for handle in created {
            handles.push(handle.context("a document was not created")?);
        }
    }
    Ok(handles)
}

/// Dials central through the relay; returns once samod's handshake is done.
async fn dial(
    window: &Repo,
    relay: std::net::SocketAddr,
) -> anyhow::Result<(samod::DialerHandle<std::convert::Infallible>, ConnectionId)> {
    let url = Url::parse(&format!("tcp://{relay}")).context("the relay's URL")?;
    let dialer = window
        .dial_tcp(url, BackoffConfig::default())
        .map_err(|e| anyhow!("cannot dial central: {e}"))?;
    dialer
        .established()
        .await
        .map_err(|e| anyhow!("the window never connected to central: {e:?}"))?;
    let conn = dialer
        .connection_id()
        .context("connected, yet the dialer has no connection")?;
    Ok((dialer, conn))
}

/// Waits until central has said it holds every document of `handles`.
async fn all_on_central(
    handles: &[DocHandle],
    conn: ConnectionId,
    within: Duration,
) -> anyhow::Result<()> {
    let mut set = JoinSet::new();
    for handle in handles {
        set.spawn(handle.they_have_our_changes(conn));
    }
    let all = async {
        while let Some(joined) = set.join_next().await {
            joined.context("a wait task failed")?;
        }
        anyhow::Ok(())
    };
    tokio::time::timeout(within, all)
        .await
        .map_err(|_| anyhow!("central did not get every document within {within:?}"))?
}

/// One run: a fresh window repo with `initial` documents meets a fresh, empty central; then
/// the window disconnects, creates `catch_up` documents and connects again.
pub async fn one_run(
    initial: &[Automerge],
    catch_up: &[Automerge],
    dir: &Path,
    within: Duration,
) -> anyhow::Result<SamodRun> {
    let central = repo(&dir.join("central"), "central").await;
    let window = repo(&dir.join("window"), "W01").await;
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .context("cannot bind central's listener")?;
    let central_addr = listener.local_addr()?;
    let acceptor = central
        .make_acceptor(Url::parse(&format!("tcp://{central_addr}"))?)
        .map_err(|_| anyhow!("central's repo stopped"))?;
    let accepting = {
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            while let Ok((io, _)) = listener.accept().await {
                let _ = io.set_nodelay(true);
                if acceptor.accept(Transport::from_tokio_io(io)).is_err() {
                    return;
                }
            }
        })
    };
    let relay = Relay::tcp(central_addr).await?;
    let created = Instant::now();
    let mut handles = create_all(&window, initial).await?;
    eprintln!(
        "samod: {} documents created on the window in {:.1} s; syncing",
        handles.len(),
        created.elapsed().as_secs_f64()
    );

    // Initial sync.
    let start = Instant::now();
    let (dialer, conn) = dial(&window, relay.addr()).await?;
    all_on_central(&handles, conn, within).await?;
    let initial_run = PhaseRun {
        elapsed_ms: start.elapsed().as_secs_f64() * 1e3,
        wire: relay.traffic(),
    };
    eprintln!(
        "samod: initial sync in {:.1} s",
        initial_run.elapsed_ms / 1e3
    );

    // Catch-up: the window goes away, works, and comes back.
    dialer.close();
    let gone = Instant::now();
    while acceptor.connection_count() > 0 {
        if gone.elapsed() > Duration::from_secs(30) {
            bail!("central still sees the window 30 s after it closed its dialer");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    handles.extend(create_all(&window, catch_up).await?);
    let before = relay.traffic();
    let start = Instant::now();
    let (dialer, conn) = dial(&window, relay.addr()).await?;
    all_on_central(&handles, conn, within).await?;
    let catch_up_run = PhaseRun {
        elapsed_ms: start.elapsed().as_secs_f64() * 1e3,
        wire: relay.traffic().since(&before),
    };

    dialer.close();
    window.stop().await;
    central.stop().await;
    accepting.abort();
    Ok(SamodRun {
        initial: initial_run,
        catch_up: catch_up_run,
    })
}

pub fn side(
    rt: &tokio::runtime::Runtime,
    initial_json: &[serde_json::Value],
    catch_up_json: &[serde_json::Value],
    dir: &Path,
    plan: &Plan,
) -> anyhow::Result<Side> {
    let initial_docs = initial_json
        .iter()
        .map(registration_doc)
        .collect::<anyhow::Result<Vec<Automerge>>>()?;
    let catch_up_docs = catch_up_json
        .iter()
        .map(registration_doc)
        .collect::<anyhow::Result<Vec<Automerge>>>()?;
    let saved = |docs: &[Automerge]| docs.iter().map(|d| d.save().len() as u64).sum::<u64>();
    let mut runs = Runs::default();
    for run in 0..plan.runs {
        let run_dir = dir.join(format!("samod{run}"));
        let out = rt.block_on(one_run(
            &initial_docs,
            &catch_up_docs,
            &run_dir,
            CONVERGE_WITHIN,
        ))?;
        runs.push("samod", "", run, plan.runs, out.initial, out.catch_up);
        std::fs::remove_dir_all(&run_dir)
            .with_context(|| format!("cannot remove {}", run_dir.display()))?;
    }
    Ok(Side {
        name: format!("samod {}", SAMOD_VERSION),
        transport: TRANSPORT.into(),
        initial: Phase::new(
            initial_docs.len(),
            initial_docs.len(),
            saved(&initial_docs),
            runs.initial,
        ),
        catch_up: Phase::new(
            catch_up_docs.len(),
            catch_up_docs.len(),
            saved(&catch_up_docs),
            runs.catch_up,
        ),
    })
}
