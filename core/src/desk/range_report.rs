//! The range report: per range, the numbers issued, voided and unused, with the proof that
//! none was lost (no gaps) and none issued twice (no duplicates, no overlapping ranges).
//!
//! On a window it is read from the node's own ledger ([`Store::range_report`]). Central and
//! the standby hold no ledger of the windows' numbers, but they hold every lease record and
//! every numbered record the windows wrote; their report ([`Store::hospital_range_report`])
//! covers every range of every node from those, so the information department proves "no
//! number issued twice, none lost" for the whole hospital in one place.

use std::collections::{BTreeMap, BTreeSet};

use crate::id::RecordId;
use crate::numbers::{
    Duplicate, RangeLine, RangeReport, ReportScope, Series, emergency_number, range_line,
};
use crate::record::{Invoice, Lease, RecordKind, Visit};
use crate::status::InvoiceStatus;
use crate::store::{ReadError, Store};

/// How one number was used, as the records show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Use {
    Issued,
    Voided,
}

/// A range's series, code, first and last number, and id.
type Span = (Series, Option<String>, u64, u64, String);

/// The pairs of ranges of one series that overlap.
fn overlapping(ranges: &[Span]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (i, a) in ranges.iter().enumerate() {
        for b in &ranges[i + 1..] {
            if a.0 == b.0 && a.2 <= b.3 && b.2 <= a.3 {
                out.push((a.4.clone(), b.4.clone()));
            }
        }
    }
    out
}

fn duplicates_of(by_number: BTreeMap<(Series, u64), Vec<RecordId>>) -> Vec<Duplicate> {
    by_number
        .into_iter()
        .filter(|(_, ids)| ids.len() > 1)
        .map(|((series, number), records)| Duplicate {
            series,
            number,
            records,
        })
        .collect()
}

/// Puts each duplicate's number on the line of the range it falls in.
fn mark_duplicates(lines: &mut [RangeLine], duplicates: &[Duplicate]) {
    for d in duplicates {
        for line in lines.iter_mut() {
            if line.series == d.series && (line.start..=line.end).contains(&d.number) {
                line.duplicates.push(d.number);
            }
        }
    }
}

impl Store {
    /// Per range this node holds: numbers issued, voided and unused, with the proof that
    /// there are no gaps, no duplicates across every numbered record this node holds, and no
    /// overlapping ranges.
    pub fn range_report(&self) -> Result<RangeReport, ReadError> {
        let ranges = self.ranges()?;
        let lines: Vec<RangeLine> = ranges
            .iter()
            .zip(self.ledger_entries(&ranges)?)
            .map(|(state, ledger)| range_line(state, ledger.iter().map(|(n, u)| (*n, u))))
            .collect();
        let spans: Vec<Span> = ranges
            .iter()
            .map(|r| {
                let r = &r.range;
                (r.series, r.code.clone(), r.start, r.end, r.id.clone())
            })
            .collect();
        Ok(self.report(ReportScope::Node, lines, &spans, self.numbered_records()?.0))
    }

    /// The report from its lines, with the duplicates marked on them and the overlaps.
    fn report(
        &self,
        scope: ReportScope,
        mut lines: Vec<RangeLine>,
        spans: &[Span],
        by_number: BTreeMap<(Series, u64), Vec<RecordId>>,
    ) -> RangeReport {
        lines.sort_by_key(|l| (l.series, l.start));
        let duplicates = duplicates_of(by_number);
        mark_duplicates(&mut lines, &duplicates);
        RangeReport {
            node: self.node().clone(),
            scope,
            ranges: lines,
            duplicates,
            overlapping_ranges: overlapping(spans),
        }
    }

