use super::*;
use crate::roles::NodeRole;
use crate::trust::{Member, Revocation};

fn key(name: &str) -> SigningKey {
    SigningKey::generate(NodeName::new(name).expect("valid")).expect("key")
}

fn member_of(key: &SigningKey) -> Member {
    Member {
        name: key.author().clone(),
        role: NodeRole::Window,
        desks: Vec::new(),
        key: key.public_key().clone(),
        credential: Vec::new(),
    }
}

/// The hospital CA revokes `key`'s holder (its PC was stolen).
fn revoke_stolen(roster: &mut Roster, key: &SigningKey) {
    roster.revoke(Revocation {
        name: key.author().clone(),
        key: key.id(),
        revoked_ms: 0,
        reason: "stolen".into(),
        proof: Vec::new(),
    });
}

fn hashes(n: u8) -> Vec<ChangeHash> {
    (0..n).map(|i| ChangeHash([i; 32])).collect()
}

#[test]
fn commits_round_trip_and_refuse_garbage() {
    let k = key("W01");
    let c = SignedCommit::sign(&k, hashes(3)).expect("sign");
    let bytes = c.encode();
    assert_eq!(SignedCommit::decode(&bytes), Ok(c.clone()));
    for cut in 0..bytes.len() {
        assert!(SignedCommit::decode(&bytes[..cut]).is_err(), "cut at {cut}");
    }
    let mut long = bytes.clone();
    long.push(0);
    assert_eq!(
        SignedCommit::decode(&long),
        Err(CommitDecodeError::Trailing { count: 1 })
    );
    let mut many = bytes[..4 + 1 + 3 + 32].to_vec();
    many.extend_from_slice(&u32::MAX.to_be_bytes());
    assert!(matches!(
        SignedCommit::decode(&many),
        Err(CommitDecodeError::TooManyHashes { .. })
    ));
}

#[test]
fn a_signature_is_its_author_s_only() {
    let w01 = key("W01");
    let w02 = key("W02");
    let mut roster = Roster::new();
    roster.admit(member_of(&w01));
    roster.admit(member_of(&w02));
    let good = SignedCommit::sign(&w01, hashes(2)).expect("sign");
    assert_eq!(good.verify(&roster), Ok(()));
    // Claiming to be W02 while signing with W01's key.
    let mut claimed = good.clone();
    claimed.author = w02.author().clone();
    claimed.signature = w01.sign(&claimed.message()).expect("sign");
    assert!(matches!(
        claimed.verify(&roster),
        Err(SignatureProblem::KeyOfAnother { .. })
    ));
    // A hash swapped after signing.
    let mut swapped = good.clone();
    swapped.hashes[0] = ChangeHash([9; 32]);
    assert!(matches!(
        swapped.verify(&roster),
        Err(SignatureProblem::Invalid { .. })
    ));
    // A key nobody certified.
    let stranger = SignedCommit::sign(&key("W03"), hashes(1)).expect("sign");
    assert!(matches!(
        stranger.verify(&roster),
        Err(SignatureProblem::UnknownKey { .. })
    ));
    revoke_stolen(&mut roster, &w01);
    assert!(matches!(
        good.verify(&roster),
        Err(SignatureProblem::Revoked { .. })
    ));
}

#[test]
fn a_batch_verifies_each_commit_once_when_a_change_needs_it() {
    let w01 = key("W01");
    let mut roster = Roster::new();
    roster.admit(member_of(&w01));
    let good = SignedCommit::sign(&w01, hashes(3)).expect("sign");
    let mut bad = SignedCommit::sign(&w01, vec![ChangeHash([7; 32])]).expect("sign");
    bad.signature[0] ^= 1;
    let (mut sigs, problems) = Signatures::decode(&[good.encode(), bad.encode(), vec![1]]);
    assert_eq!(problems.len(), 1);
    let never_held = |_: &CommitId| false;
    let signer = sigs
        .signer(&ChangeHash([1; 32]), &roster, &never_held)
        .expect("signed");
    assert_eq!(signer.author, *w01.author());
    assert_eq!(signer.commit, good.id());
    assert!(sigs.commit(&good.id()).is_some());
    assert!(matches!(
        sigs.signer(&ChangeHash([7; 32]), &roster, &never_held),
        Err(SignatureProblem::Invalid { .. })
    ));
    assert_eq!(
        sigs.signer(&ChangeHash([8; 32]), &roster, &never_held),
        Err(SignatureProblem::Unsigned)
    );
    // A commit this node keeps already is not verified again (its bytes are not even
    // looked at), but a revocation still counts.
    let held = |id: &CommitId| *id == bad.id();
    let (mut again, _) = Signatures::decode(&[bad.encode()]);
    assert!(again.signer(&ChangeHash([7; 32]), &roster, &held).is_ok());
}

#[test]
fn a_remembered_signature_answers_only_for_the_same_bytes_and_a_member() {
    let w01 = key("W01");
    let mut roster = Roster::new();
    roster.admit(member_of(&w01));
    let good = SignedCommit::sign(&w01, hashes(2)).expect("sign");
    let verified = Arc::new(VerifiedSignatures::default());
    let never_held = |_: &CommitId| false;
    let check = |commit: &SignedCommit, roster: &Roster| {
        let (sigs, _) = Signatures::decode(&[commit.encode()]);
        sigs.remembering(Arc::clone(&verified))
            .signer(&ChangeHash([1; 32]), roster, &never_held)
    };
    assert!(check(&good, &roster).is_ok());
    assert_eq!(verified.len(), 1, "a valid signature is remembered");
    // The same commit (same id) with other signature bytes is verified, and refused.
    let mut forged = good.clone();
    forged.signature[5] ^= 1;
    assert_eq!(forged.id(), good.id());
    assert!(matches!(
        check(&forged, &roster),
        Err(SignatureProblem::Invalid { .. })
    ));
    assert_eq!(verified.len(), 1, "an invalid one is not");
    assert!(verified.holds(&good.id(), &good.signature));
    assert!(!verified.holds(&good.id(), &forged.signature));
    // A remembered signature still needs its key in this roster, unrevoked.
    assert!(matches!(
        check(&good, &Roster::new()),
        Err(SignatureProblem::UnknownKey { .. })
    ));
    revoke_stolen(&mut roster, &w01);
    assert!(matches!(
        check(&good, &roster),
        Err(SignatureProblem::Revoked { .. })
    ));
}
