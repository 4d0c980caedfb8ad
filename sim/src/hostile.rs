//! A hostile window: in some runs, one window (its certificate as valid as any other's) adds
//! forged and malformed changes to the batches it sends, beside its own honest ones. Each
//! breaks one of the trust rules in its own way: an edit made under another node's Automerge
//! actor id, an edit that comes unsigned, a new record signed with a key the hospital CA never
//! certified, a new record whose signature does not verify, a new record that does not read
//! as its kind, a new record sent under an id other than its own. The forged changes exist only
//! on the wire: the hostile window's own replica stays honest, so every replica must still
//! converge, and every honest node that receives a forgery must refuse it (for its rule, with
//! its code) and keep nothing of it ([`crate::check`]).

use lifeline_core::automerge::transaction::CommitOptions;
use lifeline_core::automerge::{ActorId, Automerge, ChangeHash};
use lifeline_core::record::{Header, InsuranceType, Patient, Sex};
use lifeline_core::trust::{SignedCommit, SigningKey};
use lifeline_core::{Date, NodeName, RecordId, RecordKind};
use lifeline_sync::frame::{Batch, Frame, WireDoc};

use crate::backing::Backing;
use crate::sim::{Phase, Sim};
use crate::work::{Kind, operator};

/// Chance that a batch the hostile window sends carries a forgery.
const FORGE_CHANCE: f64 = 0.08;
/// Most forgeries one run sends.
const MAX_FORGERIES: usize = 12;

/// How a change is forged, and the refusal code every honest node must give it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Forgery {
    /// A patient's phone changed under another node's actor id, signed by the hostile
    /// window's own key.
    ActorOfAnother,
    /// A patient's phone changed under the hostile window's own actor id, with no signature.
    Unsigned,
    /// A new patient signed by a key no CA certified (named as the hostile window).
    UncertifiedKey,
    /// A new patient signed by the hostile window's key, the signature's bytes altered.
    BadSignature,
    /// A new patient, properly signed, whose sex is a value no version knows.
    Unreadable,
    /// A new patient, properly signed, sent under another record's id.
    WrongId,
}

impl Forgery {
    const ALL: [Forgery; 6] = [
        Forgery::ActorOfAnother,
        Forgery::Unsigned,
        Forgery::UncertifiedKey,
        Forgery::BadSignature,
        Forgery::Unreadable,
        Forgery::WrongId,
    ];

    /// The code of the refusal every honest node gives it.
    pub(crate) fn code(self) -> &'static str {
        match self {
            Forgery::ActorOfAnother => "forged_author",
            Forgery::Unsigned => "unsigned",
            Forgery::UncertifiedKey => "unknown_key",
            Forgery::BadSignature => "bad_signature",
            Forgery::Unreadable => "invalid",
            Forgery::WrongId => "wrong_id",
        }
    }
}

/// A forgery sent.
#[derive(Debug)]
pub(crate) struct Forged {
    /// The node it was sent to.
    pub to: usize,
    pub id: RecordId,
    pub kind: Forgery,
    /// The forged changes: no node may ever hold one.
    pub hashes: Vec<ChangeHash>,
    bytes: Vec<u8>,
    pub state: Judged,
}

/// Where a forgery is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Judged {
    /// Sent; it may never arrive (its connection may close first).
    NotYet,
    /// It reached the node's session: the node must have refused it.
    Yes,
    /// The node that judged it had its store replaced since (a restore): the refusal went
    /// with the store.
    ByALostStore,
}

/// A forgery made, before it goes into a batch.
struct Made {
    id: RecordId,
    bytes: Vec<u8>,
    heads: Vec<ChangeHash>,
    hashes: Vec<ChangeHash>,
    signatures: Vec<Vec<u8>>,
}

