//! Identity and mutual TLS through the public API: real quinn endpoints on loopback, a
//! hospital CA on disk, and the refusals an operator relies on (foreign CA, expired, wrong
//! role, wrong node), plus the file checks of `init_ca`, `issue` and `load`.
#![allow(clippy::unwrap_used)] // test helpers: a failed setup is a failed test

use std::future::Future;
use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use lifeline_core::{DeskRole, NodeName, NodeRole};
use lifeline_sync::identity::{
    ALPN, AcceptPolicy, IdentityError, LoadedIdentity, NodeIdentity, TlsFiles, Validity,
    WindowMesh, client_config, client_config_for, init_ca, install_crypto_provider, issue,
    issue_with_validity, load, load_allowing_expired, peer_identity, server_config, server_name,
};
use quinn::crypto::rustls::QuicClientConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tempfile::TempDir;

const TEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Runs a test body under [`TEST_TIMEOUT`] so that nothing can hang.
async fn bounded<F: Future<Output = ()>>(body: F) {
    tokio::time::timeout(TEST_TIMEOUT, body)
        .await
        .expect("test finished within its timeout");
}

fn identity(name: &str, role: NodeRole, desks: &[DeskRole]) -> NodeIdentity {
    NodeIdentity::new(NodeName::new(name).unwrap(), role, desks.to_vec())
}

/// A CA in a temporary directory.
struct Hospital {
    dir: TempDir,
}

impl Hospital {
    fn new() -> Hospital {
        let dir = tempfile::tempdir().unwrap();
        init_ca(dir.path()).unwrap();
        Hospital { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn issue(&self, name: &str, role: NodeRole, desks: &[DeskRole]) -> TlsFiles {
        issue(self.path(), &identity(name, role, desks), 825)
            .unwrap()
            .tls_files()
    }

    fn node(&self, name: &str, role: NodeRole, desks: &[DeskRole]) -> LoadedIdentity {
        load(&self.issue(name, role, desks)).unwrap()
    }

    fn expired_node(&self, name: &str, role: NodeRole) -> TlsFiles {
        let now = SystemTime::now();
        let validity = Validity {
            not_before: now - Duration::from_secs(30 * 86_400),
            not_after: now - Duration::from_secs(86_400),
        };
        issue_with_validity(self.path(), &identity(name, role, &[]), validity)
            .unwrap()
            .tls_files()
    }

    /// Another directory holding the same CA, to issue a second certificate for a name.
    fn same_ca_elsewhere(&self) -> TempDir {
        let dir = tempfile::tempdir().unwrap();
        for file in ["ca.pem", "ca.key"] {
            std::fs::copy(self.path().join(file), dir.path().join(file)).unwrap();
        }
        dir
    }
}

/// What each side of one handshake attempt saw.
struct Outcome {
    server: Result<quinn::Connection, quinn::ConnectionError>,
    client: Result<quinn::Connection, String>,
    // Kept alive until the outcome is inspected.
    _endpoints: (quinn::Endpoint, quinn::Endpoint),
}

impl Outcome {
    /// The server refused the client: its accept failed, and the client's connection is
    /// closed (the client may have thought the handshake done before the server's verdict).
    async fn server_refused(self) -> String {
        let server_err = match self.server {
            Ok(conn) => panic!(
                "server accepted {:?}",
                peer_identity(&conn).map(|id| id.to_string())
            ),
            Err(e) => e.to_string(),
        };
        eprintln!("server refused: {server_err}");
        if let Ok(conn) = self.client {
            let closed = conn.closed().await;
            assert!(
                matches!(
                    closed,
                    quinn::ConnectionError::ConnectionClosed(_)
                        | quinn::ConnectionError::TransportError(_)
                ),
                "client connection ended with {closed:?}"
            );
        }
        server_err
    }

    /// The client refused the server; the server never got a connection either.
    fn client_refused(self) -> String {
        assert!(self.server.is_err(), "server got a connection");
        match self.client {
            Ok(_) => panic!("client accepted the server"),
            Err(e) => {
                eprintln!("client refused: {e}");
                e
            }
        }
    }
}

fn localhost() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

async fn handshake(
    server_cfg: quinn::ServerConfig,
    client_cfg: quinn::ClientConfig,
    server_name: &str,
) -> Outcome {
    let server_ep = quinn::Endpoint::server(server_cfg, localhost()).unwrap();
    let addr = server_ep.local_addr().unwrap();
    let client_ep = quinn::Endpoint::client(localhost()).unwrap();
    let server_side = async {
        let incoming = server_ep.accept().await.expect("server endpoint is open");
        incoming.await
    };
    let client_side = async {
        client_ep
            .connect_with(client_cfg, addr, server_name)
            .map_err(|e| e.to_string())?
            .await
            .map_err(|e| e.to_string())
    };
    let (server, client) = tokio::join!(server_side, client_side);
    Outcome {
        server,
        client,
        _endpoints: (server_ep, client_ep),
    }
}

/// A client built straight from rustls, as a foreign node would: it trusts `trust_ca` and
/// presents whatever certificate it has.
fn raw_client_config(trust_ca: &Path, cert: &Path, key: &Path) -> quinn::ClientConfig {
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_file(trust_ca).unwrap())
        .unwrap();
    let chain = vec![CertificateDer::from_pem_file(cert).unwrap()];
    let key = PrivateKeyDer::from_pem_file(key).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, key)
        .unwrap();
    tls.alpn_protocols = vec![ALPN.to_vec()];
    quinn::ClientConfig::new(Arc::new(QuicClientConfig::try_from(tls).unwrap()))
}

