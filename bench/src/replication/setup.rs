//! What every replication run starts from: the two nodes' names, stores and certificates,
//! their meshes on loopback, and the template stores (central with the catalogs; the window
//! with the catalogs and the registrations) that each run copies. Also the workload itself:
//! registrations written from several threads, their saved size and their JSON for samod.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use lifeline_core::record::{Patient, Visit};
use lifeline_core::store::AuthorCheck;
use lifeline_core::{
    DeskRole, NodeName, NodeRole, Operator, OperatorName, RecordId, Store, StoreOptions,
};
use lifeline_sync::identity::{self, AcceptPolicy, NodeIdentity, TlsFiles};
use lifeline_sync::mesh::{Mesh, MeshConfig, PeerAddr};

use crate::fixture::{self, Window};

/// The stores every run starts from, made once: central with the catalogs only, and the
/// window with the catalogs (already acknowledged by central over the mesh, as in service)
/// and the registrations.
#[derive(Debug)]
pub struct Template {
    pub dir: PathBuf,
    pub central: TlsFiles,
    pub window: TlsFiles,
    /// The window's first patient (the fixture's), whom nothing here uses but who keeps
    /// [`Window`] whole.
    pub patient: RecordId,
    /// Records written after the catalogs: two per registration.
    pub records: usize,
    pub saved_bytes: u64,
    /// Each registration's patient and visit as JSON: the samod documents' content.
    pub samod_json: Vec<serde_json::Value>,
    /// Each registration's patient and visit.
    pub registrations: Vec<(RecordId, RecordId)>,
}

pub fn central_name() -> anyhow::Result<NodeName> {
    Ok(NodeName::new("central")?)
}

pub fn window_name() -> anyhow::Result<NodeName> {
    Ok(NodeName::new("W01")?)
}

/// Whether a run's stores sign and check changes (as every node does) or not (to measure
/// what signatures cost).
fn options(node: NodeName, role: NodeRole, authors: AuthorCheck) -> StoreOptions {
    let mut opts = StoreOptions::new(node, role);
    opts.author_check = authors;
    opts
}

pub fn open_central(path: &Path, authors: AuthorCheck) -> anyhow::Result<Store> {
    Store::open(path, options(central_name()?, NodeRole::Central, authors))
        .with_context(|| format!("cannot open {}", path.display()))
}

pub fn open_window(path: &Path, patient: RecordId, authors: AuthorCheck) -> anyhow::Result<Window> {
    let store = Store::open(path, options(window_name()?, NodeRole::Window, authors))
        .with_context(|| format!("cannot open {}", path.display()))?;
    Ok(Window {
        store,
        registrar: Operator::new(OperatorName::new("reg1")?, DeskRole::Registration),
        patient,
    })
}

pub fn loopback() -> std::net::SocketAddr {
    std::net::SocketAddr::from(([127, 0, 0, 1], 0))
}

/// Central's mesh; `prepare_batches` as [`MeshConfig::prepare_batches`].
pub async fn start_central(
    store: &Store,
    files: &TlsFiles,
    prepare_batches: bool,
) -> anyhow::Result<Mesh> {
    let mut cfg = MeshConfig::new(loopback(), Vec::new(), AcceptPolicy::any());
    cfg.prepare_batches = prepare_batches;
    Mesh::start(store.clone(), identity::load(files)?, cfg)
        .await
        .context("cannot start central's mesh")
}

pub async fn start_window(
    store: &Store,
    files: &TlsFiles,
    central: std::net::SocketAddr,
) -> anyhow::Result<Mesh> {
    let peer = PeerAddr {
        name: central_name()?,
        role: NodeRole::Central,
        addr: central,
    };
    let cfg = MeshConfig::new(loopback(), vec![peer], AcceptPolicy::any());
    Mesh::start(store.clone(), identity::load(files)?, cfg)
        .await
        .context("cannot start the window's mesh")
}

