//! The redb tables of one node's store, and [`for_each`], the one list of them that opening,
//! creating, scanning and backing up a store all go through: adding a table is one line
//! there. See `docs/design.md` for the layout and its invariants. Keys that hold a record id
//! use its 16 raw bytes.

use automerge::ChangeHash;
use redb::{Key, TableDefinition, TableHandle, Value};

pub type Id = [u8; 16];

/// The smallest and largest record ids, for index ranges over every record.
pub const LOWEST_ID: Id = [0u8; 16];
pub const HIGHEST_ID: Id = [0xffu8; 16];

/// Schema version written at creation; open refuses any other.
///
/// History: 1, the first release; 2, `resettle_pending` (issue 13); 3, the signed commits, the
/// roster, the quarantine and the granted ranges (issue 9); 4, the feed names each record's
/// kind, kept counts, the open-review index, the incremental digest, catalog items (issue 10);
/// 5, the signed commits of each record (`record_signed`) and the record of each unsigned
/// change; 6, the desks' queues (`queues`); 7, central's receipts (`acked`), in place of a
/// stamp in each emergency record; 8, what peers hold as one row per record (`peer_holds`,
/// `peer_slots`) in place of a row per (peer, record).
pub const SCHEMA_VERSION: u64 = 8;

/// Metadata: schema version, node identity, counters, the audit head, the current episode.
pub const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");

/// Each document as a list of chunks: chunk 0 a full save, later chunks incremental
/// changes. Compaction replaces them all with one full save.
pub const DOC_CHUNKS: TableDefinition<(Id, u32), &[u8]> = TableDefinition::new("doc_chunks");

/// Document → its current heads (concatenated 32-byte hashes), for digests and deltas.
pub const DOC_HEADS: TableDefinition<Id, &[u8]> = TableDefinition::new("doc_heads");

/// The change feed: local sequence → document changed at that sequence, and its kind (so that
/// a sender can skip what a peer does not keep without loading the record). Each document
/// appears once, at its latest change.
pub const FEED: TableDefinition<u64, (Id, u8)> = TableDefinition::new("feed");
/// Document → its position in the feed.
pub const FEED_POS: TableDefinition<Id, u64> = TableDefinition::new("feed_pos");

/// Indexes.
pub const BY_KIND: TableDefinition<(u8, Id), ()> = TableDefinition::new("by_kind");
pub const BY_PATIENT: TableDefinition<(Id, Id), ()> = TableDefinition::new("by_patient");
pub const BY_EPISODE: TableDefinition<(&str, Id), ()> = TableDefinition::new("by_episode");
/// Records created during an episode that central has not yet acknowledged.
pub const UNRECONCILED: TableDefinition<Id, ()> = TableDefinition::new("unreconciled");
/// Records central's receipts name (whether this node holds them yet or not): the records
/// central holds. A record that arrives after its receipt is reconciled on arrival.
pub const ACKED: TableDefinition<Id, ()> = TableDefinition::new("acked");
/// Dispense records by the prescription they dispense: (prescription, dispense).
pub const BY_PRESCRIPTION: TableDefinition<(Id, Id), ()> = TableDefinition::new("by_prescription");
/// Catalog items by code: (item kind, code) → the item's record.
pub const CATALOG_CODES: TableDefinition<(u8, &str), Id> = TableDefinition::new("catalog_codes");
/// Charges paid as self-pay when the insurance link failed and not re-settled yet, however
/// old: the worklist reads them here, so an overdue one never drops off.
pub const RESETTLE_PENDING: TableDefinition<Id, ()> = TableDefinition::new("resettle_pending");
/// The desks' queues: visits paused, queued or called and prescriptions issued or printed,
/// (kind, record) → what a queue's row shows of the record (JSON, see `index::Queued`). The
/// triage, doctor's and pharmacy queues read these rows, not every record of the day.
pub const QUEUES: TableDefinition<(u8, Id), &[u8]> = TableDefinition::new("queues");
/// Patient search keys: (key kind, normalized value, patient).
pub const PATIENT_KEYS: TableDefinition<(&str, &str, Id), ()> =
    TableDefinition::new("patient_keys");
/// Patient → the search keys currently indexed for it (JSON), to remove them on change.
pub const PATIENT_KEYS_OF: TableDefinition<Id, &[u8]> = TableDefinition::new("patient_keys_of");