fn central_policy() -> AcceptPolicy {
    AcceptPolicy::for_node(NodeRole::Central, WindowMesh::Off)
}

fn central_name() -> NodeName {
    NodeName::new("central").unwrap()
}

#[tokio::test]
async fn trusted_window_connects_to_central_and_both_know_each_other() {
    install_crypto_provider();
    bounded(async {
        let hospital = Hospital::new();
        let central = hospital.node("central", NodeRole::Central, &[]);
        let window = hospital.node(
            "W01",
            NodeRole::Window,
            &[DeskRole::Registration, DeskRole::Cashier],
        );
        assert_eq!(window.identity().name.as_str(), "W01");

        let outcome = handshake(
            server_config(&central, central_policy()).unwrap(),
            client_config_for(&window, &central_name(), NodeRole::Central).unwrap(),
            &server_name(&central_name()),
        )
        .await;
        let server_conn = outcome.server.as_ref().expect("server accepted");
        let client_conn = outcome.client.as_ref().expect("client connected");

        let seen_by_central = peer_identity(server_conn).unwrap();
        assert_eq!(seen_by_central, *window.identity());
        assert_eq!(seen_by_central.role, NodeRole::Window);
        assert_eq!(
            seen_by_central.desks,
            vec![DeskRole::Registration, DeskRole::Cashier]
        );
        let seen_by_window = peer_identity(client_conn).unwrap();
        assert_eq!(seen_by_window, *central.identity());
        assert_eq!(seen_by_window.role, NodeRole::Central);
        assert!(seen_by_window.desks.is_empty());

        let alpn = client_conn
            .handshake_data()
            .unwrap()
            .downcast::<quinn::crypto::rustls::HandshakeData>()
            .unwrap()
            .protocol;
        assert_eq!(alpn.as_deref(), Some(ALPN));

        // The connection carries data both ways.
        let (mut send, mut recv) = client_conn.open_bi().await.unwrap();
        send.write_all(b"ping").await.unwrap();
        send.finish().unwrap();
        let (mut s_send, mut s_recv) = server_conn.accept_bi().await.unwrap();
        assert_eq!(s_recv.read_to_end(64).await.unwrap(), b"ping");
        s_send.write_all(b"pong").await.unwrap();
        s_send.finish().unwrap();
        assert_eq!(recv.read_to_end(64).await.unwrap(), b"pong");
    })
    .await;
}

