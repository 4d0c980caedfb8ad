//! The number-range ledger's tables: the ranges this node holds with their cursors, every
//! number issued or voided, and a lessor's next number per series. The rules that use them
//! are in `crate::numbers` and `crate::desk`.

use redb::ReadableTable;

use super::error::{ReadError, StorageContext};
use super::tables;
use super::{Store, Tx};
use crate::numbers::{NumberUse, RangeState, Series};

pub(super) fn decode<T: serde::de::DeserializeOwned>(
    what: &'static str,
    bytes: &[u8],
) -> Result<T, ReadError> {
    serde_json::from_slice(bytes).map_err(ReadError::undecodable(what))
}

fn encode<T: serde::Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).unwrap_or_default()
}

/// Every range in the ranges table, in key order.
fn ranges_in(
    t: &impl ReadableTable<&'static str, &'static [u8]>,
) -> Result<Vec<RangeState>, ReadError> {
    let mut out = Vec::new();
    for entry in t.iter().ctx("reading number ranges")? {
        let (_, v) = entry.ctx("reading number ranges")?;
        out.push(decode("number range", v.value())?);
    }
    Ok(out)
}

impl Tx<'_, '_> {
    /// Every range this node holds, as of this batch.
    pub(crate) fn ranges(&self) -> Result<Vec<RangeState>, ReadError> {
        let t = self
            .r()
            .open_table(tables::RANGES)
            .ctx("reading number ranges")?;
        ranges_in(&*t)
    }

    pub(crate) fn put_range(&mut self, state: &RangeState) -> Result<(), ReadError> {
        self.w()
            .open_table(tables::RANGES)
            .ctx("writing number ranges")?
            .insert(state.range.id.as_str(), encode(state).as_slice())
            .ctx("writing number ranges")?;
        Ok(())
    }

    /// What the ledger says of a number, if anything.
    pub(crate) fn number_use(
        &self,
        series: Series,
        number: u64,
    ) -> Result<Option<NumberUse>, ReadError> {
        let t = self
            .r()
            .open_table(tables::NUMBERS)
            .ctx("reading the number ledger")?;
        let v = t
            .get((series.code(), number))
            .ctx("reading the number ledger")?;
        v.map(|v| decode("number ledger entry", v.value()))
            .transpose()
    }

    /// The highest number of `series` from `start` to `end` the ledger says anything of.
    pub(crate) fn last_noted(
        &self,
        series: Series,
        start: u64,
        end: u64,
    ) -> Result<Option<u64>, ReadError> {
        let t = self
            .r()
            .open_table(tables::NUMBERS)
            .ctx("reading the number ledger")?;
        let mut noted = t
            .range((series.code(), start)..=(series.code(), end))
            .ctx("reading the number ledger")?;
        match noted.next_back() {
            Some(entry) => Ok(Some(entry.ctx("reading the number ledger")?.0.value().1)),
            None => Ok(None),
        }
    }

    pub(crate) fn put_number(
        &mut self,
        series: Series,
        number: u64,
        used: &NumberUse,
    ) -> Result<(), ReadError> {
        self.w()
            .open_table(tables::NUMBERS)
            .ctx("writing the number ledger")?
            .insert((series.code(), number), encode(used).as_slice())
            .ctx("writing the number ledger")?;
        Ok(())
    }

    /// On a lessor: the next number of a series it will lease, if it has leased any.
    pub(crate) fn lessor_cursor(&self, series: Series) -> Result<Option<u64>, ReadError> {
        let t = self
            .r()
            .open_table(tables::LESSOR)
            .ctx("reading the lessor cursor")?;
        let v = t.get(series.code()).ctx("reading the lessor cursor")?;
        Ok(v.map(|v| v.value()))
    }

    pub(crate) fn set_lessor_cursor(&mut self, series: Series, next: u64) -> Result<(), ReadError> {
        self.w()
            .open_table(tables::LESSOR)
            .ctx("writing the lessor cursor")?
            .insert(series.code(), next)
            .ctx("writing the lessor cursor")?;
        Ok(())
    }
}

impl Store {
    /// The ranges this node holds, with their cursors.
    pub fn ranges(&self) -> Result<Vec<RangeState>, ReadError> {
        let mut out = ranges_in(&self.table(tables::RANGES)?)?;
        out.sort_by_key(|r| (r.range.series, r.range.start));
        Ok(out)
    }

    /// The ledger's entries for the numbers of each range, in order, read in one
    /// transaction.
    pub(crate) fn ledger_entries(
        &self,
        ranges: &[RangeState],
    ) -> Result<Vec<Vec<(u64, NumberUse)>>, ReadError> {
        let t = self.table(tables::NUMBERS)?;
        let mut out = Vec::with_capacity(ranges.len());
        for state in ranges {
            let r = &state.range;
            let mut entries = Vec::new();
            for entry in t
                .range((r.series.code(), r.start)..=(r.series.code(), r.end))
                .ctx("reading the number ledger")?
            {
                let (k, v) = entry.ctx("reading the number ledger")?;
                entries.push((k.value().1, decode("number ledger entry", v.value())?));
            }
            out.push(entries);
        }
        Ok(out)
    }
}
