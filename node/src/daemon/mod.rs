//! `lifeline daemon`: opens the store, joins the mesh, serves the desks' API, watches peer
//! health and shuts down cleanly on SIGTERM or SIGINT (in-flight writes committed,
//! connections closed with a goodbye).

pub mod background;
pub mod health;
pub mod housekeeping;
pub mod in_sync;
pub mod monitor;
pub mod runtime;
pub mod table_check;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use lifeline_core::store::OpenCheck;
use lifeline_core::{DeskRole, NodeRole, Store};
use lifeline_sync::identity::{self, AcceptPolicy, WindowMesh};
use lifeline_sync::mesh::{Mesh, MeshConfig, PeerAddr};
use lifeline_sync::proto::SessionConfig;
use serde::Serialize;

use crate::api::{self, ApiState};
use crate::config::Config;
use crate::error::chain;
use crate::i18n::Arg;
use crate::i18n::said::Said;
use crate::operators::{self, Operators, admin_name};
use background::Background;
use runtime::Runtime;

/// What the daemon prints about itself once it is up (also written to `ready.json` in the
/// data directory, for scripts and tests).
#[derive(Debug, Serialize)]
pub struct Ready {
    pub node: String,
    pub role: NodeRole,
    pub api: String,
    pub quic: String,
    pub pid: u32,
}

/// Checks everything that can be checked before starting, with messages naming the problem.
pub fn preflight(config: &Config) -> anyhow::Result<identity::LoadedIdentity> {
    let loaded = identity::load(&identity::TlsFiles {
        ca: config.tls.ca.clone(),
        cert: config.tls.cert.clone(),
        key: config.tls.key.clone(),
    })
    .map_err(|e| Said::new("cli-daemon-certificate", vec![]).because(e))?;
    let id = loaded.identity();
    let cert = || -> Arg<'static> { config.tls.cert.display().to_string().into() };
    if id.name != config.node.name {
        return Err(Said::new(
            "cli-daemon-cert-name",
            vec![
                ("cert", cert()),
                ("named", id.name.to_string().into()),
                ("config", config.node.name.to_string().into()),
            ],
        )
        .into());
    }
    if id.role != config.node.role {
        return Err(Said::new(
            "cli-daemon-cert-role",
            vec![
                ("cert", cert()),
                ("named", id.role.name().into()),
                ("config", config.node.role.name().into()),
            ],
        )
        .into());
    }
    let rights = lifeline_core::trust::Rights {
        role: id.role,
        desks: &id.desks,
    };
    if let Some(desk) = config.node.desks.iter().find(|d| !rights.serves_desk(**d)) {
        return Err(Said::new(
            "cli-daemon-cert-desk",
            vec![
                ("desk", desk.name().into()),
                ("cert", cert()),
                ("desks", desk_list(&id.desks).into()),
            ],
        )
        .into());
    }
    Ok(loaded)
}