#[tokio::test]
async fn meshing_windows_with_unusual_names_connect() {
    bounded(async {
        let hospital = Hospital::new();
        let server = hospital.node("Win_02.east", NodeRole::Window, &[DeskRole::Pharmacy]);
        let client = hospital.node("W01", NodeRole::Window, &[DeskRole::Triage]);
        let server_name_str = server.identity().server_name();
        assert_eq!(server_name_str, "win_02.east");

        // The generic client config checks the CA and the dialed name only.
        let outcome = handshake(
            server_config(
                &server,
                AcceptPolicy::for_node(NodeRole::Window, WindowMesh::On),
            )
            .unwrap(),
            client_config(&client).unwrap(),
            &server_name_str,
        )
        .await;
        let seen = peer_identity(outcome.client.as_ref().expect("client connected")).unwrap();
        assert_eq!(seen.name.as_str(), "Win_02.east");
        assert_eq!(seen.desks, vec![DeskRole::Pharmacy]);
        let seen = peer_identity(outcome.server.as_ref().expect("server accepted")).unwrap();
        assert_eq!(seen.name.as_str(), "W01");
    })
    .await;
}

#[tokio::test]
async fn client_from_another_ca_is_refused() {
    bounded(async {
        let hospital = Hospital::new();
        let rogue = Hospital::new();
        let central = hospital.node("central", NodeRole::Central, &[]);
        let intruder = rogue.issue("W66", NodeRole::Window, &[]);

        // The intruder trusts the hospital CA, so only the server's check can stop it.
        let outcome = handshake(
            server_config(&central, central_policy()).unwrap(),
            raw_client_config(
                &hospital.path().join("ca.pem"),
                &intruder.cert,
                &intruder.key,
            ),
            "central",
        )
        .await;
        let err = outcome.server_refused().await;
        assert!(err.contains("UnknownIssuer"), "{err}");
    })
    .await;
}

#[tokio::test]
async fn server_from_another_ca_is_refused() {
    bounded(async {
        let hospital = Hospital::new();
        let rogue = Hospital::new();
        let impostor = rogue.node("central", NodeRole::Central, &[]);
        let window = hospital.node("W01", NodeRole::Window, &[]);

        let outcome = handshake(
            server_config(&impostor, AcceptPolicy::any()).unwrap(),
            client_config_for(&window, &central_name(), NodeRole::Central).unwrap(),
            "central",
        )
        .await;
        let err = outcome.client_refused();
        assert!(err.contains("UnknownIssuer"), "{err}");
    })
    .await;
}

#[tokio::test]
async fn expired_client_is_refused() {
    bounded(async {
        let hospital = Hospital::new();
        let central = hospital.node("central", NodeRole::Central, &[]);
        let stale = load_allowing_expired(&hospital.expired_node("W03", NodeRole::Window)).unwrap();

        let outcome = handshake(
            server_config(&central, central_policy()).unwrap(),
            client_config_for(&stale, &central_name(), NodeRole::Central).unwrap(),
            "central",
        )
        .await;
        let err = outcome.server_refused().await;
        assert!(err.to_lowercase().contains("expired"), "{err}");
    })
    .await;
}

#[tokio::test]
async fn expired_server_is_refused() {
    bounded(async {
        let hospital = Hospital::new();
        let stale =
            load_allowing_expired(&hospital.expired_node("central", NodeRole::Central)).unwrap();
        let window = hospital.node("W01", NodeRole::Window, &[]);

        let outcome = handshake(
            server_config(&stale, central_policy()).unwrap(),
            client_config_for(&window, &central_name(), NodeRole::Central).unwrap(),
            "central",
        )
        .await;
        let err = outcome.client_refused();
        assert!(err.to_lowercase().contains("expired"), "{err}");
    })
    .await;
}

#[tokio::test]
async fn server_with_the_expected_name_but_another_role_is_refused() {
    bounded(async {
        let hospital = Hospital::new();
        // A window certificate that is named "central", issued by the real CA.
        let elsewhere = hospital.same_ca_elsewhere();
        let files = issue(
            elsewhere.path(),
            &identity("central", NodeRole::Window, &[DeskRole::Cashier]),
            825,
        )
        .unwrap();
        let fake_central = load(&files.tls_files()).unwrap();
        let window = hospital.node("W01", NodeRole::Window, &[]);

        let outcome = handshake(
            server_config(&fake_central, AcceptPolicy::any()).unwrap(),
            client_config_for(&window, &central_name(), NodeRole::Central).unwrap(),
            "central",
        )
        .await;
        let err = outcome.client_refused();
        assert!(
            err.contains("expected node central with role central") && err.contains("role window"),
            "{err}"
        );
    })
    .await;
}

