//! The same family registered at two windows: one to three members (a shared phone, each a
//! name, birth date and resident identity number of their own), registered by the desks of two windows at the same
//! moment, so that neither window holds the other's records when it registers them (as two
//! windows apart in a partition would). Both sets of records must then reach every node as
//! they are, never merged by the machine, each member's two records a duplicate pair that
//! the review's detector flags for a person ([`crate::check`]). Now and then an admin at a
//! server merges one flagged pair (`admin`).

use lifeline_core::record::{InsuranceType, Patient, Sex};
use lifeline_core::{Date, DeskRole, Operator, RecordId};

use crate::backing::Backing;
use crate::sim::{Bug, Power, Sim};
use crate::work::{Job, Kind, New};

/// Most members of a family registered twice.
const MAX_MEMBERS: u64 = 3;

/// The two records of one person, registered at two windows.
pub(crate) type Pair = [RecordId; 2];

impl<R: Backing> Sim<R> {
    /// Registers a family at two windows that are up, if there are two; returns whether it
    /// did.
    pub(crate) fn family_twice(&mut self) -> bool {
        let windows: Vec<usize> = (2..self.nodes.len())
            .filter(|&n| self.nodes[n].power == Power::Up)
            .collect();
        if windows.len() < 2 {
            return false;
        }
        let first = self.work_rng.index(windows.len());
        let second = (first + 1 + self.work_rng.index(windows.len() - 1)) % windows.len();
        let (a, b) = (windows[first], windows[second]);
        self.ledger.serial += 1;
        let family = self.ledger.serial;
        let phone = self.phone();
        let members = self.work_rng.range(1, MAX_MEMBERS);
        self.faults.families_registered_twice += 1;
        let (x, y) = (self.name(a).to_owned(), self.name(b).to_owned());
        self.note(|| format!("family {family} ({members} people) registered at {x} and {y}"));
        for member in 0..members {
            let [at_a, at_b] = [a, b].map(|node| self.family_member(node, family, member, &phone));
            self.ledger.families.push([at_a.header.id, at_b.header.id]);
            self.enqueue(a, Job::Create(New::Patient(Box::new(at_a))));
            self.enqueue(b, Job::Create(New::Patient(Box::new(at_b))));
        }
        true
    }

    /// The injected bug ([`Bug::MergeDuplicates`]): the node merges each family's second
    /// record into the first as soon as it holds both, and tells its sessions.
    pub(crate) fn merge_duplicates_by_itself(&mut self, node: usize) {
        if self.cfg.bug != Some(Bug::MergeDuplicates) || self.nodes[node].power == Power::Down {
            return;
        }
        let replica = self.nodes[node].replica().clone();
        let admin = Operator::new(crate::work::admin_operator(), DeskRole::Admin);
        let mut merged = 0;
        for &[a, b] in &self.ledger.families {
            let unmerged = replica.heads(a).is_some()
                && replica
                    .get::<Patient>(b)
                    .ok()
                    .flatten()
                    .is_some_and(|p| p.merged_into.is_none());
            if unmerged
                && replica
                    .update(&admin, b, move |p: &mut Patient| p.merged_into = Some(a))
                    .is_ok()
            {
                merged += 1;
            }
        }
        if merged > 0 {
            let name = self.name(node).to_owned();
            self.note(|| format!("{name} merged {merged} duplicate patients by itself (bug)"));
            self.wake(node, None);
        }
    }

    /// One member of a family, as a window's registration desk writes them.
    fn family_member(&mut self, node: usize, family: u64, member: u64, phone: &str) -> Patient {
        self.ledger.serial += 1;
        let serial = self.ledger.serial;
        let year = 1950 + ((family + member * 23) % 70) as i32;
        let month = 1 + (member as u8);
        Patient {
            header: self.header(node, Kind::Patient),
            patient_no: format!("{}-{serial}", self.name(node)),
            name: format!("family {family} member {member}"),
            sex: if member.is_multiple_of(2) {
                Sex::Female
            } else {
                Sex::Male
            },
            birth_date: Date::new(year, month, 1).expect("the first of a month is a date"),
            phone: phone.to_owned(),
            // The same person's number at both windows: the one key a later phone change at
            // either leaves shared.
            national_id: Some(national_id(year, month, family % 1000)),
            insurance: InsuranceType::SelfPay,
            merged_into: None,
            his_id: None,
            guardian: None,
            his_deleted: false,
            his_changed: None,
        }
    }
}

/// A resident identity number (Beijing's Xicheng district, born on the first of `month`),
/// with its ISO 7064 MOD 11-2 check character.
fn national_id(year: i32, month: u8, sequence: u64) -> String {
    const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    const CHECK: &[u8; 11] = b"10X98765432";
    let digits = format!("110102{year:04}{month:02}01{sequence:03}");
    let sum: u32 = digits
        .bytes()
        .zip(WEIGHTS)
        .map(|(b, w)| u32::from(b - b'0') * w)
        .sum();
    let check = char::from(CHECK[(sum % 11) as usize]);
    format!("{digits}{check}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn family_members_have_valid_resident_numbers() {
        for (year, month, sequence) in [(1950, 1, 0), (2019, 3, 999), (1987, 2, 42)] {
            let id = national_id(year, month, sequence);
            assert_eq!(lifeline_core::rules::check_national_id(&id), Ok(()), "{id}");
        }
    }
}