/// Desk names for a message, `none` for none.
pub fn desk_list(desks: &[DeskRole]) -> String {
    if desks.is_empty() {
        return "none".to_owned();
    }
    desks
        .iter()
        .map(|d| d.name())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Runs the daemon until SIGTERM or SIGINT.
pub async fn run(config: Config) -> anyhow::Result<()> {
    let loaded = preflight(&config)?;
    std::fs::create_dir_all(&config.node.data_dir).map_err(|e| {
        Said::new(
            "cli-daemon-data-dir",
            vec![("path", config.node.data_dir.display().to_string().into())],
        )
        .because(e)
    })?;
    // The store writes only what the certificate lets this node write, and signs every
    // change with the certificate's key.
    let mut opts = config.store_options();
    // The whole file is read beside the work once the node serves ([`table_check`]).
    opts.open_check = OpenCheck::Deferred;
    opts.desks = loaded.identity().desks.clone();
    opts.credentials = Some(
        loaded
            .credentials()
            .map_err(|e| Said::new("cli-daemon-key", vec![]).because(e))?,
    );
    let store_path = config.store_path();
    let store = tokio::task::spawn_blocking(move || Store::open(&store_path, opts))
        .await
        .context("the store could not be opened")?
        .map_err(|e| {
            Said::new(
                "cli-cannot-open-store",
                vec![("path", config.store_path().display().to_string().into())],
            )
            .because(e)
        })?;
    let operators = Arc::new(Operators::open(&config.operators_path())?);
    keep_admin_token(&config, &operators, store.now_ms())?;

    let runtime = Arc::new(Runtime::new(config.clone(), store.now_ms()));
    runtime.metrics.watch(&store);
    // Replication and the table check run below the desks' priority.
    let background = Background::start(config.network.replication_nice)
        .map_err(|e| Said::new("cli-daemon-runtime", vec![]).because(e))?;
    let checking = table_check::spawn(background.handle(), store.clone(), runtime.clone());
    let session = SessionConfig {
        heartbeat: config.thresholds.heartbeat,
        peer_timeout: config.thresholds.peer_timeout,
        ..SessionConfig::default()
    };
    let peers = config
        .peers
        .iter()
        .map(|p| PeerAddr {
            name: p.name.clone(),
            role: p.role,
            addr: p.addr,
        })
        .collect();
    let mesh_mode = if config.network.window_mesh {
        WindowMesh::On
    } else {
        WindowMesh::Off
    };
    let mut mesh_cfg = MeshConfig::new(
        config.network.listen,
        peers,
        AcceptPolicy::for_node(config.node.role, mesh_mode),
    );
    mesh_cfg.session = session;
    mesh_cfg.window_days = config.window_days();
    let mesh = background
        .handle()
        .spawn(Mesh::start(store.clone(), loaded, mesh_cfg))
        .await
        .context("the mesh's start failed")?
        .map_err(|e| Said::new("cli-daemon-mesh", vec![]).because(e))?;
    let quic_addr = mesh.local_addr();
    runtime.set_mesh(mesh);

    let listener = tokio::net::TcpListener::bind(config.api.listen)
        .await
        .map_err(|e| {
            Said::new(
                "cli-daemon-listen",
                vec![
                    ("field", "api.listen".into()),
                    ("address", config.api.listen.to_string().into()),
                ],
            )
            .because(e)
        })?;
    let api_addr = listener.local_addr()?;
    let state = ApiState {
        store: store.clone(),
        operators: operators.clone(),
        runtime: runtime.clone(),
    };
    let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
    let server = {
        let mut stop = stop_rx.clone();
        let state = state.clone();
        tokio::spawn(async move {
            axum::serve(
                api::http::DeskListener(listener),
                crate::console::app(state),
            )
            .with_graceful_shutdown(async move {
                let _ = stop.changed().await;
            })
            .await
        })
    };
    let metrics_server = match config.metrics.listen {
        Some(addr) => {
            let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| {
                Said::new(
                    "cli-daemon-listen",
                    vec![
                        ("field", "metrics.listen".into()),
                        ("address", addr.to_string().into()),
                    ],
                )
                .because(e)
            })?;
            tracing::info!(addr = %addr, "serving Prometheus metrics at /metrics");
            let mut stop = stop_rx.clone();
            let app = api::metrics::router(state.clone());
            Some(tokio::spawn(async move {
                axum::serve(listener, app)
                    .with_graceful_shutdown(async move {
                        let _ = stop.changed().await;
                    })
                    .await
            }))
        }
        None => None,
    };
    let his_task = match &config.his {
        Some(his) => Some(start_bridge(
            &config,
            his,
            &store,
            &runtime,
            stop_rx.clone(),
        )?),
        None => None,
    };
    let monitor = tokio::spawn(monitor::monitor(
        store.clone(),
        runtime.clone(),
        stop_rx.clone(),
    ));

    let ready = Ready {
        node: config.node.name.to_string(),
        role: config.node.role,
        api: api_addr.to_string(),
        quic: quic_addr.map(|a| a.to_string()).unwrap_or_default(),
        pid: std::process::id(),
    };
    let ready_json = serde_json::to_string(&ready)?;
    std::fs::write(config.node.data_dir.join("ready.json"), &ready_json)?;
    tracing::info!(node = %ready.node, role = %ready.role, api = %ready.api, quic = %ready.quic, "lifeline daemon ready");

    wait_for_signal().await?;
    tracing::info!("shutting down");
    let _ = stop_tx.send(true);
    let _ = stop_rx.borrow_and_update();
    match tokio::time::timeout(Duration::from_secs(5), server).await {
        Ok(Ok(Ok(()))) => {}
        Ok(Ok(Err(e))) => tracing::warn!(error = chain(&e), "API server ended with an error"),
        Ok(Err(e)) => tracing::warn!(error = chain(&e), "API server task failed"),
        Err(_) => tracing::warn!("API server did not stop in time"),
    }
    let _ = monitor.await;
    if let Some(task) = his_task {
        // A pull in the middle of a page is cut: the page's commit either happened or not,
        // and the cursor says which.
        let abort = task.abort_handle();
        if tokio::time::timeout(Duration::from_secs(5), task)
            .await
            .is_err()
        {
            abort.abort();
        }
    }
    if let Some(metrics_server) = metrics_server {
        let _ = tokio::time::timeout(Duration::from_secs(5), metrics_server).await;
    }
    if let Some(mesh) = runtime.take_mesh() {
        let _ = background.handle().spawn(mesh.shutdown()).await;
    }
    checking.stop().await;
    // A peer's batch in its commit ends before the store closes.
    let _ = tokio::task::spawn_blocking(move || background.stop(Duration::from_secs(5))).await;
    let _ = std::fs::remove_file(config.node.data_dir.join("ready.json"));
    // Dropping the last store handle waits for the writer to commit what is queued.
    drop(operators);
    drop(runtime);
    tokio::task::spawn_blocking(move || drop(store)).await?;
    tracing::info!("stopped");
    Ok(())
}

