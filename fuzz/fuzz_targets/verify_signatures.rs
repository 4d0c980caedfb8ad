//! Fuzz target `verify_signatures`: arbitrary bytes from a peer as signed commits and the
//! changes they sign, through the signed-change verification path (`SignedCommit::decode`,
//! `Signatures::signer`, and a whole `merge` under the rules with those signatures).
//!
//! The roster holds two members with fixed keys (`seeds/signer-W01.pkcs8`, a registration
//! window, and `seeds/signer-central.pkcs8`), so that seeds can carry real signatures. The
//! input is read as: one byte `n`, then `n` signed commits (each a 2-byte big-endian length
//! and its bytes), then the changes for the base patient (a 2-byte length and bytes), then
//! 32-byte change hashes to look up. Missing parts are empty.
//!
//! Checks: no panic. A commit that decodes encodes back to the same bytes. A change is
//! attributed to a member only if a commit of the input covers its hash, names that member
//! and verifies against its key. A record that merges has every new change covered by such a
//! commit of the author its actor id names.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use lifeline_core::automerge::{ActorId, Automerge, ChangeHash};
use lifeline_core::store::{IncomingDoc, Merge, merge};
use lifeline_core::trust::{
    Answer, Authorship, Grant, Judge, Knowledge, Member, Roster, Signatures, SignedCommit,
    SigningKey, actor_node,
};
use lifeline_core::{DeskRole, EpisodeId, NodeName, NodeRole, RecordId, UnixMs};

const BASE: &[u8] = include_bytes!("../seeds/base_patient.automerge");
const W01_KEY: &[u8] = include_bytes!("../seeds/signer-W01.pkcs8");
const CENTRAL_KEY: &[u8] = include_bytes!("../seeds/signer-central.pkcs8");

struct Fixture {
    roster: Roster,
    base: Automerge,
    base_id: RecordId,
}

fn member(name: &str, role: NodeRole, desks: &[DeskRole], pkcs8: &[u8]) -> Member {
    let key = SigningKey::from_pkcs8(NodeName::new(name).expect("valid"), pkcs8)
        .expect("the seed keys are P-256 PKCS#8");
    Member {
        name: key.author().clone(),
        role,
        desks: desks.to_vec(),
        key: key.public_key().clone(),
        credential: Vec::new(),
    }
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let mut roster = Roster::new();
        roster.admit(member(
            "W01",
            NodeRole::Window,
            &[DeskRole::Registration],
            W01_KEY,
        ));
        roster.admit(member("central", NodeRole::Central, &[], CENTRAL_KEY));
        let base = Automerge::load(BASE).expect("the base patient loads");
        let base_id = lifeline_core::record::Header::of(&base)
            .expect("the base patient has a header")
            .id;
        Fixture {
            roster,
            base,
            base_id,
        }
    })
}

/// The rules ask nothing of other records for a patient.
struct NoOtherRecords;

impl Knowledge for NoOtherRecords {
    fn overlapping_range(&self, _: Grant, _: RecordId) -> Answer<RecordId> {
        Ok(None)
    }

    fn episode_opened_ms(&self, _: &EpisodeId) -> Answer<UnixMs> {
        Ok(None)
    }
}

/// The input's parts: commits, changes, hashes.
fn parts(data: &[u8]) -> (Vec<Vec<u8>>, Vec<u8>, Vec<ChangeHash>) {
    let mut rest = data;
    let mut take = |n: usize| -> &[u8] {
        let n = n.min(rest.len());
        let (head, tail) = rest.split_at(n);
        rest = tail;
        head
    };
    let count = take(1).first().copied().unwrap_or(0).min(16);
    let mut commits = Vec::new();
    for _ in 0..count {
        let len = take(2);
        let len = if len.len() == 2 {
            usize::from(u16::from_be_bytes([len[0], len[1]]))
        } else {
            0
        };
        commits.push(take(len).to_vec());
    }
    let len = take(2);
    let len = if len.len() == 2 {
        usize::from(u16::from_be_bytes([len[0], len[1]]))
    } else {
        0
    };
    let changes = take(len).to_vec();
    let hashes = rest
        .chunks_exact(32)
        .map(|c| {
            let mut h = [0u8; 32];
            h.copy_from_slice(c);
            ChangeHash(h)
        })
        .collect();
    (commits, changes, hashes)
}

/// Whether a commit of the input covers `hash`, names `author` and verifies.
fn vouched(commits: &[Vec<u8>], roster: &Roster, hash: &ChangeHash, author: &str) -> bool {
    commits.iter().any(|bytes| {
        SignedCommit::decode(bytes).is_ok_and(|c| {
            c.author.as_str() == author && c.hashes.contains(hash) && c.verify(roster).is_ok()
        })
    })
}

fuzz_target!(|data: &[u8]| {
    let fx = fixture();
    let (commits, changes, hashes) = parts(data);
    for bytes in &commits {
        if let Ok(c) = SignedCommit::decode(bytes) {
            assert_eq!(&c.encode(), bytes, "a decoded commit encodes back");
            let _ = c.verify(&fx.roster);
        }
    }
    let never_held = |_: &lifeline_core::trust::CommitId| false;
    let (mut signatures, _) = Signatures::decode(&commits);
    for hash in &hashes {
        if let Ok(signer) = signatures.signer(hash, &fx.roster, &never_held) {
            assert!(
                vouched(&commits, &fx.roster, hash, signer.author.as_str()),
                "{hash} attributed to {} without a commit that proves it",
                signer.author
            );
        }
    }
    let (mut signatures, _) = Signatures::decode(&commits);
    let mut judge = Judge {
        roster: &fx.roster,
        authorship: Authorship::Signed {
            signatures: &mut signatures,
            held: &never_held,
        },
        knowledge: &NoOtherRecords,
    };
    let item = IncomingDoc {
        id: fx.base_id,
        bytes: changes,
        sender_heads: Vec::new(),
        seq: 0,
    };
    let actor = ActorId::from(b"W02\0receiver".to_vec());
    if let Merge::Changed { doc, .. } = merge(Some(&fx.base), &item, &actor, &mut judge) {
        for change in doc.get_changes(&fx.base.get_heads()) {
            let author = actor_node(change.actor_id()).unwrap_or("?");
            assert!(
                vouched(&commits, &fx.roster, &change.hash(), author),
                "change {} merged without its author's signature",
                change.hash()
            );
        }
    }
});