#[tokio::test]
async fn server_that_is_another_node_is_refused() {
    bounded(async {
        let hospital = Hospital::new();
        let w02 = hospital.node("W02", NodeRole::Window, &[]);
        let window = hospital.node("W01", NodeRole::Window, &[]);

        // Dialed by the name configured for central: the certificate is for w02.
        let outcome = handshake(
            server_config(&w02, AcceptPolicy::any()).unwrap(),
            client_config_for(&window, &central_name(), NodeRole::Central).unwrap(),
            &server_name(&central_name()),
        )
        .await;
        let err = outcome.client_refused();
        assert!(err.contains("not valid for name \"central\""), "{err}");

        // Dialed by its own name but expected to be central: still refused.
        let outcome = handshake(
            server_config(&w02, AcceptPolicy::any()).unwrap(),
            client_config_for(&window, &central_name(), NodeRole::Central).unwrap(),
            "w02",
        )
        .await;
        let err = outcome.client_refused();
        assert!(err.contains("says W02 with role window"), "{err}");
    })
    .await;
}

#[tokio::test]
async fn server_whose_policy_excludes_windows_refuses_a_window() {
    bounded(async {
        let hospital = Hospital::new();
        let server = hospital.node("W02", NodeRole::Window, &[]);
        let window = hospital.node("W01", NodeRole::Window, &[]);
        let w02 = NodeName::new("W02").unwrap();

        let outcome = handshake(
            server_config(
                &server,
                AcceptPolicy::for_node(NodeRole::Window, WindowMesh::Off),
            )
            .unwrap(),
            client_config_for(&window, &w02, NodeRole::Window).unwrap(),
            &server_name(&w02),
        )
        .await;
        let err = outcome.server_refused().await;
        assert!(err.contains("role window may not connect"), "{err}");

        // The same server lets a standby in.
        let standby = hospital.node("standby", NodeRole::Standby, &[]);
        let outcome = handshake(
            server_config(
                &server,
                AcceptPolicy::for_node(NodeRole::Window, WindowMesh::Off),
            )
            .unwrap(),
            client_config_for(&standby, &w02, NodeRole::Window).unwrap(),
            &server_name(&w02),
        )
        .await;
        let seen = peer_identity(outcome.server.as_ref().expect("standby accepted")).unwrap();
        assert_eq!(seen.role, NodeRole::Standby);
    })
    .await;
}

#[test]
fn init_ca_refuses_to_overwrite_and_keys_are_private() {
    let dir = tempfile::tempdir().unwrap();
    let ca = init_ca(dir.path()).unwrap();
    let before = std::fs::read(&ca.key).unwrap();
    let err = init_ca(dir.path()).unwrap_err();
    assert!(matches!(err, IdentityError::AlreadyExists { .. }), "{err}");
    assert!(err.to_string().contains("ca.pem"), "{err}");
    assert_eq!(std::fs::read(&ca.key).unwrap(), before, "CA key untouched");

    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&ca.key), 0o600);
    let node = issue(dir.path(), &identity("W01", NodeRole::Window, &[]), 825).unwrap();
    assert_eq!(mode(&node.key), 0o600);

    let err = issue(dir.path(), &identity("W01", NodeRole::Window, &[]), 825).unwrap_err();
    assert!(matches!(err, IdentityError::AlreadyExists { .. }), "{err}");
    assert!(err.to_string().contains("W01.pem"), "{err}");
}

#[test]
fn issue_refuses_names_that_cannot_be_certificate_names() {
    let hospital = Hospital::new();
    for name in ["ca", "CA", "a..b", "10.0.0.1", "-w01"] {
        let err = issue(hospital.path(), &identity(name, NodeRole::Window, &[]), 825).unwrap_err();
        assert!(
            matches!(err, IdentityError::UnusableName { .. }),
            "{name}: {err}"
        );
    }
    let err = issue(
        &hospital.path().join("nowhere"),
        &identity("W01", NodeRole::Window, &[]),
        825,
    )
    .unwrap_err();
    assert!(err.to_string().contains("ca.pem"), "{err}");
}