impl<R: Backing> Sim<R> {
    /// The batch the hostile window sends on `link` from `side`, perhaps with a forgery added.
    pub(crate) fn forge_into(&mut self, link: usize, side: usize, mut batch: Batch) -> Batch {
        let [from, to] = [self.links[link].ends[side], self.links[link].ends[1 - side]];
        if self.hostile != Some(from)
            || self.phase != Phase::Running
            || self.forged.len() >= MAX_FORGERIES
            || !self.hostile_rng.chance(FORGE_CHANCE)
        {
            return batch;
        }
        let Some(&kind) = self.hostile_rng.pick(&Forgery::ALL) else {
            return batch;
        };
        let made = match kind {
            Forgery::ActorOfAnother | Forgery::Unsigned => self.forged_edit(from, to, kind),
            Forgery::UncertifiedKey
            | Forgery::BadSignature
            | Forgery::Unreadable
            | Forgery::WrongId => self.forged_patient(from, kind),
        };
        let Some(made) = made else { return batch };
        // One record once per batch: the honest entry for it, if any, stays alone.
        if batch.docs.iter().any(|d| d.id == made.id.to_bytes()) {
            return batch;
        }
        batch.docs.push(WireDoc {
            id: made.id.to_bytes(),
            seq: 0,
            heads: made.heads.iter().map(|h| h.0).collect(),
            bytes: made.bytes.clone(),
        });
        batch.signatures.extend(made.signatures);
        self.faults.forgeries += 1;
        let (x, y) = (self.name(from).to_owned(), self.name(to).to_owned());
        let id = made.id;
        self.note(|| format!("{x} (hostile) sends {y} a forgery ({kind:?}) of {id}"));
        self.forged.push(Forged {
            to,
            id: made.id,
            kind,
            hashes: made.hashes,
            bytes: made.bytes,
            state: Judged::NotYet,
        });
        batch
    }

    /// Marks the forgeries in a batch from the hostile window as reaching `to`'s session.
    pub(crate) fn forgeries_delivered(&mut self, from: usize, to: usize, frame: &Frame) {
        let Frame::Batch(batch) = frame else { return };
        if self.hostile != Some(from) {
            return;
        }
        for doc in &batch.docs {
            let id = RecordId::from_bytes(doc.id);
            if let Some(f) = self.forged.iter_mut().find(|f| {
                f.state == Judged::NotYet && f.to == to && f.id == id && f.bytes == doc.bytes
            }) {
                f.state = Judged::Yes;
            }
        }
    }

    /// A phone change of a patient both ends hold at the same changes (so the receiver has
    /// everything the forged change depends on, and judges it rather than waiting).
    fn forged_edit(&mut self, from: usize, to: usize, kind: Forgery) -> Option<Made> {
        let patients = self.ledger.records_of(Kind::Patient);
        let id = (0..4).find_map(|_| {
            let id = *self.hostile_rng.pick(patients)?;
            let heads = self.nodes[from].replica().heads(id)?;
            self.nodes[to]
                .replica()
                .holds_changes(id, &heads)
                .then_some(id)
        })?;
        let mut doc = self.nodes[from].replica().doc(id)?;
        let author = match kind {
            Forgery::ActorOfAnother => {
                let others: Vec<usize> = (0..self.nodes.len()).filter(|&n| n != from).collect();
                *self.hostile_rng.pick(&others)?
            }
            _ => from,
        };
        doc.set_actor(self.actor_of(author));
        let before = doc.get_heads();
        let phone = format!("13{:09}", self.hostile_rng.range(0, 999_999_999));
        let at_ms = self.wall_ms(from);
        doc.transact_with::<_, _, lifeline_core::automerge::AutomergeError, _>(
            |_| CommitOptions::default().with_time(at_ms),
            |tx| {
                use lifeline_core::automerge::transaction::Transactable;
                tx.put(lifeline_core::automerge::ROOT, "phone", phone)
            },
        )
        .ok()?;
        let hashes: Vec<ChangeHash> = doc.get_changes(&before).iter().map(|c| c.hash()).collect();
        let signatures = match kind {
            Forgery::ActorOfAnother => {
                let key = self.nodes[from].credentials.key();
                let commit = SignedCommit::sign(key, hashes.clone()).ok()?;
                vec![commit.encode()]
            }
            _ => Vec::new(),
        };
        Some(Made {
            id,
            bytes: doc.save_after(&before),
            heads: doc.get_heads(),
            hashes,
            signatures,
        })
    }

