//! The numbers the windows hand out in an outage: a visit registered in an emergency episode
//! takes the next emergency registration number from its node's leased ranges, as the
//! registration desk's does. After the run (`numbers_accounted`), on every node that keeps
//! numbers (a store-backed one):
//! - its own range report (from its ledger) accounts for every number of every range it
//!   holds: none missing below the range's cursor, none handed out past it;
//! - its report of the hospital's ranges (every lease and every numbered record it holds)
//!   shows no number on two records, no two ranges overlapping, and (when no restore lost a
//!   write) no number missing below the highest one used of its range;
//! - every visit a desk registered in an episode carries an emergency number from a range
//!   leased to the node that wrote it, and no other visit carries one.
//!
//! A node whose backup was copied over its store by hand (not restored) is told so at its
//! opening by the mark beside its store, and is stamped as a restore stamps it (seed 14103;
//! `lifeline_core::store::mark`): it retires the numbers it may have handed out since, and a
//! lessor relearns its grants before it leases again. A node whose whole data directory was
//! copied back (the mark with it) is told by nothing on disk: its peers rewind it, and the
//! numbers on its records that come back are never handed out again
//! (`lifeline_core::desk::returning`). What it handed out before they came back (a record
//! `blind`, see `Created`) may be on one of them: such a number on two records of that node,
//! one of them written blind, is expected (counted, not a failure). Any other duplicate
//! number or overlapping range is a failure. A write a restore lost may leave a gap in the
//! hospital's report.

use std::collections::BTreeSet;

use lifeline_core::numbers::{Duplicate, RangeReport, Series, emergency_number};
use lifeline_core::record::Visit;

use crate::backing::Backing;
use crate::outage::Created;
use crate::sim::Sim;
use crate::work::Kind;

impl<R: Backing> Sim<R> {
    pub(crate) fn check_numbers(&mut self) {
        let mut wrong = Vec::new();
        let mut checked = 0;
        let mut reissued_blind = BTreeSet::new();
        for n in &self.nodes {
            let reports = match n.replica().range_reports() {
                None => continue,
                Some(Ok(reports)) => reports,
                Some(Err(e)) => {
                    wrong.push(format!("{}: cannot report its ranges: {e}", n.name));
                    continue;
                }
            };
            let [own, hospital] = &reports;
            for line in &own.ranges {
                checked += 1;
                if !line.gaps.is_empty() || !line.beyond_cursor.is_empty() {
                    wrong.push(format!(
                        "{}: its range {} has numbers missing {:?} or past its cursor {:?}",
                        n.name, line.range_id, line.gaps, line.beyond_cursor
                    ));
                }
            }
            for report in [own, hospital] {
                let (blind, others): (Vec<&Duplicate>, Vec<&Duplicate>) = report
                    .duplicates
                    .iter()
                    .partition(|d| self.written_blind(d));
                reissued_blind.extend(blind.iter().map(|d| (d.series, d.number)));
                wrong.extend(Self::duplicates_and_overlaps(
                    n.name.as_str(),
                    report,
                    &others,
                    hospital,
                ));
            }
            if self.faults.writes_lost_to_restores == 0 {
                for line in hospital.ranges.iter().filter(|l| !l.gaps.is_empty()) {
                    wrong.push(format!(
                        "{}: no record carries {:?} of {} (leased to {}), and no write was lost",
                        n.name, line.gaps, line.range_id, line.holder
                    ));
                }
            }
            let (invoices, misnumbered) =
                self.misnumbered_invoices(n.name.as_str(), n.replica(), hospital);
            checked += invoices;
            wrong.extend(misnumbered);
            for c in self.created.iter().filter(|c| c.kind == Kind::Visit) {
                let Ok(Some(visit)) = n.replica().get::<Visit>(c.id) else {
                    continue;
                };
                checked += 1;
                let number = emergency_number(&visit.registration_no);
                let origin = self.name(c.node);
                let range = number.and_then(|number| {
                    hospital.ranges.iter().find(|l| {
                        l.series == Series::EmergencyRegistration
                            && (l.start..=l.end).contains(&number)
                    })
                });
                let fault = match (&c.episode, number, range) {
                    (None, None, _) => continue,
                    (None, Some(_), _) => "is numbered, written in no episode",
                    (Some(_), None, _) => "has no emergency number, written in an episode",
                    (Some(_), Some(_), None) => "has a number of no range leased",
                    (Some(_), Some(_), Some(l)) if l.holder.as_str() != origin => {
                        "has a number of another node's range"
                    }
                    (Some(_), Some(_), Some(_)) => continue,
                };
                wrong.push(format!(
                    "{}: {} (written at {origin}, {}) {fault}",
                    n.name, c.id, visit.registration_no
                ));
            }
        }
        self.faults.numbers_reissued_blind += reissued_blind.len() as u64;
        self.checked("numbers_accounted", checked);
        self.fail_some("numbers_accounted", wrong);
    }

    /// Whether a number on two records is one a node handed out again before its records
    /// came back from its peers, after its whole data directory was copied back: every record
    /// carrying it was written at that node, one of them blind.
    fn written_blind(&self, d: &Duplicate) -> bool {
        let by: Vec<&Created> = (d.records.iter())
            .filter_map(|id| self.created.iter().find(|c| c.id == *id))
            .collect();
        by.len() == d.records.len()
            && by.iter().all(|c| c.node == by[0].node)
            && by.iter().any(|c| c.blind)
    }

    /// What a report shows of numbers on two records (`duplicates`, of those it shows) and of
    /// ranges that overlap (`hospital` tells whose a range is).
    fn duplicates_and_overlaps(
        at: &str,
        report: &RangeReport,
        duplicates: &[&Duplicate],
        hospital: &RangeReport,
    ) -> Vec<String> {
        let mut wrong: Vec<String> = report
            .overlapping_ranges
            .iter()
            .map(|(a, b)| format!("{at}: ranges {a} and {b} overlap"))
            .collect();
        for d in duplicates {
            let holder = hospital
                .ranges
                .iter()
                .find(|l| l.series == d.series && (l.start..=l.end).contains(&d.number))
                .map(|l| l.holder.as_str());
            wrong.push(format!(
                "{at}: {} number {} is on {} records: {:?} (range held by {holder:?})",
                d.series.name(),
                d.number,
                d.records.len(),
                d.records
            ));
        }
        wrong
    }
}
