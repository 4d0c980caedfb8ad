//! The baseline of the replication benchmark: the same workload through samod, the Rust port
//! of automerge-repo, used as its documentation shows: one `Repo` per side (built for tokio,
//! with its filesystem storage), the window creating one document per registration with
//! `Repo::create`, central accepting with `Repo::make_acceptor` on a TCP listener
//! (`Transport::from_tokio_io`), and the window dialing it with `Repo::dial_tcp`, through a
//! counting TCP relay. With the default share policy the window announces every document to
//! central as soon as they are connected; a document is on central once
//! `DocHandle::they_have_our_changes` resolves for the connection.
//!
//! Each document holds one registration as a map: `{"patient": {...}, "visit": {...}}` with
//! the fields and values of the Lifeline records (ids, header, names, dates, department).

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use lifeline_core::automerge::transaction::Transactable;
use lifeline_core::automerge::{self, Automerge, AutomergeError, ObjId, ObjType, ScalarValue};
use samod::storage::TokioFilesystemStorage;
use samod::{BackoffConfig, ConnectionId, DocHandle, PeerId, Repo, Transport, Url};
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::task::JoinSet;

use crate::relay::TcpRelay;
use crate::replication::PhaseRun;

/// The samod release measured (as pinned in Cargo.lock).
pub const SAMOD_VERSION: &str = "0.16";

/// How the two repos were connected, for the report.
pub const TRANSPORT: &str = "Repo::dial_tcp to an acceptor fed by a TcpListener (length-delimited \
frames over plain TCP, no TLS); TokioFilesystemStorage on both sides (it does not fsync); the TCP \
relay counts the stream's bytes";

/// Most documents created at once while setting up.
const CREATE_IN_FLIGHT: usize = 64;

/// A registration (`{"patient": {...}, "visit": {...}}`) as an Automerge document made in
/// one change, as an application would write it.
pub fn registration_doc(registration: &Value) -> anyhow::Result<Automerge> {
    let Value::Object(fields) = registration else {
        bail!("a registration is a JSON object, not {registration}");
    };
    let mut doc = Automerge::new();
    doc.transact::<_, _, AutomergeError>(|tx| {
        for (key, value) in fields {
            put_in_map(tx, &automerge::ROOT, key, value)?;
        }
        Ok(())
    })
    .map_err(|failure| anyhow!("cannot build the document: {}", failure.error))?;
    Ok(doc)
}

fn scalar(value: &Value) -> ScalarValue {
    match value {
        Value::Bool(b) => ScalarValue::Boolean(*b),
        Value::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => ScalarValue::Int(i),
            (None, Some(u)) => ScalarValue::Uint(u),
            _ => ScalarValue::F64(n.as_f64().unwrap_or(0.0)),
        },
        Value::String(s) => ScalarValue::Str(s.as_str().into()),
        Value::Null | Value::Array(_) | Value::Object(_) => ScalarValue::Null,
    }
}

fn put_in_map(
    tx: &mut impl Transactable,
    obj: &ObjId,
    key: &str,
    value: &Value,
) -> Result<(), AutomergeError> {
    match value {
        Value::Object(fields) => {
            let child = tx.put_object(obj, key, ObjType::Map)?;
            for (k, v) in fields {
                put_in_map(tx, &child, k, v)?;
            }
        }
        Value::Array(items) => {
            let child = tx.put_object(obj, key, ObjType::List)?;
            for (i, v) in items.iter().enumerate() {
                insert_in_list(tx, &child, i, v)?;
            }
        }
        _ => tx.put(obj, key, scalar(value))?,
    }
    Ok(())
}

fn insert_in_list(
    tx: &mut impl Transactable,
    list: &ObjId,
    index: usize,
    value: &Value,
) -> Result<(), AutomergeError> {
    match value {
        Value::Object(fields) => {
            let child = tx.insert_object(list, index, ObjType::Map)?;
            for (k, v) in fields {
                put_in_map(tx, &child, k, v)?;
            }
        }
        Value::Array(items) => {
            let child = tx.insert_object(list, index, ObjType::List)?;
            for (i, v) in items.iter().enumerate() {
                insert_in_list(tx, &child, i, v)?;
            }
        }
        _ => tx.insert(list, index, scalar(value))?,
    }
    Ok(())
}

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
pub async fn run(
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
    let relay = TcpRelay::start(central_addr).await?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use lifeline_core::automerge::ReadDoc;

    #[test]
    fn a_registration_becomes_a_map_of_its_fields() {
        let reg = serde_json::json!({
            "patient": {"name": "王小明", "age": 7, "tags": ["a", {"b": true}], "no": null},
            "visit": {"department": "PED-GEN", "fee": 12.5},
        });
        let doc = registration_doc(&reg).expect("a document");
        let (_, patient) = doc
            .get(automerge::ROOT, "patient")
            .expect("read")
            .expect("a patient map");
        let (name, _) = doc.get(&patient, "name").expect("read").expect("a name");
        assert_eq!(name.as_str(), Some("王小明"));
        let (_, tags) = doc.get(&patient, "tags").expect("read").expect("tags");
        assert_eq!(doc.length(&tags), 2);
        assert_eq!(doc.get_changes(&[]).len(), 1, "one change");
        assert!(registration_doc(&serde_json::json!([1])).is_err());
    }
}