    /// A new patient, made by the hostile window under its own actor id, signed wrongly or
    /// malformed.
    fn forged_patient(&mut self, from: usize, kind: Forgery) -> Option<Made> {
        let name = self.nodes[from].name.clone();
        let record = self.hostile_patient(from);
        let mut doc = Automerge::new().with_actor(self.actor_of(from));
        let at_ms = self.wall_ms(from);
        doc.transact_with(
            |_| CommitOptions::default().with_time(at_ms),
            |tx| autosurgeon::reconcile(tx, &record),
        )
        .ok()?;
        if kind == Forgery::Unreadable {
            doc.transact_with::<_, _, lifeline_core::automerge::AutomergeError, _>(
                |_| CommitOptions::default().with_time(at_ms),
                |tx| {
                    use lifeline_core::automerge::transaction::Transactable;
                    tx.put(lifeline_core::automerge::ROOT, "sex", "robot")
                },
            )
            .ok()?;
        }
        let hashes: Vec<ChangeHash> = doc.get_changes(&[]).iter().map(|c| c.hash()).collect();
        let key = self.nodes[from].credentials.key();
        let commit = match kind {
            Forgery::UncertifiedKey => {
                let stranger = SigningKey::generate(name).ok()?;
                SignedCommit::sign(&stranger, hashes.clone()).ok()?
            }
            Forgery::BadSignature => {
                let mut commit = SignedCommit::sign(key, hashes.clone()).ok()?;
                let last = commit.signature.len().checked_sub(1)?;
                commit.signature[last] ^= 0x01;
                commit
            }
            _ => SignedCommit::sign(key, hashes.clone()).ok()?,
        };
        let id = match kind {
            Forgery::WrongId => {
                let mut other = record.header.id.to_bytes();
                other[15] ^= 0xff;
                RecordId::from_bytes(other)
            }
            _ => record.header.id,
        };
        Some(Made {
            id,
            bytes: doc.save(),
            heads: doc.get_heads(),
            hashes,
            signatures: vec![commit.encode()],
        })
    }

    /// A patient as the hostile window's registration desk would write it.
    fn hostile_patient(&mut self, from: usize) -> Patient {
        let created_ms = self.wall_ms(from);
        let mut bytes = self.hostile_rng.bytes16();
        let ms = u64::try_from(created_ms).unwrap_or(0).to_be_bytes();
        bytes[..6].copy_from_slice(&ms[2..]);
        let serial = self.hostile_rng.range(1, 9999);
        Patient {
            header: Header {
                id: RecordId::from_bytes(bytes),
                kind: RecordKind::Patient,
                origin: self.nodes[from].name.clone(),
                operator: operator(Kind::Patient),
                created_ms,
                episode: None,
                paper: None,
            },
            patient_no: format!("{}-forged-{serial}", self.name(from)),
            name: format!("forged {serial}"),
            sex: Sex::Female,
            birth_date: Date::new(1980, 1, 1).expect("the first of a month is a date"),
            phone: format!("13{:09}", self.hostile_rng.range(0, 999_999_999)),
            national_id: None,
            insurance: InsuranceType::SelfPay,
            merged_into: None,
            his_id: None,
            guardian: None,
            his_deleted: false,
            his_changed: None,
        }
    }

    /// An Automerge actor id of `node`'s, as its stores make them: its name, a zero byte,
    /// then bytes of its own.
    fn actor_of(&mut self, node: usize) -> ActorId {
        let name: &NodeName = &self.nodes[node].name;
        let mut bytes = name.as_str().as_bytes().to_vec();
        bytes.push(0);
        bytes.extend_from_slice(&self.hostile_rng.next_u64().to_be_bytes());
        ActorId::from(bytes)
    }
}
