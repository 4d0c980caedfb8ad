//! The simulated hospital's certificates: one CA and a certificate for every node name a run
//! may use, made once per process (key generation and files cost more than a whole run) and
//! then held in memory. Every run's replicas sign with these keys and every session checks
//! relayed roster entries against this CA, as the real mesh does.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use lifeline_core::store::Credentials;
use lifeline_core::{DeskRole, NodeName, NodeRole};
use lifeline_sync::identity::{self, Anchor, IdentityError, NodeIdentity};

/// Most windows a run has.
pub const MAX_WINDOWS: usize = 8;

/// What a window's desks write in the simulation: patients and visits (registration),
/// prescriptions and charges (doctor), dispensing (pharmacy), invoices (cashier).
pub const WINDOW_DESKS: [DeskRole; 4] = [
    DeskRole::Registration,
    DeskRole::Doctor,
    DeskRole::Pharmacy,
    DeskRole::Cashier,
];

/// Why the certificates could not be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SetupError {
    #[error("cannot make a temporary directory for the CA")]
    TempDir(#[source] std::io::Error),
    #[error("cannot make the simulated hospital's certificates")]
    Identity(#[source] Box<IdentityError>),
    #[error("{0:?} is not a valid node name")]
    Name(String),
}

/// A node's certificate as the simulation uses it.
#[derive(Debug, Clone)]
pub struct Certified {
    pub identity: NodeIdentity,
    pub credentials: Credentials,
}

/// The CA and every node's certificate.
#[derive(Debug)]
pub struct Identities {
    pub anchor: Anchor,
    nodes: BTreeMap<String, Certified>,
}

impl Identities {
    pub fn node(&self, name: &str) -> Option<&Certified> {
        self.nodes.get(name)
    }
}

/// A window's name: `W01` to `W08`.
pub fn window_name(index: usize) -> String {
    format!("W{:02}", index + 1)
}

static IDENTITIES: OnceLock<Result<Identities, String>> = OnceLock::new();

/// The certificates, made on first use. A failure is kept as its text: it happens at most
/// once per process, before any run, and every run reports the same.
pub fn identities() -> Result<&'static Identities, String> {
    IDENTITIES
        .get_or_init(|| make().map_err(|e| chain(&e)))
        .as_ref()
        .map_err(Clone::clone)
}

fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

fn identity_error(e: IdentityError) -> SetupError {
    SetupError::Identity(Box::new(e))
}

fn make() -> Result<Identities, SetupError> {
    let dir = tempfile::tempdir().map_err(SetupError::TempDir)?;
    identity::init_ca(dir.path()).map_err(identity_error)?;
    let anchor = Anchor::load(&dir.path().join(identity::CA_CERT_FILE)).map_err(identity_error)?;
    let mut nodes = BTreeMap::new();
    let mut wanted = vec![
        ("central".to_owned(), NodeRole::Central, Vec::new()),
        ("standby".to_owned(), NodeRole::Standby, Vec::new()),
    ];
    for i in 0..MAX_WINDOWS {
        wanted.push((window_name(i), NodeRole::Window, WINDOW_DESKS.to_vec()));
    }
    for (name, role, desks) in wanted {
        let node = NodeName::new(name.clone()).map_err(|_| SetupError::Name(name.clone()))?;
        let id = NodeIdentity::new(node, role, desks);
        let files = identity::issue(dir.path(), &id, 3650).map_err(identity_error)?;
        let loaded = identity::load(&files.tls_files()).map_err(identity_error)?;
        let credentials = loaded.credentials().map_err(identity_error)?;
        let certified = Certified {
            identity: loaded.identity().clone(),
            credentials,
        };
        nodes.insert(name, certified);
    }
    Ok(Identities { anchor, nodes })
}
