//! What the rules on peers' changes need to know of the other records the store holds
//! ([`crate::trust::Knowledge`]): the number ranges granted in lease records (kept in the
//! `granted` index, one range read per question) and when episodes were opened.

use redb::ReadableTable;

use super::Tx;
use super::error::{ReadError, StorageContext};
use super::read::load_doc;
use super::tables::{self, HIGHEST_ID, LOWEST_ID};
use super::tx_tables::TxTables;
use crate::clock::UnixMs;
use crate::id::{EpisodeId, RecordId};
use crate::numbers::Series;
use crate::record::{Episode, Lease, RecordKind};
use crate::trust::{Answer, Grant, Knowledge, Unknowable};

/// Most granted ranges looked at for one overlap question: ranges in the index never overlap
/// one another but for a lease's own earlier grant, so the nearest two decide.
const NEAREST: usize = 4;

/// The rules' view of a batch's transaction.
pub(super) struct TxKnowledge<'a, 't> {
    pub(super) w: &'a TxTables<'t>,
}

fn unknowable(what: &'static str) -> impl FnOnce(ReadError) -> Unknowable {
    move |e| {
        tracing::error!(error = %crate::error::Chain(&e), what, "cannot read what a rule needs");
        Unknowable { what }
    }
}

impl Knowledge for TxKnowledge<'_, '_> {
    fn overlapping_range(&self, grant: Grant, except: RecordId) -> Answer<RecordId> {
        let Grant { series, start, end } = grant;
        let read = || -> Result<Option<RecordId>, ReadError> {
            let t = self
                .w
                .open_table(tables::GRANTED)
                .ctx("reading granted ranges")?;
            let code = series.code();
            for entry in t
                .range((code, 0)..=(code, end))
                .ctx("reading granted ranges")?
                .rev()
                .take(NEAREST)
            {
                let (_, v) = entry.ctx("reading granted ranges")?;
                let (other_end, lease) = v.value();
                if other_end < start {
                    break;
                }
                let lease = RecordId::from_bytes(lease);
                if lease != except {
                    return Ok(Some(lease));
                }
            }
            Ok(None)
        };
        read().map_err(unknowable("the granted number ranges"))
    }

    fn episode_opened_ms(&self, id: &EpisodeId) -> Answer<UnixMs> {
        let read = || -> Result<Option<UnixMs>, ReadError> {
            let by_kind = self.w.open_table(tables::BY_KIND).ctx("reading an index")?;
            let chunks = self
                .w
                .open_table(tables::DOC_CHUNKS)
                .ctx("loading a record")?;
            let code = RecordKind::Episode.code();
            for entry in by_kind
                .range((code, LOWEST_ID)..=(code, HIGHEST_ID))
                .ctx("reading an index")?
            {
                let (k, _) = entry.ctx("reading an index")?;
                let Some(doc) = load_doc(&*chunks, RecordId::from_bytes(k.value().1))? else {
                    continue;
                };
                if let Ok(e) = crate::record::hydrate::<Episode>(&doc)
                    && e.episode_id == *id
                {
                    return Ok(Some(e.opened_ms));
                }
            }
            Ok(None)
        };
        read().map_err(unknowable("the episodes"))
    }
}

impl Tx<'_, '_> {
    /// Keeps a lease record's granted range in the `granted` index. A range once granted
    /// stays there even if a concurrent grant wins the record: both lessors moved past it.
    pub(super) fn index_granted(&mut self, id: RecordId, lease: Lease) -> Result<(), ReadError> {
        let (Some(range), Some(series)) = (lease.range, Series::parse(&lease.series)) else {
            return Ok(());
        };
        self.w()
            .open_table(tables::GRANTED)
            .ctx("indexing granted ranges")?
            .insert((series.code(), range.start), (range.end, id.to_bytes()))
            .ctx("indexing granted ranges")?;
        Ok(())
    }
}
