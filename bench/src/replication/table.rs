//! The replication benchmark's figures as a table for people.

use std::fmt::Write as _;

use super::ReplicationReport;
use crate::DEBUG_WARNING;

impl ReplicationReport {
    /// The figures as a table for people.
    pub fn table(&self) -> String {
        let mut t = String::new();
        let m = &self.machine;
        let p = &self.plan;
        let medians = format!(
            "; medians of {} run{}",
            p.runs,
            if p.runs == 1 { "" } else { "s" }
        );
        t.push_str(&m.title("replication", &self.timestamp, p.quick, &medians));
        if m.profile == "debug" {
            t.push_str(DEBUG_WARNING);
        }
        t.push_str(&m.load_line());
        let _ = writeln!(
            t,
            "initial sync: {} registrations (a new patient, a visit and its fee charge each: {} \
             records, {} saved) \
             from window W01 to a central holding only the catalogs",
            p.registrations,
            p.records,
            human_bytes(self.lifeline.initial.saved_bytes as f64)
        );
        let _ = writeln!(
            t,
            "catch-up: {} records ({} registrations) written while the window's mesh was \
             stopped, then the mesh starts again",
            p.catch_up_records, p.catch_up_registrations
        );
        let _ = writeln!(
            t,
            "time: from the window's mesh (or dialer) starting, handshake included, until \
             central holds everything; wire: payload through a counting relay (no IP/UDP/TCP headers)"
        );
        let _ = writeln!(t, "lifeline: {}", self.lifeline.transport);
        match &self.samod {
            Some(s) => {
                let _ = writeln!(t, "{}: {}", s.name, s.transport);
                if p.samod_registrations < p.registrations {
                    let _ = writeln!(
                        t,
                        "samod runs {} registrations, not {}: samod 0.16's hub walks every \
                         document for every connection on each event (samod-core \
                         ensure_connections), so its sync time grows with the square of the \
                         documents in a repo; --samod-registrations sets it",
                        p.samod_registrations, p.registrations
                    );
                }
                let _ = writeln!(
                    t,
                    "samod's catch-up waits until central confirmed every document of the \
                     window (it re-syncs each one on a new connection)"
                );
            }
            None => {
                let _ = writeln!(
                    t,
                    "samod: {}",
                    self.samod_unavailable.as_deref().unwrap_or("not run")
                );
            }
        }
        let _ = writeln!(t);
        let _ = writeln!(
            t,
            "{:<26} {:>6} {:>6} {:>10} {:>8} {:>11} {:>11} {:>11} {:>8} {:>8} {:>6}",
            "",
            "regs",
            "docs",
            "time ms",
            "regs/s",
            "wire bytes",
            "→ central",
            "← central",
            "B/reg",
            "B/doc",
            "/saved"
        );
        let mut rows = vec![
            ("lifeline initial sync", Some(&self.lifeline.initial)),
            ("lifeline catch-up", Some(&self.lifeline.catch_up)),
        ];
        let samod = self.samod.as_ref();
        let same_size = self
            .lifeline_at_samod_size
            .as_ref()
            .unwrap_or(&self.lifeline);
        if samod.is_some() {
            rows = if self.lifeline_at_samod_size.is_some() {
                vec![
                    ("lifeline initial sync", Some(&self.lifeline.initial)),
                    ("lifeline catch-up", Some(&self.lifeline.catch_up)),
                    ("", None),
                    ("lifeline initial sync", Some(&same_size.initial)),
                ]
            } else {
                vec![("lifeline initial sync", Some(&same_size.initial))]
            };
            rows.extend([
                ("samod initial sync", samod.map(|s| &s.initial)),
                ("lifeline catch-up", Some(&same_size.catch_up)),
                ("samod catch-up", samod.map(|s| &s.catch_up)),
            ]);
        }
        for (name, ph) in rows {
            let Some(ph) = ph else {
                let _ = writeln!(
                    t,
                    "like for like with samod, at {} registrations (see SAMOD_DEFAULT_CAP):",
                    p.samod_registrations
                );
                continue;
            };
            let _ = writeln!(
                t,
                "{name:<26} {:>6} {:>6} {:>10.0} {:>8.0} {:>11.0} {:>11.0} {:>11.0} {:>8.0} {:>8.0} {:>5.2}x",
                ph.registrations,
                ph.documents,
                ph.elapsed_ms,
                ph.registrations_per_s,
                ph.wire_bytes,
                ph.to_central_bytes,
                ph.from_central_bytes,
                ph.wire_bytes_per_registration,
                ph.wire_bytes_per_document,
                ph.wire_over_saved
            );
        }
        let g = &self.signing;
        let _ = writeln!(t);
        let _ = writeln!(
            t,
            "signed changes (ECDSA P-256, one signature per signed commit of at most 256 \
             changes, made as they first leave the window; {:.1} changes per signed commit in \
             this workload): sign {:.2} µs per change on the author, verify {:.2} µs per change \
             on each receiver",
            g.changes_per_commit, g.sign_us_per_change, g.verify_us_per_change
        );
        let sizes: Vec<String> = g
            .by_commit_size
            .iter()
            .map(|c| {
                format!(
                    "{} change{}: sign {:.0} µs, verify {:.0} µs",
                    c.changes,
                    if c.changes == 1 { "" } else { "s" },
                    c.sign_us,
                    c.verify_us
                )
            })
            .collect();
        let _ = writeln!(t, "  one commit of {}", sizes.join("; "));
        for (name, th) in [("initial sync", &g.initial), ("catch-up", &g.catch_up)] {
            let _ = writeln!(
                t,
                "  {name:<13} {:>9.0} records/s signed, {:>9.0} without signatures ({:+.1}%)",
                th.records_per_s_signed, th.records_per_s_unsigned, th.change_percent
            );
        }
        let _ = writeln!(
            t,
            "batches merged and judged as they are read, ahead of central's writer, against \
             every batch merged on the writer (signed both):"
        );
        let pa = &self.prepared_ahead;
        for (name, th) in [("initial sync", &pa.initial), ("catch-up", &pa.catch_up)] {
            let _ = writeln!(
                t,
                "  {name:<13} {:>9.0} records/s prepared, {:>9.0} on the writer ({:+.1}%)",
                th.records_per_s_signed, th.records_per_s_unsigned, th.change_percent
            );
        }
        if let Some(r) = &self.ratios {
            let _ = writeln!(t);
            let _ = writeln!(
                t,
                "lifeline / samod at {} registrations: initial sync time {:.2}x, wire bytes \
                 {:.2}x; catch-up time {:.2}x, wire bytes {:.2}x",
                p.samod_registrations,
                r.initial_time,
                r.initial_wire_bytes,
                r.catch_up_time,
                r.catch_up_wire_bytes
            );
        }
        t
    }
}

/// `bytes` with a binary unit, for the table's prose.
fn human_bytes(bytes: f64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut v = bytes;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.1} {}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_read_with_units() {
        assert_eq!(human_bytes(512.0), "512.0 B");
        assert_eq!(human_bytes(3.5 * 1024.0 * 1024.0), "3.5 MiB");
    }
}