/// Counts kept in the commit that changes them (records per kind, open items per category,
/// each peer's backlog): name → count. See `kept.rs`.
pub const COUNTS: TableDefinition<&str, u64> = TableDefinition::new("counts");
/// What is open for review or recovery work: (work category, item id) → the item (JSON). An
/// item id is a conflict id, or a record id for a record's own after-work.
pub const OPEN_ITEMS: TableDefinition<(u8, &str), &[u8]> = TableDefinition::new("open_items");
/// The open items a record takes part in: (record, category, item id), so that a change to
/// the record finds what it may close.
pub const ITEMS_OF: TableDefinition<(Id, u8, &str), ()> = TableDefinition::new("items_of");
/// Review decisions seen in documents, by time: (decided at, conflict id) → the records.
pub const DECISIONS: TableDefinition<(i64, &str), &[u8]> = TableDefinition::new("decisions");
/// The digest of everything held, kept per scope and bucket: (scope, bucket) → 32-byte XOR of
/// every record's (id, heads) hash, then an 8-byte count. See `digest.rs`.
pub const DIGEST: TableDefinition<(u32, u8), &[u8]> = TableDefinition::new("digest");

/// The audit chain: sequence → entry (JSON), each entry hashing the one before.
pub const AUDIT: TableDefinition<u64, &[u8]> = TableDefinition::new("audit");

/// Number ranges held by this node: range id → state (JSON).
pub const RANGES: TableDefinition<&str, &[u8]> = TableDefinition::new("ranges");
/// The ledger: (series, number) → use (JSON).
pub const NUMBERS: TableDefinition<(u8, u64), &[u8]> = TableDefinition::new("numbers");
/// On a lessor (central, or the standby as primary): series → next number to lease.
pub const LESSOR: TableDefinition<u8, u64> = TableDefinition::new("lessor");

/// Per-peer replication state (JSON), owned by lifeline-sync through the store's API.
pub const PEER_STATE: TableDefinition<&str, &[u8]> = TableDefinition::new("peer_state");
/// Document → the heads peers are known to have of it, each with the slots of the peers
/// holding it (see `holders.rs`): one row per record, however many peers.
pub const PEER_HOLDS: TableDefinition<Id, &[u8]> = TableDefinition::new("peer_holds");
/// Peer → its slot in [`PEER_HOLDS`]'s rows.
pub const PEER_SLOTS: TableDefinition<&str, u32> = TableDefinition::new("peer_slots");
/// (peer, document) → Automerge sync state, for documents that fell back to the sync protocol.
pub const PEER_SYNC: TableDefinition<(&str, Id), &[u8]> = TableDefinition::new("peer_sync");

/// A 32-byte hash as a key: a change hash, a signed commit's id, a key id.
pub type Hash = [u8; 32];

/// Signed commits kept beside the changes they sign: commit id → encoded
/// [`crate::trust::SignedCommit`].
pub const SIGNED: TableDefinition<Hash, &[u8]> = TableDefinition::new("signed");
/// Change hash → the signed commit that signs it.
pub const CHANGE_SIGNED: TableDefinition<Hash, Hash> = TableDefinition::new("change_signed");
/// (record, signed commit) for every commit that signs a change of the record: what goes with
/// a record sent whole, without loading it to list its changes.
pub const RECORD_SIGNED: TableDefinition<(Id, Hash), ()> = TableDefinition::new("record_signed");
/// Changes this node made while it had no signing key (change hash → its record): signed once
/// it has one.
pub const UNSIGNED: TableDefinition<Hash, Id> = TableDefinition::new("unsigned");

/// The roster: key id → member (JSON), every node this node knows by its certified key.
pub const ROSTER: TableDefinition<Hash, &[u8]> = TableDefinition::new("roster");
/// Key id → the CA's revocation of it (JSON).
pub const REVOKED: TableDefinition<Hash, &[u8]> = TableDefinition::new("revoked");

/// Records refused from peers, kept for the information department: sequence → entry (JSON).
pub const QUARANTINE: TableDefinition<u64, &[u8]> = TableDefinition::new("quarantine");
/// SHA-256 of (peer, record, bytes) → its quarantine entry, so a replay is counted, not
/// kept twice.
pub const QUARANTINE_KEYS: TableDefinition<Hash, u64> = TableDefinition::new("quarantine_keys");

/// Every granted number range of a lease record this node holds: (series, start) → (end,
/// lease record), to find an overlapping grant in one range read.
pub const GRANTED: TableDefinition<(u8, u64), (u64, Id)> = TableDefinition::new("granted");

/// Something done to every table in turn: see [`for_each`].
pub(crate) trait TableVisitor {
    type Error;
    fn visit<K: Key + 'static, V: Value + 'static>(
        &mut self,
        table: TableDefinition<'static, K, V>,
    ) -> Result<(), Self::Error>;
}

