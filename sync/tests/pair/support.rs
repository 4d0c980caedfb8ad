//! What the pair tests share: a hospital CA, nodes in memory or on disk, and two sessions
//! with the wire between them.

pub use std::time::{Duration, Instant};

pub use lifeline_core::desk::NewPatient;
pub use lifeline_core::record::{Header, InsuranceType, Patient, Sex};
pub use lifeline_core::store::{Credentials, PatientQuery, Scope};
pub use lifeline_core::trust::SignedCommit;
pub use lifeline_core::{
    DeskRole, EpisodeId, NodeName, NodeRole, Operator, OperatorName, RecordId, RecordKind, Store,
    StoreOptions,
};
pub use lifeline_sync::frame::Frame;
pub use lifeline_sync::identity::{self, Anchor, LoadedIdentity, NodeIdentity};
pub use lifeline_sync::proto::{Session, SessionConfig, SessionError, Violation};
pub use lifeline_sync::replica::{MemoryReplica, Replica};

/// A hospital CA in a temporary directory: every node of a test gets a certificate from it
/// and signs its changes with that certificate's key, and sessions check the roster entries
/// peers relay against it.
pub struct Ca {
    pub dir: tempfile::TempDir,
    pub issued: std::cell::Cell<u32>,
}

impl Ca {
    pub fn new() -> Ca {
        let dir = tempfile::tempdir().expect("dir");
        identity::init_ca(dir.path()).expect("CA");
        Ca {
            dir,
            issued: std::cell::Cell::new(0),
        }
    }

    /// A certificate for the node, in a directory of its own (a test may make two nodes of
    /// one name).
    pub fn identity(&self, name: &str, role: NodeRole, desks: &[DeskRole]) -> LoadedIdentity {
        let n = self.issued.get() + 1;
        self.issued.set(n);
        let sub = self.dir.path().join(format!("n{n}"));
        std::fs::create_dir(&sub).expect("dir");
        for f in [identity::CA_CERT_FILE, identity::CA_KEY_FILE] {
            std::fs::copy(self.dir.path().join(f), sub.join(f)).expect("copy the CA");
        }
        let id = NodeIdentity::new(NodeName::new(name).expect("valid"), role, desks.to_vec());
        let files = identity::issue(&sub, &id, 30).expect("issue");
        identity::load(&files.tls_files()).expect("load")
    }

    pub fn anchor(&self) -> Anchor {
        Anchor::load(&self.dir.path().join(identity::CA_CERT_FILE)).expect("the CA")
    }

    /// A node whose records are in memory, signing with its certificate's key.
    pub fn mem(&self, name: &str, role: NodeRole, desks: &[DeskRole]) -> Mem {
        let loaded = self.identity(name, role, desks);
        let id = loaded.identity().clone();
        Mem {
            replica: MemoryReplica::new(id.name.clone())
                .with_credentials(loaded.credentials().expect("credentials")),
            id,
        }
    }

    /// A node with a real store in a temporary directory, signing with its certificate's key.
    pub fn disk(&self, name: &str, role: NodeRole, desks: &[DeskRole]) -> Disk {
        let loaded = self.identity(name, role, desks);
        let credentials = loaded.credentials().expect("credentials");
        let dir = tempfile::tempdir().expect("dir");
        let mut opts = StoreOptions::new(NodeName::new(name).expect("valid"), role);
        opts.credentials = Some(credentials.clone());
        let store = Store::open(dir.path().join("store.redb"), opts).expect("open");
        Disk {
            _dir: dir,
            store,
            id: loaded.identity().clone(),
            credentials,
        }
    }
}

/// A node whose records are in memory.
pub struct Mem {
    pub replica: MemoryReplica,
    pub id: NodeIdentity,
}

/// A node with a real store in a temporary directory.
pub struct Disk {
    pub _dir: tempfile::TempDir,
    pub store: Store,
    pub id: NodeIdentity,
    pub credentials: Credentials,
}

/// A node's data directory as a copy of it held it: its store's backup and its mark.
pub struct DirBackup {
    store: std::path::PathBuf,
    mark: Vec<u8>,
}

impl Disk {
    /// Registers a new patient at this store's desk and returns its id.
    pub fn register(&self, name: &str) -> RecordId {
        self.store
            .create_patient(&reg(), new_patient(name))
            .expect("create")
            .value
            .header
            .id
    }

