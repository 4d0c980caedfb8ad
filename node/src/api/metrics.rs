//! Prometheus metrics at `GET /metrics` on their own listen address (`[metrics] listen`, off
//! by default), in the text exposition format, with the Prometheus project's client
//! (`prometheus-client`). Every metric is documented in `docs/metrics.md`; example alert rules
//! are in `docs/alerts.yml`.
//!
//! The histograms live for the daemon's life ([`crate::metrics::Metrics`]); everything else is
//! read at scrape time from what the status already keeps: the mode, the peers' published
//! state and the store's kept counts, each an O(1) read.

use std::time::Instant;

use axum::extract::{Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use lifeline_core::numbers::Series;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use super::ApiState;
use crate::daemon::health::Mode;
use crate::daemon::in_sync;
use crate::his::bridge::Reach;

/// Times the desks' write requests (every method but GET) into the latency histogram.
pub async fn time_desk_writes(State(s): State<ApiState>, req: Request, next: Next) -> Response {
    let write = req.method() != Method::GET;
    let started = Instant::now();
    let response = next.run(req).await;
    if write {
        s.runtime
            .metrics
            .desk_write_seconds
            .observe(started.elapsed().as_secs_f64());
    }
    response
}

type Labels = Vec<(String, String)>;

fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// A gauge family filled with values, registered under `name`.
fn gauges(registry: &mut Registry, name: &str, help: &str, values: Vec<(Labels, f64)>) {
    let family = Family::<Labels, Gauge<f64, std::sync::atomic::AtomicU64>>::default();
    for (l, v) in values {
        family.get_or_create(&l).set(v);
    }
    registry.register(name, help, family);
}

fn gauge(registry: &mut Registry, name: &str, help: &str, value: f64) {
    gauges(registry, name, help, vec![(Vec::new(), value)]);
}

/// Every metric, as the text exposition format (blocking: reads the store).
pub fn render(state: &ApiState) -> anyhow::Result<String> {
    let store = &state.store;
    let runtime = &state.runtime;
    let mut r = Registry::with_prefix("lifeline");
    let mode = runtime.mode();
    let peers = runtime.peers();
    let stats = store.stats()?;
    let episode = store.episode_info()?;
    let in_episode = episode.is_some();
    let now_ms = store.now_ms();

    gauges(
        &mut r,
        "mode",
        "1 for the node's current mode (normal, degraded, isolated), 0 for the others",
        [Mode::Normal, Mode::Degraded, Mode::Isolated]
            .into_iter()
            .map(|m| {
                (
                    labels(&[("mode", m.name())]),
                    f64::from(u8::from(m == mode.mode)),
                )
            })
            .collect(),
    );
    gauge(
        &mut r,
        "central_lost_seconds",
        "Seconds since central was last seen going away; 0 while it is reachable",
        mode.central_away_ms(now_ms).unwrap_or(0) as f64 / 1000.0,
    );
    let peer_labels = |p: &lifeline_sync::mesh::PeerStatus| -> Labels {
        labels(&[
            ("peer", p.name.as_str()),
            ("role", p.role.map_or("unknown", |r| r.name())),
        ])
    };
    let per_peer = |f: &dyn Fn(&lifeline_sync::mesh::PeerStatus) -> f64| -> Vec<(Labels, f64)> {
        peers.iter().map(|p| (peer_labels(p), f(p))).collect()
    };
    type PeerFigure = fn(&lifeline_sync::mesh::PeerStatus) -> f64;
    let peer_figures: [(&str, &str, PeerFigure); 9] = [
        (
            "peer_connected",
            "1 while a connection with the peer is up",
            |p| f64::from(u8::from(p.connected)),
        ),
        (
            "peer_backlog_records",
            "Records changed here that the peer has not acknowledged",
            |p| p.to_send as f64,
        ),
        (
            "peer_to_receive_records",
            "The peer's changes not yet applied here, by its feed as of its hello",
            |p| p.to_receive as f64,
        ),
        (
            "peer_records_sent",
            "Records of changes sent to the peer since the daemon started (a counter)",
            |p| p.records_sent as f64,
        ),
        (
            "peer_bytes_sent",
            "Bytes of changes sent to the peer since the daemon started (a counter)",
            |p| p.bytes_sent as f64,
        ),
        (
            "peer_records_received",
            "Records of changes received from the peer since the daemon started (a counter)",
            |p| p.records_received as f64,
        ),
        (
            "peer_bytes_received",
            "Bytes of changes received from the peer since the daemon started (a counter)",
            |p| p.bytes_received as f64,
        ),
        (
            "peer_digest_repairs",
            "Repairs of digests that stayed different with the peer since the daemon started (a counter)",
            |p| p.repairs as f64,
        ),
        (
            "peer_records_repaired",
            "Records the peer lacked that a repair sent whole, since the daemon started (a counter)",
            |p| p.records_repaired as f64,
        ),
    ];
    for (name, help, figure) in peer_figures {
        gauges(&mut r, name, help, per_peer(&figure));
    }
    gauges(
        &mut r,
        "peer_in_sync",
        "1 when the last digest comparison with the peer agreed, 0 when it differed, absent before one",
        peers
            .iter()
            .filter_map(|p| p.in_sync.map(|s| (peer_labels(p), f64::from(u8::from(s)))))
            .collect(),
    );
    gauges(
        &mut r,
        "peer_refused_records",
        "Records refused from the peer, by reason, since the daemon started (a counter)",
        peers
            .iter()
            .flat_map(|p| {
                p.refused_by_reason.iter().map(move |(reason, n)| {
                    (
                        labels(&[("peer", p.name.as_str()), ("reason", reason.as_str())]),
                        *n as f64,
                    )
                })
            })
            .collect(),
    );

    gauges(
        &mut r,
        "records",
        "Records held, by kind (kept in the store's commits)",
        stats
            .records_by_kind
            .iter()
            .map(|(k, n)| (labels(&[("kind", k.name())]), *n as f64))
            .collect(),
    );
    gauge(
        &mut r,
        "open_conflicts",
        "Conflicts waiting for a reviewer",
        stats.open_conflicts as f64,
    );
    gauges(
        &mut r,
        "worklist_items",
        "Recovery worklist items, by category",
        stats
            .worklist_by_category
            .iter()
            .map(|(c, n)| (labels(&[("category", c.name())]), *n as f64))
            .collect(),
    );
    gauge(
        &mut r,
        "unreconciled_records",
        "Emergency records central has not acknowledged",
        stats.unreconciled as f64,
    );
    gauge(
        &mut r,
        "episode_open",
        "1 while this node is in an emergency episode",
        f64::from(u8::from(episode.is_some())),
    );
    gauge(
        &mut r,
        "episode_age_seconds",
        "Seconds since the node's emergency episode started; 0 without one",
        episode.map_or(0.0, |e| (now_ms - e.started_ms).max(0) as f64 / 1000.0),
    );
    if let Some(his) = runtime.his() {
        let (up, waiting, refused, pulled_ms) = his.with(|s| {
            (
                s.health.reach == Reach::Up,
                s.waiting,
                s.refused,
                s.last_pull
                    .as_ref()
                    .filter(|p| p.error.is_none())
                    .map_or(0, |p| p.finished_ms),
            )
        });
        gauge(
            &mut r,
            "his_up",
            "1 while the HIS answers the bridge, 0 while it is down or not tried yet",
            f64::from(u8::from(up)),
        );
        gauge(
            &mut r,
            "his_waiting_rows",
            "Interface rows pushed into the HIS that it has not imported yet",
            waiting as f64,
        );
        gauge(
            &mut r,
            "his_refused_rows",
            "Interface rows whose latest revision the HIS refused",
            refused as f64,
        );
        gauge(
            &mut r,
            "his_last_pull_success_timestamp_seconds",
            "When a pull from the HIS last finished without error; 0 if never since the start",
            pulled_ms as f64 / 1000.0,
        );
    }
    let (working_set, judged) = in_sync::of_node(
        store.role(),
        &runtime.config,
        mode.mode,
        in_episode,
        stats.unreconciled,
        &peers,
        runtime
            .his()
            .map(|link| in_sync::HisFacts::of(&super::his::HisPeer::of(&link))),
    );
    gauge(
        &mut r,
        "in_sync",
        "1 when everything is replicated and reconciled (status's in_sync)",
        f64::from(u8::from(judged.in_sync)),
    );
    if let Some(ws) = working_set {
        gauge(
            &mut r,
            "working_set_progress_ratio",
            "A window's working set received, 0 to 1",
            ws.progress,
        );
    }
    gauges(
        &mut r,
        "numbers_left",
        "Numbers left in the ranges this node holds, by series",
        Series::ALL
            .into_iter()
            .filter_map(|s| {
                store
                    .numbers_left(s)
                    .ok()
                    .map(|n| (labels(&[("series", s.name())]), n as f64))
            })
            .collect(),
    );
    gauge(
        &mut r,
        "store_file_bytes",
        "Length of the store file (redb grows it ahead of its pages)",
        stats.file_bytes as f64,
    );
    gauge(
        &mut r,
        "store_disk_bytes",
        "Bytes the file system allocated to the store file",
        stats.disk_bytes as f64,
    );
    gauge(
        &mut r,
        "audit_entries",
        "Entries in the audit chain",
        stats.audit_entries as f64,
    );
    gauge(
        &mut r,
        "restore_drill_last_success_timestamp_seconds",
        "When a restore drill (`lifeline verify`) last passed for this node; 0 if never",
        store
            .restore_drills()?
            .iter()
            .filter(|d| d.passed)
            .map(|d| d.at_ms)
            .max()
            .unwrap_or(0) as f64
            / 1000.0,
    );
    r.register(
        "desk_write_seconds",
        "Seconds from a desk's write request to its answer, after the durable commit",
        runtime.metrics.desk_write_seconds.clone(),
    );
    r.register(
        "commit_batch_size",
        "Writes folded into one durable commit (group commit)",
        runtime.metrics.commit_batch_size.clone(),
    );
    r.register(
        "commit_seconds",
        "Seconds each durable commit took to write its pages and fsync them",
        runtime.metrics.commit_seconds.clone(),
    );
    let mut out = String::new();
    encode(&mut out, &r)?;
    Ok(out)
}

/// `GET /metrics`.
pub async fn serve_metrics(State(state): State<ApiState>) -> Response {
    let s = state.clone();
    match tokio::task::spawn_blocking(move || render(&s)).await {
        Ok(Ok(text)) => (
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            text,
        )
            .into_response(),
        Ok(Err(e)) => (StatusCode::INTERNAL_SERVER_ERROR, crate::error::chain(&*e)).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, crate::error::chain(&e)).into_response(),
    }
}

/// The metrics server's routes.
pub fn router(state: ApiState) -> axum::Router {
    axum::Router::new()
        .route("/metrics", axum::routing::get(serve_metrics))
        .with_state(state)
}
