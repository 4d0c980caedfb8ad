//! A bounded cache of loaded documents, so memory does not grow with the number of records
//! on disk.
//!
//! Readers load documents from their own read transaction, which may be older than the last
//! commit. To keep a stale copy out of the cache, every commit bumps a generation under the
//! cache lock, and a reader only inserts what it loaded if no commit happened since its read
//! transaction began. The writer inserts the documents it committed, which are always newest.

use std::num::NonZeroUsize;
use std::sync::Arc;

use automerge::Automerge;
use lru::LruCache;

use crate::id::RecordId;

#[derive(Debug)]
pub(crate) struct DocCache {
    docs: LruCache<RecordId, Arc<Automerge>>,
    generation: u64,
}

impl DocCache {
    pub(crate) fn new(capacity: NonZeroUsize) -> Self {
        DocCache {
            docs: LruCache::new(capacity),
            generation: 0,
        }
    }

    pub(crate) fn generation(&self) -> u64 {
        self.generation
    }

    pub(crate) fn get(&mut self, id: &RecordId) -> Option<Arc<Automerge>> {
        self.docs.get(id).cloned()
    }

    /// A reader's insert: dropped if a commit happened after `loaded_at`.
    pub(crate) fn offer(&mut self, id: RecordId, doc: Arc<Automerge>, loaded_at: u64) {
        if loaded_at == self.generation {
            self.docs.put(id, doc);
        }
    }

    /// The writer's insert after a commit: always the newest copy; and the records the commit
    /// removed. Gives back the documents it let go of (evicted, replaced or removed), for the
    /// writer to drop once it has answered the batch's callers: freeing a document is most of
    /// what an insert costs, and neither the callers nor readers waiting on the cache's lock
    /// need to wait for it.
    #[must_use = "the documents let go of are to be dropped after the batch's replies"]
    pub(crate) fn committed(
        &mut self,
        docs: impl IntoIterator<Item = (RecordId, Arc<Automerge>)>,
        removed: &[RecordId],
    ) -> Vec<Arc<Automerge>> {
        self.generation += 1;
        let mut let_go = Vec::new();
        for (id, doc) in docs {
            if let Some((_, old)) = self.docs.push(id, doc) {
                let_go.push(old);
            }
        }
        for id in removed {
            let_go.extend(self.docs.pop(id));
        }
        let_go
    }

    pub(crate) fn len(&self) -> usize {
        self.docs.len()
    }
}
