//! Filling the console bench's window store with the bulk loader: the patient master, a
//! large hospital's day with its queues, the earlier visits, an outage earlier today and
//! duplicate patients.

use super::*;

/// The counts of a load.
pub(super) struct Plan {
    pub(super) records: u64,
    pub(super) today_visits: u64,
    pub(super) days: u64,
    /// The store's clock while the pages are fetched.
    pub(super) now_ms: i64,
}

/// Writes records in batches of [`BATCH`], counting them.
struct Writer<'a> {
    store: &'a Store,
    who: Operator,
    written: u64,
    started: Instant,
}

impl Writer<'_> {
    fn load<T: Record + Send + 'static>(&mut self, mut records: Vec<T>) -> anyhow::Result<()> {
        while !records.is_empty() {
            let rest = records.split_off(records.len().min(BATCH));
            let before = self.written;
            self.written += records.len() as u64;
            self.store
                .load_records(&self.who, std::mem::replace(&mut records, rest))?;
            if before / PROGRESS != self.written / PROGRESS {
                eprintln!(
                    "{} records loaded in {:.0} s",
                    self.written,
                    self.started.elapsed().as_secs_f64()
                );
            }
        }
        Ok(())
    }
}

/// One visit's records, ready to load by kind.
#[derive(Default)]
struct Visits {
    visits: Vec<lifeline_core::record::Visit>,
    charges: Vec<lifeline_core::record::Charge>,
    invoices: Vec<lifeline_core::record::Invoice>,
    prescriptions: Vec<lifeline_core::record::Prescription>,
    dispenses: Vec<lifeline_core::record::Dispense>,
}

impl Visits {
    fn len(&self) -> u64 {
        (self.visits.len()
            + self.charges.len()
            + self.invoices.len()
            + self.prescriptions.len()
            + self.dispenses.len()) as u64
    }

    /// Visit `n` of `patient` registered at `at_ms`, then called and seen as far as
    /// `progress` says (a seen visit's prescription dispensed right after); returns its id.
    fn add(
        &mut self,
        o: &Origin,
        patient: RecordId,
        n: u64,
        at_ms: i64,
        progress: Progress,
    ) -> RecordId {
        let (mut visit, charge, invoice, rx) = data::visit_records(o, patient, n, at_ms);
        visit.department = DEPARTMENTS[(n % DEPARTMENTS.len() as u64) as usize].into();
        let id = visit.header.id;
        let mut rx = rx;
        match progress {
            Progress::Waiting => {}
            Progress::Called => {
                data::move_visit(
                    o,
                    &mut visit,
                    &[VisitStatus::Called],
                    at_ms + 35 * MINUTE_MS,
                );
            }
            Progress::Seen => {
                data::move_visit(
                    o,
                    &mut visit,
                    &[VisitStatus::Called, VisitStatus::Seen],
                    at_ms + 40 * MINUTE_MS,
                );
                if let Some(rx) = rx.as_mut() {
                    self.dispenses
                        .push(data::dispense(o, rx, at_ms + 44 * MINUTE_MS));
                }
            }
        }
        self.visits.push(visit);
        self.charges.push(charge);
        self.invoices.push(invoice);
        self.prescriptions.extend(rx);
        id
    }

    fn load(self, w: &mut Writer<'_>) -> anyhow::Result<()> {
        w.load(self.visits)?;
        w.load(self.charges)?;
        w.load(self.invoices)?;
        w.load(self.prescriptions)?;
        w.load(self.dispenses)
    }
}

/// How far a visit got by the store's clock.
#[derive(Debug, Clone, Copy)]
enum Progress {
    Waiting,
    Called,
    Seen,
}