    /// Every range leased to any node, from the lease records, with the numbers the records
    /// that reached this node carry: issued (invoices, emergency registrations), voided
    /// (voided invoices, numbers spoiled without a record). A number below the highest used
    /// one of its range that no record carries is a gap: lost, or written on a node whose
    /// records have not reached this one yet.
    pub fn hospital_range_report(&self) -> Result<RangeReport, ReadError> {
        let (by_number, uses) = self.numbered_records()?;
        let mut lines = Vec::new();
        let mut spans = Vec::new();
        for id in self.ids_of_kind(RecordKind::Lease)? {
            let (Some(lease), Some(doc)) = (self.get::<Lease>(id)?, self.doc(id)?) else {
                continue;
            };
            let Some(series) = Series::parse(&lease.series) else {
                continue;
            };
            // Every grant on the request: both lessors may have filled it while apart.
            for granted in Lease::grants(&doc) {
                let (start, end) = (granted.start, granted.end);
                let range_id = format!("{}:{start}-{end}", series.name());
                lines.push(hospital_line(
                    &lease,
                    series,
                    (start, end),
                    &range_id,
                    &uses,
                ));
                spans.push((series, lease.code.clone(), start, end, range_id));
            }
        }
        Ok(self.report(ReportScope::Hospital, lines, &spans, by_number))
    }

    /// The numbers the records this node holds carry: per (series, number) the records, and
    /// how each number was used (a voided invoice's number is voided).
    #[allow(clippy::type_complexity)]
    fn numbered_records(
        &self,
    ) -> Result<
        (
            BTreeMap<(Series, u64), Vec<RecordId>>,
            BTreeMap<(Series, u64), Use>,
        ),
        ReadError,
    > {
        let mut by_number: BTreeMap<(Series, u64), Vec<RecordId>> = BTreeMap::new();
        let mut uses = BTreeMap::new();
        for id in self.ids_of_kind(RecordKind::Invoice)? {
            if let Some(inv) = self.get::<Invoice>(id)? {
                let key = (Series::Invoice, inv.number);
                by_number.entry(key).or_default().push(id);
                let voided = inv.status_log.reached(InvoiceStatus::Voided).is_some();
                uses.insert(key, if voided { Use::Voided } else { Use::Issued });
            }
        }
        // Emergency registration numbers are on visits made in episodes.
        let mut seen = BTreeSet::new();
        for episode in self.episodes()? {
            for id in self.ids_in_episode(&episode.episode.episode_id)? {
                if !seen.insert(id) {
                    continue;
                }
                let Some(header) = self.header(id)? else {
                    continue;
                };
                if header.kind != RecordKind::Visit {
                    continue;
                }
                if let Some(visit) = self.get::<Visit>(id)?
                    && let Some(number) = emergency_number(&visit.registration_no)
                {
                    let key = (Series::EmergencyRegistration, number);
                    by_number.entry(key).or_default().push(id);
                    uses.insert(key, Use::Issued);
                }
            }
        }
        Ok((by_number, uses))
    }
}

/// One range of the hospital's report, from the lease and the numbers the records carry.
fn hospital_line(
    lease: &Lease,
    series: Series,
    (start, end): (u64, u64),
    range_id: &str,
    uses: &BTreeMap<(Series, u64), Use>,
) -> RangeLine {
    let mut used: BTreeMap<u64, Use> = uses
        .range((series, start)..=(series, end))
        .map(|((_, n), u)| (*n, *u))
        .collect();
    for number in lease.spoiled.keys().filter_map(|k| k.parse::<u64>().ok()) {
        if (start..=end).contains(&number) {
            used.insert(number, Use::Voided);
        }
    }
    let highest = used.keys().next_back().copied();
    let gaps = match highest {
        Some(h) => (start..h).filter(|n| !used.contains_key(n)).collect(),
        None => Vec::new(),
    };
    RangeLine {
        range_id: range_id.to_owned(),
        series,
        holder: lease.holder.clone(),
        operator: lease.operator.clone(),
        code: lease.code.clone(),
        start,
        end,
        issued: used.values().filter(|u| **u == Use::Issued).count() as u64,
        voided: used.values().filter(|u| **u == Use::Voided).count() as u64,
        unused: highest.map_or(end - start + 1, |h| end - h),
        gaps,
        beyond_cursor: Vec::new(),
        duplicates: Vec::new(),
    }
}