/// Visits every table of a store, [`META`] first. The only list of the tables: creating a
/// store, the scan at open, backups and their checks all go through it.
pub(crate) fn for_each<T: TableVisitor>(visitor: &mut T) -> Result<(), T::Error> {
    visitor.visit(META)?;
    visitor.visit(DOC_CHUNKS)?;
    visitor.visit(DOC_HEADS)?;
    visitor.visit(FEED)?;
    visitor.visit(FEED_POS)?;
    visitor.visit(BY_KIND)?;
    visitor.visit(BY_PATIENT)?;
    visitor.visit(BY_EPISODE)?;
    visitor.visit(UNRECONCILED)?;
    visitor.visit(ACKED)?;
    visitor.visit(BY_PRESCRIPTION)?;
    visitor.visit(CATALOG_CODES)?;
    visitor.visit(RESETTLE_PENDING)?;
    visitor.visit(QUEUES)?;
    visitor.visit(PATIENT_KEYS)?;
    visitor.visit(PATIENT_KEYS_OF)?;
    visitor.visit(COUNTS)?;
    visitor.visit(OPEN_ITEMS)?;
    visitor.visit(ITEMS_OF)?;
    visitor.visit(DECISIONS)?;
    visitor.visit(DIGEST)?;
    visitor.visit(AUDIT)?;
    visitor.visit(RANGES)?;
    visitor.visit(NUMBERS)?;
    visitor.visit(LESSOR)?;
    visitor.visit(PEER_STATE)?;
    visitor.visit(PEER_HOLDS)?;
    visitor.visit(PEER_SLOTS)?;
    visitor.visit(PEER_SYNC)?;
    visitor.visit(SIGNED)?;
    visitor.visit(CHANGE_SIGNED)?;
    visitor.visit(RECORD_SIGNED)?;
    visitor.visit(UNSIGNED)?;
    visitor.visit(ROSTER)?;
    visitor.visit(REVOKED)?;
    visitor.visit(QUARANTINE)?;
    visitor.visit(QUARANTINE_KEYS)?;
    visitor.visit(GRANTED)
}

/// The names of every table, in [`for_each`] order.
pub(crate) fn names() -> Vec<String> {
    struct Names(Vec<String>);
    impl TableVisitor for Names {
        type Error = std::convert::Infallible;
        fn visit<K: Key + 'static, V: Value + 'static>(
            &mut self,
            table: TableDefinition<'static, K, V>,
        ) -> Result<(), Self::Error> {
            self.0.push(table.name().to_owned());
            Ok(())
        }
    }
    let mut names = Names(Vec::new());
    match for_each(&mut names) {
        Ok(()) => names.0,
        Err(never) => match never {},
    }
}

/// Heads as stored in the `doc_heads` table and in `peer_holds`' rows: concatenated 32-byte hashes.
pub fn encode_heads(heads: &[ChangeHash]) -> Vec<u8> {
    heads.iter().flat_map(|h| h.0).collect()
}

/// Heads from their stored form; a trailing partial hash is ignored.
pub fn decode_heads(bytes: &[u8]) -> Vec<ChangeHash> {
    bytes
        .chunks_exact(32)
        .filter_map(|c| ChangeHash::try_from(c).ok())
        .collect()
}

/// The names of the counts kept in [`COUNTS`].
pub(crate) mod count_keys {
    use crate::record::RecordKind;

    /// Records of a kind.
    pub(crate) fn records(kind: RecordKind) -> String {
        format!("records/{}", kind.name())
    }

    /// Open items of a work category (by its name).
    pub(crate) fn open(category: &str) -> String {
        format!("open/{category}")
    }

    /// A peer's backlog: records in our feed after its acknowledged cursor.
    pub(crate) fn backlog(peer: &str) -> String {
        format!("backlog/{peer}")
    }
}

pub mod meta_keys {
    pub const SCHEMA: &str = "schema_version";
    pub const NODE: &str = "node";
    pub const ROLE: &str = "role";
    pub const CREATED_MS: &str = "created_ms";
    pub const FEED_SEQ: &str = "feed_seq";
    /// How many commits the writer made in the store's life (`store::mark`).
    pub const COMMITS: &str = "commits";
    pub const AUDIT_SEQ: &str = "audit_seq";
    pub const AUDIT_HEAD: &str = "audit_head";
    pub const EPISODE: &str = "episode";
    /// Random, made when the store is created or restored: peers that see it change know the
    /// store lost or regained history and must not trust cursors they kept for it.
    pub const INCARNATION: &str = "incarnation";
    /// When the incarnation began (a restore's time; a store never restored began when it
    /// was created, `CREATED_MS`).
    pub const INCARNATION_MS: &str = "incarnation_ms";
    /// The lease requests this store made since its incarnation began (record ids, comma
    /// separated): a grant on one of them is this life's; a restore clears the list.
    pub const LEASE_REQUESTS: &str = "lease_requests";
    /// Set while this node, having lost history (restored, or its store copied back), has not
    /// yet caught up with every member since: the opening it relearns in (see
    /// `store::relearn`). A restore writes it; each opening takes it over.
    pub const RELEARNING: &str = "relearning";
    pub const PATIENT_COUNTER: &str = "counter.patient";
    pub const REGISTRATION_COUNTER: &str = "counter.registration";
    /// The slot the next peer gets in `peer_holds` (slots are never reused).
    pub const PEER_SLOT_NEXT: &str = "peer_slot_next";
}
