//! The scale benchmark's findings, as JSON and as a table.

use std::fmt::Write as _;

use serde::Serialize;

use super::Plan;
use super::outage::Outage;
use super::volume::Volume;
use crate::{DEBUG_WARNING, Machine};

/// Everything a `scale` run measured; written as JSON.
#[derive(Debug, Clone, Serialize)]
pub struct ScaleReport {
    pub benchmark: &'static str,
    pub timestamp: String,
    pub timestamp_unix_ms: i64,
    pub machine: Machine,
    pub plan: Plan,
    pub volume: Volume,
    pub outage: Outage,
    /// The whole run, loading included.
    pub total_s: f64,
}

fn mib(v: Option<f64>) -> String {
    v.map_or_else(|| "-".into(), |m| format!("{m:.0} MiB"))
}

impl ScaleReport {
    /// The figures as a table for people.
    pub fn table(&self) -> String {
        let mut t = String::new();
        let m = &self.machine;
        let v = &self.volume;
        t.push_str(&m.title(
            "scale",
            &self.timestamp,
            self.plan.quick,
            &format!(", data in {}", m.data_dir),
        ));
        if m.profile == "debug" {
            t.push_str(DEBUG_WARNING);
        }
        t.push_str(&m.load_line());
        let _ = writeln!(
            t,
            "central: {} patients + {} records of one day, bulk-loaded in {:.0} s; catalogs of \
             {} drugs and {} services imported in {:.0} ms",
            self.plan.patients,
            self.plan.day_records,
            v.load_s,
            self.plan.drugs,
            self.plan.services,
            v.catalog_import_ms
        );
        let _ = writeln!(t);
        let _ = writeln!(
            t,
            "{:>10} {:>9} {:>10} {:>9} {:>10} {:>12} {:>11} {:>6} {:>6}",
            "records",
            "file MiB",
            "ready ms",
            "RSS idle",
            "status ms",
            "conflicts ms",
            "worklist ms",
            "open",
            "work"
        );
        for s in &v.stages {
            let _ = writeln!(
                t,
                "{:>10} {:>9.0} {:>10.0} {:>9} {:>10.1} {:>12.1} {:>11.1} {:>6} {:>6}",
                s.records,
                s.file_bytes as f64 / 1_048_576.0,
                s.daemon_ready_ms,
                mib(s.rss_idle_mib),
                s.status_ms_p50,
                s.conflicts_ms_p50,
                s.worklist_ms_p50,
                s.open_conflicts,
                s.worklist_items
            );
        }
        let _ = writeln!(t);
        let (a, d) = (&v.desk_writes_alone, &v.desk_writes_during_sync);
        let _ = writeln!(
            t,
            "desk write at central: p50 {:.1} ms, p99 {:.1} ms alone; p50 {:.1} ms, p99 {:.1} ms \
             while a new window syncs ({:.2}x p99; the window at nice {}, its store {})",
            a.latency_us_p50 / 1e3,
            a.latency_us_p99 / 1e3,
            d.latency_us_p50 / 1e3,
            d.latency_us_p99 / 1e3,
            if a.latency_us_p99 > 0.0 {
                d.latency_us_p99 / a.latency_us_p99
            } else {
                0.0
            },
            self.plan.window_nice,
            match &self.plan.window_dir {
                Some(d) => format!("in {} (--window-dir)", d.display()),
                None => "on central's disk".to_owned(),
            }
        );
        let w = &v.new_window;
        let _ = writeln!(
            t,
            "new window ready in {:.1} s: {} records held ({:.0} records/s), {:.1} MiB of \
             changes from central; central's RSS under that load {}",
            w.ready_ms / 1e3,
            w.records_held,
            w.records_per_s,
            w.bytes_from_central as f64 / 1_048_576.0,
            mib(v.rss_under_load_mib)
        );
        let _ = writeln!(
            t,
            "store open (in process) {:.0} ms; disk {:.0} bytes per record held ({:.0} by the \
             file's length); bytes of pages per record, largest tables: {}",
            v.store_open_ms,
            v.bytes_per_record,
            v.file_bytes_per_record,
            v.disk.largest(v.records, 6)
        );
        let _ = writeln!(
            t,
            "a backup of it (every table copied in key order, as a restore lays it out) in \
             {:.0} ms: {:.0} bytes per record; largest tables: {}",
            v.backup_ms,
            v.backup_bytes_per_record,
            v.backup_disk.largest(v.records, 6)
        );
        let _ = writeln!(
            t,
            "lifeline compact of it (the same copy, renamed over the store) in {:.0} ms: {:.0} \
             bytes per record; store open after it {:.0} ms",
            v.compact_ms, v.compacted_bytes_per_record, v.compacted_open_ms
        );
        let _ = writeln!(
            t,
            "a digest repair's read of one bucket: {} records in {:.0} ms",
            v.repair_scan_records, v.repair_scan_ms
        );
        let o = &self.outage;
        let _ = writeln!(
            t,
            "outage of {} windows × {} registrations ({} records): central held them all {:.1} s \
             after it came back, every window reconciled after {:.1} s",
            o.windows,
            o.registrations_per_window,
            o.records,
            o.central_has_all_ms / 1e3,
            o.reconciled_ms / 1e3
        );
        let _ = writeln!(t, "whole run: {:.0} s", self.total_s);
        t
    }
}
