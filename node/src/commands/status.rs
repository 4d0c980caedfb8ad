//! `lifeline status [--json] [--watch]`: what the information department looks at first.

use std::path::PathBuf;
use std::time::Duration;

use crate::api::admin::StatusReport;
use crate::time::UtcOffset;

#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    #[arg(long, short = 'c', default_value = "node.toml")]
    pub config: PathBuf,
    /// The stable JSON form (see docs/status.md).
    #[arg(long)]
    pub json: bool,
    /// Refresh every 2 seconds until interrupted.
    #[arg(long)]
    pub watch: bool,
}

pub fn run(args: &StatusArgs) -> anyhow::Result<()> {
    let (config, client) = super::admin_client(&args.config)?;
    loop {
        let report: StatusReport = client.get("/admin/status")?;
        if args.json {
            println!("{}", serde_json::to_string_pretty(&report)?);
        } else {
            if args.watch {
                print!("\x1b[2J\x1b[H");
            }
            print!("{}", render(&report, config.hospital.utc_offset));
        }
        if !args.watch {
            return Ok(());
        }
        std::thread::sleep(Duration::from_secs(2));
    }
}

/// The human form of the status, times in the hospital's offset.
pub fn render(r: &StatusReport, offset: UtcOffset) -> String {
    use super::ago;
    let local_time = |ms| offset.local(ms);
    let now = r.generated_ms;
    let mut out = String::new();
    let mode = r.mode.mode.to_uppercase();
    out.push_str(&format!(
        "{} ({}{})  mode {mode} since {}",
        r.node,
        r.role,
        if r.desks.is_empty() {
            String::new()
        } else {
            format!(
                ": {}",
                r.desks
                    .iter()
                    .map(|d| d.name())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        },
        local_time(r.mode.since_ms)
    ));
    if let Some(p) = &r.mode.primary {
        out.push_str(&format!("  primary: {p}"));
    }
    out.push('\n');
    if r.in_sync {
        out.push_str("IN SYNC: everything replicated and reconciled\n");
    } else {
        out.push_str(&format!(
            "not in sync: {}\n",
            r.not_in_sync_because.join("; ")
        ));
    }
    if let Some(ws) = &r.working_set {
        let from = ws.from.as_deref().unwrap_or("no server yet");
        if ws.ready {
            out.push_str(&format!(
                "working set: ready (patients, catalogs and the last {} days, from {from})\n",
                ws.window_days
            ));
        } else {
            out.push_str(&format!(
                "working set arriving from {from}: {}  ({} of {} in its feed)\n",
                crate::daemon::in_sync::bar(ws.progress, 30),
                ws.applied,
                ws.of
            ));
        }
    }
    if let Some(lost) = r.mode.central_lost_since_ms {
        out.push_str(&format!(
            "central unreachable since {} ({})\n",
            local_time(lost),
            ago(now, lost)
        ));
    }
    if let Some(lost) = r.mode.his_lost_since_ms {
        out.push_str(&format!(
            "the HIS unreachable since {} ({})\n",
            local_time(lost),
            ago(now, lost)
        ));
    }
    match &r.episode {
        Some(e) => {
            let what = if e.drill {
                "DRILL"
            } else {
                "EMERGENCY episode"
            };
            out.push_str(&format!(
                "{what} {} since {}: {}\n",
                e.id,
                local_time(e.started_ms),
                e.reason
            ));
            out.push_str(&format!("  expected grade {}", e.expected_grade));
            if let Some(back) = e.expected_back_ms {
                out.push_str(&format!(" (system expected back at {})", local_time(back)));
            }
            out.push('\n');
            if let Some(step) = &e.next_step {
                out.push_str(&format!(
                    "  next step at {}: {}\n",
                    local_time(step.due_ms),
                    step.what
                ));
            }
            if e.estimate_missing {
                out.push_str(
                    "  NO ESTIMATE YET: 30 minutes have passed; record the recovery time and cause \
                     (lifeline emergency estimate --hours N --cause TEXT)\n",
                );
            }
            if let Some(cause) = &e.cause {
                out.push_str(&format!("  cause: {cause}\n"));
            }
        }
        None => out.push_str("no emergency episode\n"),
    }
    if let Some(id) = &r.reconciling {
        out.push_str(&format!(
            "outage over: episode {id} reconciling ({} record(s) still to reach central); desks write normal records\n",
            r.unreconciled
        ));
    }
    out.push_str("\npeers\n");
    out.push_str(&format!(
        "  {:<10} {:<8} {:<12} {:>7} {:<14} {:>8} {:>8}  {}\n",
        "name", "role", "state", "rtt", "last contact", "to send", "to recv", "convergence"
    ));
    for p in &r.peers {
        let state = if p.connected { "connected" } else { "DOWN" };
        let rtt = p
            .rtt_ms
            .map(|v| format!("{v} ms"))
            .unwrap_or_else(|| "-".into());
        let last = p
            .last_contact_ms
            .map(|t| ago(now, t))
            .unwrap_or_else(|| "never".into());
        let conv = match (p.in_sync, p.peer_records) {
            (Some(true), Some(n)) => format!("in sync for {n} records"),
            (Some(false), Some(n)) => format!("differs (peer has {n} records)"),
            _ => "not compared yet".into(),
        };
        out.push_str(&format!(
            "  {:<10} {:<8} {:<12} {:>7} {:<14} {:>8} {:>8}  {conv}\n",
            p.name,
            p.role.map(|r| r.name()).unwrap_or("?"),
            state,
            rtt,
            last,
            p.to_send,
            p.to_receive
        ));
        if p.rejected > 0 {
            let reasons: Vec<String> = p
                .refused
                .iter()
                .map(|(code, n)| format!("{code} {n}"))
                .collect();
            out.push_str(&format!(
                "    {} records refused from this peer ({}): see lifeline quarantine list\n",
                p.rejected,
                reasons.join(", ")
            ));
        }
        if p.violations > 0 {
            out.push_str(&format!(
                "    {} connections closed: the peer broke the protocol (see the audit trail, sync.violation)\n",
                p.violations
            ));
        }
        if p.roster_refused > 0 {
            out.push_str(&format!(
                "    {} roster entries from this peer refused: the hospital CA does not vouch for them\n",
                p.roster_refused
            ));
        }
        if let (false, Some(err)) = (p.connected, &p.last_error) {
            out.push_str(&format!("    last error: {err}\n"));
        }
    }
    if let Some(his) = &r.his {
        use crate::his::bridge::Reach;
        let state = match his.health.reach {
            Reach::Up => "connected",
            Reach::Down => "DOWN",
            Reach::Unknown => "not tried",
        };
        let rtt = his
            .health
            .rtt_ms
            .map(|v| format!("{v} ms"))
            .unwrap_or_else(|| "-".into());
        let last = his
            .health
            .last_contact_ms
            .map(|t| ago(now, t))
            .unwrap_or_else(|| "never".into());
        let pulled = his
            .last_pull_ms
            .map(|t| format!("pulled {}", ago(now, t)))
            .unwrap_or_else(|| "not pulled yet".into());
        out.push_str(&format!(
            "  {:<10} {:<8} {:<12} {:>7} {:<14} {:>8} {:>8}  {pulled}{}\n",
            "HIS",
            "his",
            state,
            rtt,
            last,
            his.waiting,
            "-",
            if his.active { "" } else { " (watching)" }
        ));
        if his.refused > 0 {
            out.push_str(&format!(
                "    {} rows refused by the HIS (lifeline his status)\n",
                his.refused
            ));
        }
        if let (Reach::Down, Some(err)) = (his.health.reach, &his.health.last_error) {
            out.push_str(&format!("    last error: {err}\n"));
        }
    }
    if r.peers.is_empty() && r.his.is_none() {
        out.push_str("  (no peers yet)\n");
    }
    out.push_str(&format!(
        "\nemergency records not yet reconciled with central: {}\nopen conflicts: {}   recovery worklist: {} items",
        r.unreconciled, r.open_conflicts, r.worklist
    ));
    if r.worklist_overdue > 0 {
        out.push_str(&format!(
            " ({} OVERDUE re-settlement(s): GET /admin/worklist?overdue=true)",
            r.worklist_overdue
        ));
    }
    out.push('\n');
    out.push_str("\nnumber ranges\n");
    for range in &r.ranges {
        out.push_str(&format!(
            "  {:<40} {:>8} left (next {})\n",
            range.range_id, range.remaining, range.next
        ));
    }
    if r.ranges.is_empty() {
        out.push_str("  (none held)\n");
    }
    out.push_str(&format!(
        "\nstore {}: {} records, {:.1} MiB, {} audit entries\n",
        r.store.path,
        r.store.records,
        r.store.file_bytes as f64 / 1_048_576.0,
        r.store.audit_entries
    ));
    if let Some(d) = &r.restore_drill {
        match (&d.last, d.overdue) {
            (Some(last), false) => out.push_str(&format!(
                "restore drill: last on {} by {} ({})\n",
                offset.local(last.at_ms),
                last.operator,
                if last.passed { "passed" } else { "FAILED" }
            )),
            (Some(last), true) => out.push_str(&format!(
                "WARNING: the last restore drill was on {}, more than 31 days ago (the plan: monthly): lifeline verify BACKUP\n",
                offset.local(last.at_ms)
            )),
            (None, _) => out.push_str(
                "WARNING: no restore drill recorded on this node (the plan: monthly): lifeline verify BACKUP\n",
            ),
        }
    }
    if let Some(c) = r.calendar.as_ref().filter(|c| !c.covers_next_30_days) {
        out.push_str(&format!(
            "WARNING: the working-day calendar ({}) has holidays until {}; past that, Monday to Friday are counted: install the next year's ([hospital] calendar)\n",
            c.source,
            c.covered_until.map_or("never".to_owned(), |d| d.to_string())
        ));
    }
    out
}
