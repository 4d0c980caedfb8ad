//! The catalog-code index: (item kind, code) → the item's record, kept by the writer for
//! every drug and service item, so that a charge or prescription reads the one item it needs
//! and an import finds what it already holds.

use automerge::{Automerge, ROOT};
use redb::ReadableTable;

use super::error::{ReadError, StorageContext};
use super::tables::{self, Id};
use super::{Store, Tx};
use crate::id::RecordId;
use crate::record::{CatalogKind, RecordKind};

fn lookup(
    t: &impl ReadableTable<(u8, &'static str), Id>,
    kind: CatalogKind,
    code: &str,
) -> Result<Option<RecordId>, ReadError> {
    let Some(item) = kind.item_kind() else {
        return Ok(None);
    };
    Ok(t.get((item.code(), code))
        .ctx("reading the catalog index")?
        .map(|v| RecordId::from_bytes(v.value())))
}

fn codes(
    t: &impl ReadableTable<(u8, &'static str), Id>,
    kind: CatalogKind,
) -> Result<Vec<(String, RecordId)>, ReadError> {
    let mut out = Vec::new();
    let Some(item) = kind.item_kind() else {
        return Ok(out);
    };
    let k = item.code();
    for entry in t
        .range((k, "")..=(k, "\u{10ffff}"))
        .ctx("reading the catalog index")?
    {
        let (key, v) = entry.ctx("reading the catalog index")?;
        out.push((key.value().1.to_owned(), RecordId::from_bytes(v.value())));
    }
    Ok(out)
}

impl Tx<'_, '_> {
    /// The record of a catalog item, by code, as of this batch.
    pub(crate) fn catalog_item_id(
        &self,
        kind: CatalogKind,
        code: &str,
    ) -> Result<Option<RecordId>, ReadError> {
        let t = self
            .r()
            .open_table(tables::CATALOG_CODES)
            .ctx("reading the catalog index")?;
        lookup(&*t, kind, code)
    }

    /// Every item of a catalog (withdrawn ones included), by code.
    pub(crate) fn catalog_codes(
        &self,
        kind: CatalogKind,
    ) -> Result<Vec<(String, RecordId)>, ReadError> {
        let t = self
            .r()
            .open_table(tables::CATALOG_CODES)
            .ctx("reading the catalog index")?;
        codes(&*t, kind)
    }

    /// Indexes a catalog item document by its code.
    pub(super) fn index_catalog_item(
        &mut self,
        kind: RecordKind,
        id: RecordId,
        doc: &Automerge,
    ) -> Result<(), ReadError> {
        let Ok(code) = autosurgeon::hydrate_prop::<_, String, _, _>(doc, ROOT, "code") else {
            return Ok(());
        };
        self.w()
            .open_table(tables::CATALOG_CODES)
            .ctx("indexing")?
            .insert((kind.code(), code.as_str()), id.to_bytes())
            .ctx("indexing")?;
        Ok(())
    }
}

impl Store {
    /// The record of a catalog item, by code.
    pub fn catalog_item_id(
        &self,
        kind: CatalogKind,
        code: &str,
    ) -> Result<Option<RecordId>, ReadError> {
        lookup(&self.table(tables::CATALOG_CODES)?, kind, code)
    }

    /// Every item of a catalog (withdrawn ones included), by code.
    pub fn catalog_codes(&self, kind: CatalogKind) -> Result<Vec<(String, RecordId)>, ReadError> {
        codes(&self.table(tables::CATALOG_CODES)?, kind)
    }
}