/// The window store, its catalogs from central (the shipped ones and `drugs` more drugs),
/// and the records.
pub(super) fn fill(
    dir: &Path,
    clock: &ManualClock,
    plan: &Plan,
    drugs: usize,
) -> anyhow::Result<Loaded> {
    let central = NodeName::new("central")?;
    let window = NodeName::new("W01")?;
    let mut c = StoreOptions::new(central.clone(), NodeRole::Central);
    c.credentials = Some(Credentials::uncertified(central, NodeRole::Central, &[])?);
    let mut w = StoreOptions::new(window.clone(), NodeRole::Window);
    let desks: Vec<DeskRole> = DESKS
        .iter()
        .map(|(d, _)| *d)
        .filter(|d| *d != DeskRole::Admin)
        .collect();
    w.credentials = Some(Credentials::uncertified(
        window.clone(),
        NodeRole::Window,
        &desks,
    )?);
    w.desks = desks;
    w.utc_offset_min = OFFSET_MIN;
    w.clock = Arc::new(clock.clone());
    let (central, win) = crate::fixture::pair_with(dir, c, w)?;
    let store = win.store;
    let info = Operator::new(OperatorName::new("info1")?, DeskRole::Admin);
    let mut all = crate::fixture::catalogs()?.drugs.unwrap_or_default();
    all.extend(crate::scale::catalogs(drugs, 0).drugs.unwrap_or_default());
    central
        .import_catalog(
            &info,
            CatalogImport {
                drugs: Some(all),
                services: None,
                departments: None,
                doctors: None,
            },
        )
        .context("cannot import the drug catalog on central")?;
    crate::fixture::copy_all(&central, &store)?;
    drop(central);

    let origin = Origin {
        node: window.clone(),
        operator: OperatorName::new("reg1")?,
        episode: None,
    };
    let now_ms = plan.now_ms;
    let day_start = Date::at(now_ms, OFFSET_MIN).start_ms(OFFSET_MIN);
    let mut rng = Rng::new(7);
    let start = Instant::now();
    let mut w = Writer {
        store: &store,
        who: Operator::new(OperatorName::new("bulk-loader")?, DeskRole::Admin),
        written: 0,
        started: start,
    };

    // The outage earlier today: 07:00 to 07:40, recovered, its records not yet acknowledged
    // by central (so the window has not left it).
    let opened = day_start + 7 * HOUR_MS;
    let closed = opened + 40 * MINUTE_MS;
    let d = Date::at(opened, OFFSET_MIN);
    let episode = EpisodeId::new(format!(
        "YJ-{}{:02}{:02}-0700-{window}",
        d.year, d.month, d.day
    ))?;
    let emergency = Origin {
        episode: Some(episode.clone()),
        ..origin.clone()
    };
    w.load(vec![outage(&emergency, &episode, opened, closed)])?;
    let (mut patients, mut visits, mut rxs) = (Vec::new(), Vec::new(), Vec::new());
    for n in 0..EMERGENCY_VISITS {
        let at = opened + 5 * MINUTE_MS + i64::try_from(n)? * MINUTE_MS;
        let (p, v) = data::emergency_registration(&emergency, n, at);
        if n < EMERGENCY_PRESCRIPTIONS {
            rxs.push(data::prescription(
                &emergency,
                v.header.id,
                p.header.id,
                at + 10 * MINUTE_MS,
            ));
        }
        patients.push(p);
        visits.push(v);
    }
    w.load(patients)?;
    w.load(visits)?;
    w.load(rxs)?;
    // Duplicate patients, registered apart 40 days ago.
    let mut pairs = Vec::new();
    for n in 0..DUPLICATE_PAIRS {
        pairs.extend(data::duplicate_pair(
            &origin,
            n,
            data::days_ago(now_ms, 40) + i64::try_from(n)?,
        ));
    }
    w.load(pairs)?;

    // Today's visits, 07:30 to a minute ago, for patients of the master: about four records
    // each, so the master is what is left after them and the earlier visits, 40% of it.
    let today_records = plan.today_visits * 4;
    let rest = plan
        .records
        .checked_sub(w.written + today_records)
        .filter(|r| *r >= 10)
        .with_context(|| {
            format!(
                "{} records cannot hold {} visits today: ask for more records or fewer visits",
                plan.records, plan.today_visits
            )
        })?;
    let master = if plan.days == 0 {
        rest / 2
    } else {
        rest * 2 / 5
    };
    let mut ids: Vec<RecordId> = Vec::with_capacity(master as usize);
    let mut batch: Vec<Patient> = Vec::with_capacity(BATCH);
    for k in 0..master {
        // Created up to five years before the earliest visit.
        let age_days = i64::try_from(plan.days + 1 + rng.below(5 * 365))?;
        let at = data::days_ago(now_ms, age_days) + i64::try_from(k % 86_400_000)?;
        let p = data::patient(&origin, &mut rng, k, at);
        ids.push(p.header.id);
        batch.push(p);
        if batch.len() == BATCH {
            w.load(std::mem::take(&mut batch))?;
        }
    }
    w.load(batch)?;
    let patient_no = |k: usize| format!("P{k:09}");

    let first_ms = day_start + 7 * HOUR_MS + 30 * MINUTE_MS;
    let span_ms = now_ms - MINUTE_MS - first_ms;
    let mut today = Visits::default();
    let mut n = 0u64;
    let mut waiting = None;
    for i in 0..plan.today_visits {
        let at = first_ms + span_ms * i64::try_from(i)? / i64::try_from(plan.today_visits)?;
        let age = now_ms - at;
        let progress = if age < 40 * MINUTE_MS {
            Progress::Waiting
        } else if age < 45 * MINUTE_MS {
            Progress::Called
        } else {
            Progress::Seen
        };
        let k = rng.below(ids.len() as u64) as usize;
        let visit = today.add(&origin, ids[k], n, at, progress);
        if matches!(progress, Progress::Waiting) && waiting.is_none() {
            waiting = Some((patient_no(k), visit));
        }
        n += 1;
    }
    let (waiting_patient_no, waiting_visit) =
        waiting.context("no visit of today is waiting: ask for more visits today")?;
    today.load(&mut w)?;

    // The earlier visits, seen, 08:00 to 17:00 of each of the `days` days before today, until
    // the store holds `records`.
    if plan.days > 0 {
        let left = plan.records.saturating_sub(w.written);
        let per_day = (left / 4).div_ceil(plan.days).max(1);
        let mut chunk = Visits::default();
        'days: for back in (1..=plan.days).rev() {
            let start_ms = data::days_ago(day_start, i64::try_from(back)?) + 8 * HOUR_MS;
            for i in 0..per_day {
                if w.written + chunk.len() >= plan.records {
                    break 'days;
                }
                let at = start_ms + 9 * HOUR_MS * i64::try_from(i)? / i64::try_from(per_day)?;
                let k = rng.below(ids.len() as u64) as usize;
                chunk.add(&origin, ids[k], n, at, Progress::Seen);
                n += 1;
                if chunk.len() >= BATCH as u64 {
                    std::mem::take(&mut chunk).load(&mut w)?;
                }
            }
        }
        chunk.load(&mut w)?;
    }
    let load = start.elapsed();
    clock.set(now_ms);
    Ok(Loaded {
        store,
        waiting_patient_no,
        waiting_visit,
        episode,
        load,
    })
}

