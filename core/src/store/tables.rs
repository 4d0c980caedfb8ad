//! The redb tables of one node's store. See `docs/design.md` for the layout and its
//! invariants. Keys that hold a record id use its 16 raw bytes.

use redb::TableDefinition;

pub type Id = [u8; 16];

/// Schema version written at creation; open refuses any other.
pub const SCHEMA_VERSION: u64 = 1;

/// Metadata: schema version, node identity, counters, the audit head, the current episode.
pub const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");

/// Each document as a list of chunks: chunk 0 a full save, later chunks incremental
/// changes. Compaction replaces them all with one full save.
pub const DOC_CHUNKS: TableDefinition<(Id, u32), &[u8]> = TableDefinition::new("doc_chunks");

/// Document → its current heads (concatenated 32-byte hashes), for digests and deltas.
pub const DOC_HEADS: TableDefinition<Id, &[u8]> = TableDefinition::new("doc_heads");

/// The change feed: local sequence → document changed at that sequence. Each document appears
/// once, at its latest change.
pub const FEED: TableDefinition<u64, Id> = TableDefinition::new("feed");
/// Document → its position in the feed.
pub const FEED_POS: TableDefinition<Id, u64> = TableDefinition::new("feed_pos");

/// Indexes.
pub const BY_KIND: TableDefinition<(u8, Id), ()> = TableDefinition::new("by_kind");
pub const BY_PATIENT: TableDefinition<(Id, Id), ()> = TableDefinition::new("by_patient");
pub const BY_EPISODE: TableDefinition<(&str, Id), ()> = TableDefinition::new("by_episode");
/// Records created during an episode that central has not yet acknowledged.
pub const UNRECONCILED: TableDefinition<Id, ()> = TableDefinition::new("unreconciled");
/// Patient search keys: (key kind, normalized value, patient).
pub const PATIENT_KEYS: TableDefinition<(&str, &str, Id), ()> =
    TableDefinition::new("patient_keys");
/// Patient → the search keys currently indexed for it (JSON), to remove them on change.
pub const PATIENT_KEYS_OF: TableDefinition<Id, &[u8]> = TableDefinition::new("patient_keys_of");

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
/// (peer, document) → the heads the peer is known to have (concatenated 32-byte hashes).
pub const PEER_HEADS: TableDefinition<(&str, Id), &[u8]> = TableDefinition::new("peer_heads");
/// (peer, document) → Automerge sync state, for documents that fell back to the sync protocol.
pub const PEER_SYNC: TableDefinition<(&str, Id), &[u8]> = TableDefinition::new("peer_sync");

pub mod meta_keys {
    pub const SCHEMA: &str = "schema_version";
    pub const NODE: &str = "node";
    pub const ROLE: &str = "role";
    pub const CREATED_MS: &str = "created_ms";
    pub const FEED_SEQ: &str = "feed_seq";
    pub const AUDIT_SEQ: &str = "audit_seq";
    pub const AUDIT_HEAD: &str = "audit_head";
    pub const EPISODE: &str = "episode";
    /// Random, made when the store is created or restored: peers that see it change know the
    /// store lost or regained history and must not trust cursors they kept for it.
    pub const INCARNATION: &str = "incarnation";
    pub const PATIENT_COUNTER: &str = "counter.patient";
    pub const REGISTRATION_COUNTER: &str = "counter.registration";
}