/// Starts the HIS bridge of `[his]`: its mapping and password are read now, so a mistake
/// stops the start with a message naming it.
fn start_bridge(
    config: &Config,
    his: &crate::his::settings::HisSection,
    store: &Store,
    runtime: &Arc<Runtime>,
    stop: tokio::sync::watch::Receiver<bool>,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let unusable = |e: anyhow::Error| Said::new("cli-daemon-his", vec![]).because(e);
    let mapping = his.mapping().map_err(unusable)?;
    let settings = his
        .pg_settings(config.hospital.utc_offset.minutes())
        .map_err(unusable)?;
    let bridge = crate::his::bridge::BridgeConfig {
        settings,
        mapping,
        data_dir: config.node.data_dir.clone(),
        poll_interval: his.poll_interval,
        health_interval: his.health_interval,
        overlap: his.overlap,
        takeover_after: config.thresholds.emergency_after,
    };
    let (link, task) = crate::his::bridge::start(store.clone(), bridge, runtime.watch_mode(), stop);
    runtime.set_his(link);
    tracing::info!(url = %his.url, "HIS bridge started");
    Ok(task)
}

/// The CLI's token (`admin.token` in the data directory) stays the same across restarts, so
/// that scripts keep working; it is made on the first start (or when the file is gone or no
/// longer matches) and changed only by `lifeline operator rotate-admin-token`.
pub fn keep_admin_token(config: &Config, operators: &Operators, now_ms: i64) -> anyhow::Result<()> {
    let path = config.admin_token_path();
    let kept = std::fs::read_to_string(&path)
        .ok()
        .map(|t| t.trim().to_owned())
        .filter(|t| {
            operators
                .authenticate(t, now_ms)
                .is_ok_and(|op| op.desk == DeskRole::Admin && op.name == admin_name())
        });
    if kept.is_some() {
        return Ok(());
    }
    let token = operators.add(admin_name(), DeskRole::Admin, now_ms)?;
    operators::write_secret(&path, &token)?;
    tracing::info!(path = %path.display(), "a new admin token was written");
    Ok(())
}

async fn wait_for_signal() -> anyhow::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("cannot watch SIGTERM")?;
    let mut int = signal(SignalKind::interrupt()).context("cannot watch SIGINT")?;
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    Ok(())
}