/// The episode of an outage from `opened_ms` to `closed_ms` on the window that writes it.
fn outage(o: &Origin, id: &EpisodeId, opened_ms: i64, closed_ms: i64) -> Episode {
    let header = lifeline_core::record::Header {
        id: RecordId::generate_at(opened_ms),
        kind: RecordKind::Episode,
        origin: o.node.clone(),
        operator: o.operator.clone(),
        created_ms: opened_ms,
        episode: Some(id.clone()),
        paper: None,
    };
    let node = EpisodeNode {
        joined_ms: opened_ms,
        recovered_ms: Some(closed_ms),
        left_ms: None,
        drug_catalog_version: 1,
        service_catalog_version: 1,
        catalog_changed_ms: None,
    };
    Episode {
        header,
        episode_id: id.clone(),
        reason: "central unreachable".into(),
        reason_code: Some(lifeline_core::record::ReasonCode {
            code: lifeline_core::record::ReasonCode::CENTRAL_UNREACHABLE.into(),
            seconds: Some(10),
        }),
        automatic: true,
        opened_ms,
        closed_ms: Some(closed_ms),
        closed_by: None,
        nodes: [(o.node.to_string(), node)].into(),
        merged_into: None,
        drill: false,
        estimates: Default::default(),
        cause: None,
    }
}
