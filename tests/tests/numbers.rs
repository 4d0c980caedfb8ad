//! Property test for invoice numbers: central leases ranges to three windows at random
//! moments; their cashiers issue invoices, void invoices and spoil numbers in random order;
//! windows restart and exchange records. No number is ever handed out twice, each window
//! hands its numbers out in order from its own ranges and refuses only when they are used
//! up, and every window's range report is clean, before and after all the invoices have
//! been replicated everywhere.
//!
//! Failing cases are saved in `tests/proptest-regressions/numbers.txt` and replayed first.

use std::collections::BTreeSet;

use lifeline_core::desk::{NewCharge, NewChargeLine, Settlement};
use lifeline_core::numbers::{NumberError, Series};
use lifeline_core::record::{CatalogKind, Invoice, PaymentMethod, RecordKind};
use lifeline_core::status::InvoiceStatus;
use lifeline_core::{NodeRole, RecordId, RuleError, Store, WriteError};
use lifeline_tests::{
    Transfer, cashier, confirm_next_stock, lease_for_cashier, needs_shift, registered, sync,
    temp_store, window_with_catalogs,
};
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;

const WINDOWS: [&str; 3] = ["W01", "W02", "W03"];

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        max_shrink_iters: 256,
        // Relative to the package directory, where `cargo test` runs integration tests.
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(
            "proptest-regressions/numbers.txt",
        ))),
        ..ProptestConfig::default()
    }
}

#[derive(Debug, Clone, Copy)]
enum Op {
    /// Central leases `size` invoice numbers to the window, which accepts them.
    Lease { window: usize, size: u64 },
    /// The cashier settles a new charge and issues its invoice.
    Issue { window: usize },
    /// The cashier voids one of the invoices the window holds (its own or a replicated one).
    VoidInvoice { window: usize, pick: usize },
    /// The cashier spoils the next number (a printer jam).
    VoidNext { window: usize },
    /// One window sends the other everything it holds.
    Sync { from: usize, to: usize },
    /// The window's process stops and its store is reopened.
    Reopen { window: usize },
}

fn op() -> impl Strategy<Value = Op> {
    let window = || 0..WINDOWS.len();
    prop_oneof![
        2 => (window(), 1..=4u64).prop_map(|(window, size)| Op::Lease { window, size }),
        4 => window().prop_map(|window| Op::Issue { window }),
        2 => (window(), any::<usize>()).prop_map(|(window, pick)| Op::VoidInvoice { window, pick }),
        2 => window().prop_map(|window| Op::VoidNext { window }),
        1 => (window(), 1..WINDOWS.len()).prop_map(|(from, step)| Op::Sync {
            from,
            to: (from + step) % WINDOWS.len(),
        }),
        1 => window().prop_map(|window| Op::Reopen { window }),
    ]
}

/// Central, three windows, and what each window was leased and handed out.
struct Hospital {
    _dirs: Vec<tempfile::TempDir>,
    central: Store,
    windows: Vec<Option<Store>>,
    /// The visit each window charges against.
    visits: Vec<RecordId>,
    /// Ranges leased to each window, `(start, end)`.
    leased: Vec<Vec<(u64, u64)>>,
    /// Numbers each window handed out (on an invoice or spoiled), in order.
    handed_out: Vec<Vec<u64>>,
}

/// No number to hand out: every range used up, or none leased to the cashier yet.
fn is_exhausted(e: &WriteError) -> bool {
    matches!(
        e,
        WriteError::Rule(RuleError::Number(
            NumberError::Exhausted {
                series: Series::Invoice
            } | NumberError::NoCashierRange { .. }
        ))
    )
}

impl Hospital {
    fn new() -> Hospital {
        let (central_dir, central, _) = temp_store("central", NodeRole::Central);
        let mut dirs = vec![central_dir];
        let mut windows = Vec::new();
        let mut visits = Vec::new();
        for name in WINDOWS {
            let (dir, store, _) = window_with_catalogs(name);
            visits.push(registered(&store, &format!("{name} 病人")).1.header.id);
            dirs.push(dir);
            windows.push(Some(store));
        }
        Hospital {
            _dirs: dirs,
            central,
            windows,
            visits,
            leased: vec![Vec::new(); WINDOWS.len()],
            handed_out: vec![Vec::new(); WINDOWS.len()],
        }
    }

    fn window(&self, w: usize) -> &Store {
        self.windows[w]
            .as_ref()
            .expect("the window's store is open")
    }

    fn left(&self, w: usize) -> u64 {
        let leased: u64 = self.leased[w].iter().map(|(s, e)| e - s + 1).sum();
        leased - self.handed_out[w].len() as u64
    }

    /// Records a number the window handed out, checking it is one of its own.
    fn handed(&mut self, w: usize, number: u64) {
        assert!(
            self.leased[w]
                .iter()
                .any(|(s, e)| (*s..=*e).contains(&number)),
            "{} handed out {number}, outside its ranges {:?}",
            WINDOWS[w],
            self.leased[w]
        );
        self.handed_out[w].push(number);
    }