#[test]
fn load_reports_a_missing_file() {
    let hospital = Hospital::new();
    let mut files = hospital.issue("W01", NodeRole::Window, &[]);
    files.key = hospital.path().join("W99.key");
    let err = load(&files).unwrap_err();
    assert!(matches!(err, IdentityError::Read { .. }), "{err}");
    assert!(err.to_string().contains("W99.key"), "{err}");
}

#[test]
fn load_reports_garbage_pem() {
    let hospital = Hospital::new();
    let files = hospital.issue("W01", NodeRole::Window, &[]);
    std::fs::write(&files.cert, "this is not a certificate\n").unwrap();
    let err = load(&files).unwrap_err();
    assert!(matches!(err, IdentityError::NotPem { .. }), "{err}");
    assert!(err.to_string().contains("W01.pem"), "{err}");

    let files = hospital.issue("W02", NodeRole::Window, &[]);
    std::fs::write(&files.key, "-----BEGIN PRIVATE KEY-----\n!!!\n").unwrap();
    let err = load(&files).unwrap_err();
    assert!(matches!(err, IdentityError::NotPem { .. }), "{err}");
    assert!(err.to_string().contains("W02.key"), "{err}");
}

#[test]
fn load_reports_a_certificate_of_another_ca() {
    let hospital = Hospital::new();
    let rogue = Hospital::new();
    let mut files = rogue.issue("W01", NodeRole::Window, &[]);
    files.ca = hospital.path().join("ca.pem");
    let err = load(&files).unwrap_err();
    assert!(matches!(err, IdentityError::Untrusted { .. }), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("W01.pem") && msg.contains("not trusted"),
        "{msg}"
    );
}

#[test]
fn load_reports_a_key_that_does_not_match() {
    let hospital = Hospital::new();
    let mut files = hospital.issue("W01", NodeRole::Window, &[]);
    files.key = hospital.issue("W02", NodeRole::Window, &[]).key;
    let err = load(&files).unwrap_err();
    assert!(matches!(err, IdentityError::KeyMismatch { .. }), "{err}");
    let msg = err.to_string();
    assert!(msg.contains("W02.key") && msg.contains("W01.pem"), "{msg}");
}

#[test]
fn load_reports_an_expired_certificate() {
    let hospital = Hospital::new();
    let files = hospital.expired_node("W01", NodeRole::Window);
    let err = load(&files).unwrap_err();
    assert!(matches!(err, IdentityError::Expired { .. }), "{err}");
    assert!(err.to_string().contains("W01.pem expired on"), "{err}");
    // Everything but the dates still checks out.
    let loaded = load_allowing_expired(&files).unwrap();
    assert!(loaded.not_after() < SystemTime::now());
}

#[test]
fn load_reports_a_certificate_without_identity() {
    let hospital = Hospital::new();
    // The CA's own certificate names no node.
    let files = TlsFiles {
        ca: hospital.path().join("ca.pem"),
        cert: hospital.path().join("ca.pem"),
        key: hospital.path().join("ca.key"),
    };
    let err = load(&files).unwrap_err();
    assert!(matches!(err, IdentityError::CertIdentity { .. }), "{err}");
    assert!(
        err.to_string()
            .contains("carries no Lifeline node identity"),
        "{err}"
    );
}

#[test]
fn loaded_identity_round_trips_through_the_files() {
    let hospital = Hospital::new();
    let issued = issue(
        hospital.path(),
        &identity(
            "W07",
            NodeRole::Window,
            &[DeskRole::Doctor, DeskRole::Pharmacy],
        ),
        825,
    )
    .unwrap();
    let files = TlsFiles::in_dir(hospital.path(), &NodeName::new("W07").unwrap());
    assert_eq!(files, issued.tls_files());
    let loaded = load(&files).unwrap();
    assert_eq!(
        loaded.identity().subject_ou(),
        "role=window;desks=doctor,pharmacy"
    );
    let days = loaded
        .not_after()
        .duration_since(SystemTime::now())
        .unwrap()
        .as_secs()
        / 86_400;
    assert!((823..=825).contains(&days), "{days}");
    // The key never shows in debug output.
    assert!(!format!("{loaded:?}").contains("PRIVATE"));
}