impl Template {
    pub fn create(
        rt: &tokio::runtime::Runtime,
        dir: &Path,
        registrations: usize,
        writers: usize,
    ) -> anyhow::Result<Template> {
        let dir = dir.join("template");
        std::fs::create_dir_all(&dir)?;
        let pki = dir.join("pki");
        identity::init_ca(&pki)?;
        let issue = |name: NodeName, role, desks: &[DeskRole]| -> anyhow::Result<TlsFiles> {
            let id = NodeIdentity::new(name, role, desks.to_vec());
            Ok(identity::issue(&pki, &id, 30)?.tls_files())
        };
        let central_files = issue(central_name()?, NodeRole::Central, &[])?;
        let window_files = issue(window_name()?, NodeRole::Window, &[DeskRole::Registration])?;
        // The stores sign with the keys their certificates certify, as nodes do.
        let mut c = StoreOptions::new(central_name()?, NodeRole::Central);
        c.credentials = Some(identity::load(&central_files)?.credentials()?);
        let mut w = StoreOptions::new(window_name()?, NodeRole::Window);
        w.credentials = Some(identity::load(&window_files)?.credentials()?);
        let (central, window) = fixture::pair_with(&dir, c, w)?;

        // The window received the catalogs through the merge API; a mesh session between the
        // two makes both sides' cursors say so, so the runs replicate only the new work.
        rt.block_on(async {
            let c = start_central(&central, &central_files, true).await?;
            let addr = c.local_addr().context("central's mesh has no address")?;
            let w = start_window(&window.store, &window_files, addr).await?;
            let done = wait_until(Duration::from_secs(60), || {
                let c_state = central.peer_state(&window_name()?)?;
                let w_state = window.store.peer_state(&central_name()?)?;
                Ok(c_state.applied_from_peer >= window.store.feed_head()?
                    && w_state.applied_from_peer >= central.feed_head()?
                    && central.digest()? == window.store.digest()?)
            })
            .await;
            w.shutdown().await;
            c.shutdown().await;
            done.context("the window and central did not agree on the catalogs")
        })?;

        let held_before = window.store.stats()?.records;
        let registrations = write_registrations(&window, 0, registrations, writers)?;
        let written = window.store.stats()?.records - held_before;
        let records = super::RECORDS_PER_REGISTRATION * registrations.len();
        ensure!(
            written == records as u64,
            "{} registrations wrote {written} records, not {records}: update \
             RECORDS_PER_REGISTRATION",
            registrations.len()
        );
        // Not a signature is read here: the window signs its changes as they first leave
        // it, which is inside each run's timing.
        let saved_bytes = saved_bytes(&window.store, &registrations)?;
        let samod_json = registration_json(&window.store, &registrations)?;
        let patient = window.patient;
        drop(window);
        drop(central);
        Ok(Template {
            dir,
            central: central_files,
            window: window_files,
            patient,
            records,
            saved_bytes,
            samod_json,
            registrations,
        })
    }
}

/// Polls `done` every 10 ms (async) until it holds; fails after `within`.
pub async fn wait_until(
    within: Duration,
    mut done: impl FnMut() -> anyhow::Result<bool>,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + within;
    loop {
        if tokio::task::block_in_place(&mut done)? {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("not done within {within:?}");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Writes `count` registrations (patient + visit) from `writers` threads at once.
pub fn write_registrations(
    window: &Window,
    first: u64,
    count: usize,
    writers: usize,
) -> anyhow::Result<Vec<(RecordId, RecordId)>> {
    let writers = writers.clamp(1, count.max(1));
    let results: Vec<anyhow::Result<Vec<(RecordId, RecordId)>>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..writers)
            .map(|w| {
                s.spawn(move || {
                    let mine = (w..count).step_by(writers);
                    let mut out = Vec::with_capacity(count / writers + 1);
                    for i in mine {
                        out.push(window.register_new_patient(first + i as u64)?);
                    }
                    Ok(out)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .map_err(|_| anyhow::anyhow!("a writer thread panicked"))
                    .and_then(|r| r)
            })
            .collect()
    });
    let mut all = Vec::with_capacity(count);
    for r in results {
        all.extend(r?);
    }
    Ok(all)
}

/// Changes per signed commit among the registrations' records (one change each), as the
/// window sent them (reading signatures signs what waits, so read after a sync).
pub fn changes_per_commit(
    store: &Store,
    registrations: &[(RecordId, RecordId)],
) -> anyhow::Result<f64> {
    let ids: Vec<RecordId> = registrations.iter().flat_map(|(p, v)| [*p, *v]).collect();
    let commits = store.export(&ids)?.signatures.len();
    Ok(if commits > 0 {
        ids.len() as f64 / commits as f64
    } else {
        0.0
    })
}

/// What the registrations' records take saved.
pub fn saved_bytes(store: &Store, registrations: &[(RecordId, RecordId)]) -> anyhow::Result<u64> {
    let mut total = 0u64;
    for (patient, visit) in registrations {
        for id in [patient, visit] {
            let doc = store
                .doc(*id)?
                .with_context(|| format!("record {id} was just written but is not there"))?;
            total += doc.save().len() as u64;
        }
    }
    Ok(total)
}

/// Each registration as `{"patient": {...}, "visit": {...}}`, the records' own fields.
pub fn registration_json(
    store: &Store,
    registrations: &[(RecordId, RecordId)],
) -> anyhow::Result<Vec<serde_json::Value>> {
    registrations
        .iter()
        .map(|(p, v)| {
            let patient = store
                .get::<Patient>(*p)?
                .with_context(|| format!("patient {p} is not there"))?;
            let visit = store
                .get::<Visit>(*v)?
                .with_context(|| format!("visit {v} is not there"))?;
            Ok(serde_json::json!({ "patient": patient, "visit": visit }))
        })
        .collect()
}