    /// Closes the store and opens the same file again, as a restarted node does.
    pub fn reopen(self) -> Disk {
        self.reopen_after(|_| {})
    }

    /// A backup of the store to `file`, and the mark beside the store as it is now: the data
    /// directory as a copy of it taken now holds it.
    pub fn backup_whole(&self, file: &std::path::Path) -> DirBackup {
        self.store.backup_to(file, &|_, _| {}).expect("backup");
        let mark = lifeline_core::store::mark_file(self.store.path());
        DirBackup {
            store: file.to_path_buf(),
            mark: std::fs::read(mark).expect("the mark beside the store"),
        }
    }

    /// Closes the store, copies the data directory `backup` back over it (as an operator
    /// might by hand, instead of `lifeline restore`: the store and the mark beside it as they
    /// were, so that nothing on disk tells) and opens it again.
    pub fn copied_over(self, backup: &DirBackup) -> Disk {
        self.reopen_after(|path| {
            std::fs::copy(&backup.store, path).expect("copy over the store");
            let mark = lifeline_core::store::mark_file(path);
            std::fs::write(mark, &backup.mark).expect("copy over the mark");
        })
    }

    /// Closes the store, does `meanwhile` to its file, and opens it again.
    fn reopen_after(self, meanwhile: impl FnOnce(&std::path::Path)) -> Disk {
        let Disk {
            _dir,
            store,
            id,
            credentials,
        } = self;
        let path = store.path().to_path_buf();
        drop(store);
        meanwhile(&path);
        let mut opts = StoreOptions::new(id.name.clone(), id.role);
        opts.credentials = Some(credentials.clone());
        let store = Store::open(&path, opts).expect("reopen");
        Disk {
            _dir,
            store,
            id,
            credentials,
        }
    }
}

pub fn reg() -> Operator {
    Operator::new(
        OperatorName::new("reg1").expect("valid"),
        DeskRole::Registration,
    )
}

/// A registration, for a store's desk operation.
pub fn new_patient(name: &str) -> NewPatient {
    NewPatient {
        patient_no: None,
        name: name.into(),
        sex: Sex::Female,
        birth_date: "2020-02-02".parse().expect("valid"),
        phone: "13700000000".into(),
        national_id: None,
        insurance: InsuranceType::SelfPay,
        guardian: None,
    }
}

/// A patient record as `node` writes it, in `episode` if any.
pub fn patient_record(id: RecordId, node: &Mem, name: &str, episode: Option<EpisodeId>) -> Patient {
    Patient {
        header: Header {
            id,
            kind: RecordKind::Patient,
            origin: node.id.name.clone(),
            operator: OperatorName::new("reg1").expect("valid"),
            created_ms: 0,
            episode,
            paper: None,
        },
        patient_no: format!("{}-{name}", node.id.name),
        name: name.into(),
        sex: Sex::Female,
        birth_date: "2020-02-02".parse().expect("valid"),
        phone: "13700000000".into(),
        national_id: None,
        insurance: InsuranceType::SelfPay,
        merged_into: None,
        his_id: None,
        guardian: None,
        his_deleted: false,
        his_changed: None,
    }
}

impl Mem {
    /// Writes a new patient here and returns its id.
    pub fn create(&self, name: &str) -> RecordId {
        self.create_in(name, None)
    }

    pub fn create_in(&self, name: &str, episode: Option<EpisodeId>) -> RecordId {
        let id = RecordId::generate();
        let record = patient_record(id, self, name, episode);
        self.replica.create(&record).expect("create");
        id
    }

    pub fn patient(&self, id: RecordId) -> Option<Patient> {
        self.replica.get(id).expect("read")
    }
}

/// Two connected sessions and the wire between them.
pub struct Link<A, B> {
    pub a: Session<A>,
    pub b: Session<B>,
    pub now: Instant,
    pub bytes: u64,
    pub batches: Vec<usize>,
    /// Every frame's bytes, in the order they crossed.
    pub wire: Vec<Vec<u8>>,
}

impl<A: Replica, B: Replica> Link<A, B> {
    pub fn connect(a: (A, &NodeIdentity), b: (B, &NodeIdentity), anchor: &Anchor) -> Self {
        Link::connect_at(a, b, anchor, Instant::now())
    }

    pub fn connect_at(
        a: (A, &NodeIdentity),
        b: (B, &NodeIdentity),
        anchor: &Anchor,
        now: Instant,
    ) -> Self {
        Link::connect_with(a, b, anchor, now, SessionConfig::default())
    }

