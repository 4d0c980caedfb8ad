//! One pass over an episode's records: what the outage report counts (kinds, origin nodes,
//! invoices per range) and how far recovery has come (emergency prescriptions dispensed in
//! the system since, paused registrations resumed, failed insurance settlements redone); and
//! the report's worklist progress and node lines from it.

use std::collections::BTreeMap;

use lifeline_core::desk::Channels;
use lifeline_core::record::{Charge, Episode, EpisodeNode, Invoice, Prescription, Visit};
use lifeline_core::review::{Conflict, ConflictKind, ConflictStatus, WorkCategory};
use lifeline_core::status::{ChargeStatus, InvoiceStatus, PrescriptionStatus, VisitStatus};
use lifeline_core::{Fen, ReadError, RecordId, RecordKind, Store};

use crate::error::chain;
use crate::report::outage::{NodeLine, RangeInvoices, WorkProgress};
use crate::report::words::duration;
use crate::time::UtcOffset;

/// Open and done counts of one category.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct Tally {
    open: usize,
    done: usize,
}

/// What one pass over the episode's records gathers.
#[derive(Debug, Default)]
pub(super) struct Scan {
    pub(super) by_kind: BTreeMap<RecordKind, usize>,
    pub(super) by_node: BTreeMap<String, usize>,
    pub(super) ranges: BTreeMap<String, RangeInvoices>,
    prescriptions: Tally,
    visits: Tally,
    resettle: Tally,
    /// Records the HIS refused (open: refused now; a record it took is not counted).
    his_rejected: Tally,
    pub(super) money: Money,
}

/// The money of the episode's charges.
#[derive(Debug, Default)]
pub(super) struct Money {
    pub(super) settled: usize,
    pub(super) by_channel: Channels,
    pub(super) awaiting: usize,
    pub(super) awaiting_amount: Fen,
}

fn add(a: Fen, b: Fen) -> Fen {
    a.checked_add(b).unwrap_or(Fen(i64::MAX))
}