    fn apply(&mut self, op: Op) {
        match op {
            Op::Lease { window, size } => {
                let range = lease_for_cashier(&self.central, self.window(window), size);
                self.leased[window].push((range.start, range.end));
            }
            Op::Issue { window } => {
                let store = self.window(window);
                let charge = store
                    .create_charge(
                        &cashier(),
                        NewCharge {
                            visit: self.visits[window],
                            lines: vec![NewChargeLine {
                                catalog: CatalogKind::Service,
                                code: "SVC-REG".into(),
                                quantity: 1,
                            }],
                            payment: PaymentMethod::SelfPay,
                            occurred_at: None,
                        },
                    )
                    .expect("the charge is created")
                    .value
                    .header
                    .id;
                store
                    .settle_charge(&cashier(), charge, Settlement::Paid)
                    .expect("the charge is settled");
                let mut issued = store.issue_invoice(&cashier(), vec![charge]);
                // The next stock in hand is confirmed before its first number is printed.
                if let Err(e) = &issued
                    && needs_shift(e)
                    && confirm_next_stock(store)
                {
                    issued = store.issue_invoice(&cashier(), vec![charge]);
                }
                match issued {
                    Ok(saved) => self.handed(window, saved.value.number),
                    Err(e) if is_exhausted(&e) => assert_eq!(
                        self.left(window),
                        0,
                        "{} refused an invoice with numbers left",
                        WINDOWS[window]
                    ),
                    Err(e) => panic!("{}: issuing an invoice failed: {e}", WINDOWS[window]),
                }
            }
            Op::VoidInvoice { window, pick } => {
                let store = self.window(window);
                let held = store
                    .ids_of_kind(RecordKind::Invoice)
                    .expect("the invoices list");
                if held.is_empty() {
                    return;
                }
                let id = held[pick % held.len()];
                match store.void_invoice(&cashier(), id, "wrong amount") {
                    Ok(saved) => assert_eq!(
                        saved.value.status_log.current::<InvoiceStatus>(),
                        Ok(InvoiceStatus::Voided)
                    ),
                    // Voided already: the rules say no.
                    Err(WriteError::Rule(_)) => {}
                    Err(e) => panic!("{}: voiding an invoice failed: {e}", WINDOWS[window]),
                }
            }
            Op::VoidNext { window } => {
                let store = self.window(window);
                let spoil = || store.void_next_number(&cashier(), Series::Invoice, "printer jam");
                let mut spoiled = spoil();
                if let Err(e) = &spoiled
                    && needs_shift(e)
                    && confirm_next_stock(store)
                {
                    spoiled = spoil();
                }
                match spoiled {
                    Ok(saved) => self.handed(window, saved.value),
                    Err(e) if is_exhausted(&e) => assert_eq!(self.left(window), 0),
                    Err(e) => panic!("{}: spoiling a number failed: {e}", WINDOWS[window]),
                }
            }
            Op::Sync { from, to } => {
                sync(self.window(from), self.window(to), Transfer::ChangesSince);
            }
            Op::Reopen { window } => {
                let store = self.windows[window].take().expect("the store is open");
                let (path, opts) = (store.path().to_path_buf(), store.options().clone());
                drop(store);
                self.windows[window] =
                    Some(Store::open(&path, opts).expect("the window's store reopens"));
            }
        }
    }

    /// The promises about numbers, as the information department would check them.
    fn assert_numbers_sound(&self, when: &str) {
        let mut all = BTreeSet::new();
        for (w, numbers) in self.handed_out.iter().enumerate() {
            assert!(
                numbers.windows(2).all(|p| p[0] < p[1]),
                "{when}: {} handed out numbers out of order: {numbers:?}",
                WINDOWS[w]
            );
            for n in numbers {
                assert!(all.insert(*n), "{when}: number {n} was handed out twice");
            }
            let store = self.window(w);
            let report = store.range_report().expect("the range report reads");
            assert!(
                report.is_clean(),
                "{when}: {}'s range report is not clean: {report:?}",
                WINDOWS[w]
            );
            let accounted: u64 = report.ranges.iter().map(|r| r.issued + r.voided).sum();
            assert_eq!(
                accounted,
                numbers.len() as u64,
                "{when}: {}'s ledger does not account for every number it handed out",
                WINDOWS[w]
            );
            let unused: u64 = report.ranges.iter().map(|r| r.unused).sum();
            assert_eq!(unused, self.left(w), "{when}: {}", WINDOWS[w]);
        }
        // Every invoice any window holds carries its own number.
        let mut by_number: Vec<(u64, RecordId)> = Vec::new();
        for w in 0..WINDOWS.len() {
            let store = self.window(w);
            for id in store
                .ids_of_kind(RecordKind::Invoice)
                .expect("the invoices list")
            {
                let inv: Invoice = store
                    .get(id)
                    .expect("the invoice reads")
                    .expect("the listed invoice is stored");
                by_number.push((inv.number, id));
            }
        }
        by_number.sort();
        by_number.dedup();
        for pair in by_number.windows(2) {
            assert!(
                pair[0].0 != pair[1].0,
                "{when}: invoices {} and {} both carry number {}",
                pair[0].1,
                pair[1].1,
                pair[0].0
            );
        }
    }

    /// Every window sends every other everything, twice round.
    fn replicate_everywhere(&self) {
        for _ in 0..2 {
            for from in 0..WINDOWS.len() {
                for to in 0..WINDOWS.len() {
                    if from != to {
                        sync(self.window(from), self.window(to), Transfer::FullSave);
                    }
                }
            }
        }
    }
}

proptest! {
    #![proptest_config(config(24))]

    #[test]
    fn no_invoice_number_is_ever_issued_twice(ops in proptest::collection::vec(op(), 1..40)) {
        let mut hospital = Hospital::new();
        for op in ops {
            hospital.apply(op);
        }
        hospital.assert_numbers_sound("after the desks' work");
        hospital.replicate_everywhere();
        hospital.assert_numbers_sound("after replicating every invoice everywhere");
        let counts: Vec<u64> = (0..WINDOWS.len())
            .map(|w| {
                hospital
                    .window(w)
                    .count_of_kind(RecordKind::Invoice)
                    .expect("the invoices count")
            })
            .collect();
        prop_assert!(counts.windows(2).all(|p| p[0] == p[1]), "{:?}", counts);
    }
}