    pub fn connect_with(
        (a, a_id): (A, &NodeIdentity),
        (b, b_id): (B, &NodeIdentity),
        anchor: &Anchor,
        now: Instant,
        cfg: SessionConfig,
    ) -> Self {
        Link {
            a: Session::new(a, cfg.clone(), b_id.clone(), anchor.clone(), now).expect("session"),
            b: Session::new(b, cfg, a_id.clone(), anchor.clone(), now).expect("session"),
            now,
            bytes: 0,
            batches: Vec::new(),
            wire: Vec::new(),
        }
    }

    /// Moves a's next frame to b; `false` when a had none.
    fn a_to_b(&mut self) -> Result<bool, SessionError> {
        let Some(f) = self.a.poll_transmit() else {
            return Ok(false);
        };
        let f = self.carry(f);
        self.b.handle_frame(f, self.now)?;
        Ok(true)
    }

    /// Moves b's next frame to a; `false` when b had none.
    fn b_to_a(&mut self) -> Result<bool, SessionError> {
        let Some(f) = self.b.poll_transmit() else {
            return Ok(false);
        };
        let f = self.carry(f);
        self.a.handle_frame(f, self.now)?;
        Ok(true)
    }

    /// Moves at most one frame each way; `false` when neither side had one.
    pub fn step(&mut self) -> Result<bool, SessionError> {
        let a = self.a_to_b()?;
        let b = self.b_to_a()?;
        Ok(a || b)
    }

    /// Moves frames both ways until neither side has anything to say.
    pub fn pump(&mut self) -> Result<(), SessionError> {
        for _ in 0..10_000 {
            let mut moved = false;
            while self.a_to_b()? {
                moved = true;
            }
            while self.b_to_a()? {
                moved = true;
            }
            if !moved {
                return Ok(());
            }
        }
        panic!("the sessions never went quiet");
    }

    pub fn carry(&mut self, f: Frame) -> Frame {
        if let Frame::Batch(b) = &f {
            self.batches.push(b.docs.len());
        }
        let bytes = f.encode().expect("encode");
        self.bytes += bytes.len() as u64;
        let (decoded, used) = Frame::split(&bytes).expect("decode").expect("whole frame");
        assert_eq!(used, bytes.len());
        self.wire.push(bytes);
        decoded
    }

    pub fn commit(&mut self) -> Result<(), SessionError> {
        self.a.local_commit()?;
        self.b.local_commit()?;
        self.pump()
    }

    pub fn advance(&mut self, d: Duration) -> Result<(), SessionError> {
        self.now += d;
        self.a.handle_timeout(self.now)?;
        self.b.handle_timeout(self.now)?;
        self.pump()
    }
}

pub type MemLink = Link<MemoryReplica, MemoryReplica>;

pub fn link(a: &Mem, b: &Mem, anchor: &Anchor) -> MemLink {
    Link::connect(
        (a.replica.clone(), &a.id),
        (b.replica.clone(), &b.id),
        anchor,
    )
}

pub fn disk_link(a: &Disk, b: &Disk, anchor: &Anchor) -> Link<Store, Store> {
    Link::connect((a.store.clone(), &a.id), (b.store.clone(), &b.id), anchor)
}

/// A frame with each signed commit replaced by what it signs (author, key, hashes).
pub fn without_signature_bytes(frame: Frame) -> Frame {
    let strip = |sigs: Vec<Vec<u8>>| -> Vec<Vec<u8>> {
        sigs.iter()
            .map(|b| {
                let c = SignedCommit::decode(b).expect("a signed commit");
                let mut out = c.author.to_string().into_bytes();
                out.extend_from_slice(&c.key.0);
                out.extend(c.hashes.iter().flat_map(|h| h.0));
                out
            })
            .collect()
    };
    match frame {
        Frame::Batch(mut b) => {
            b.signatures = strip(b.signatures);
            Frame::Batch(b)
        }
        Frame::Sync {
            id,
            message,
            signatures,
        } => Frame::Sync {
            id,
            message,
            signatures: strip(signatures),
        },
        other => other,
    }
}

pub fn same_records(a: &impl Replica, b: &impl Replica) {
    let da = a.digest(Scope::All).expect("digest");
    let db = b.digest(Scope::All).expect("digest");
    assert_eq!(da, db, "replicas differ");
}