impl Scan {
    pub(super) fn read(&mut self, store: &Store, id: RecordId) -> Result<(), ReadError> {
        let header = match store.header(id) {
            Ok(Some(h)) => h,
            Ok(None) => return Ok(()),
            Err(e @ (ReadError::Corrupt { .. } | ReadError::WrongKind { .. })) => {
                tracing::warn!(%id, error = chain(&e), "record skipped by the outage report");
                return Ok(());
            }
            Err(e) => return Err(e),
        };
        if header.kind == RecordKind::Episode {
            return Ok(());
        }
        *self.by_kind.entry(header.kind).or_default() += 1;
        *self.by_node.entry(header.origin.to_string()).or_default() += 1;
        if store.his_rejection(id)?.is_some() {
            self.his_rejected.open += 1;
        }
        match header.kind {
            RecordKind::Prescription => {
                if let Some(rx) = store.get::<Prescription>(id).ok().flatten() {
                    match rx.status_log.current::<PrescriptionStatus>() {
                        Ok(PrescriptionStatus::Dispensed | PrescriptionStatus::Cancelled) => {
                            self.prescriptions.done += 1;
                        }
                        Ok(_) => self.prescriptions.open += 1,
                        Err(_) => {}
                    }
                }
            }
            RecordKind::Visit => {
                if let Some(v) = store.get::<Visit>(id).ok().flatten()
                    && v.status_log.reached(VisitStatus::Paused).is_some()
                {
                    match v.status_log.current::<VisitStatus>() {
                        Ok(VisitStatus::Paused) => self.visits.open += 1,
                        Ok(_) => self.visits.done += 1,
                        Err(_) => {}
                    }
                }
            }
            RecordKind::Charge => {
                if let Some(c) = store.get::<Charge>(id).ok().flatten() {
                    self.charge(&c);
                }
            }
            RecordKind::Invoice => {
                if let Some(inv) = store.get::<Invoice>(id).ok().flatten() {
                    self.invoice(&inv);
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn charge(&mut self, c: &Charge) {
        if c.awaits_resettlement() {
            self.resettle.open += 1;
            self.money.awaiting += 1;
            self.money.awaiting_amount = add(self.money.awaiting_amount, c.amount);
        } else if c.resettled.is_some() {
            self.resettle.done += 1;
        }
        if c.status_log.reached(ChargeStatus::Settled).is_some() {
            self.money.settled += 1;
            self.money.by_channel.add(&c.payments, 1);
        }
    }

    fn invoice(&mut self, inv: &Invoice) {
        let line = self
            .ranges
            .entry(inv.range_id.clone())
            .or_insert_with(|| RangeInvoices {
                range_id: inv.range_id.clone(),
                series: inv.series.clone(),
                node: inv.header.origin.to_string(),
                issued: 0,
                first: inv.number,
                last: inv.number,
                voided: 0,
                voided_numbers: Vec::new(),
            });
        line.issued += 1;
        line.first = line.first.min(inv.number);
        line.last = line.last.max(inv.number);
        let voided = inv.void_reason.is_some()
            || inv.status_log.current::<InvoiceStatus>() == Ok(InvoiceStatus::Voided);
        if voided {
            line.voided += 1;
            line.voided_numbers.push(inv.number);
            line.voided_numbers.sort_unstable();
        }
    }
}

pub(super) fn worklist(scan: &Scan, touching: &[&Conflict]) -> Vec<WorkProgress> {
    let conflicts = |duplicates: bool| {
        let mut t = Tally::default();
        for c in touching
            .iter()
            .filter(|c| (c.kind == ConflictKind::DuplicatePatient) == duplicates)
        {
            match c.status {
                ConflictStatus::Open => t.open += 1,
                ConflictStatus::Resolved => t.done += 1,
            }
        }
        t
    };
    WorkCategory::ALL
        .into_iter()
        .map(|category| {
            let t = match category {
                WorkCategory::DispenseEmergencyPrescription => scan.prescriptions,
                WorkCategory::RestorePausedVisit => scan.visits,
                WorkCategory::ResettleInsurance => scan.resettle,
                WorkCategory::MergeDuplicatePatient => conflicts(true),
                WorkCategory::ReviewConflict => conflicts(false),
                WorkCategory::FixHisRejection => scan.his_rejected,
            };
            WorkProgress {
                category: category.name().to_owned(),
                title: category.title().to_owned(),
                open: t.open,
                done: t.done,
                total: t.open + t.done,
            }
        })
        .collect()
}

/// The nodes of the episode and of those merged into it: earliest join, latest leave (none
/// while any part is still open), the reference data of the earliest join.
pub(super) fn nodes(
    parts: &[&Episode],
    created: &BTreeMap<String, usize>,
    offset: UtcOffset,
) -> Vec<NodeLine> {
    let mut by_node: BTreeMap<&str, (EpisodeNode, bool)> = BTreeMap::new();
    for part in parts {
        for (name, n) in &part.nodes {
            match by_node.get_mut(name.as_str()) {
                None => {
                    by_node.insert(name, (n.clone(), n.left_ms.is_none()));
                }
                Some((acc, still_in)) => {
                    *still_in |= n.left_ms.is_none();
                    if n.joined_ms < acc.joined_ms {
                        let left = acc.left_ms.max(n.left_ms);
                        *acc = n.clone();
                        acc.left_ms = left;
                    } else {
                        acc.left_ms = acc.left_ms.max(n.left_ms);
                    }
                }
            }
        }
    }
    by_node
        .into_iter()
        .map(|(name, (n, still_in))| {
            let left_ms = if still_in { None } else { n.left_ms };
            let age = n.catalog_changed_ms.map(|c| (n.joined_ms - c).max(0));
            NodeLine {
                node: name.to_owned(),
                joined_ms: n.joined_ms,
                joined_local: offset.local(n.joined_ms),
                left_ms,
                left_local: left_ms.map(|t| offset.local(t)),
                drug_catalog_version: n.drug_catalog_version,
                service_catalog_version: n.service_catalog_version,
                catalog_changed_ms: n.catalog_changed_ms,
                catalog_changed_local: n.catalog_changed_ms.map(|t| offset.local(t)),
                reference_age_ms: age,
                reference_age: age.map(duration),
                records_created: created.get(name).copied().unwrap_or(0),
            }
        })
        .collect()
}
