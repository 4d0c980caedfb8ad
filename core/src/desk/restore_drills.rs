//! Restore drills recorded: each `lifeline verify` of a backup stores its date, file, result
//! and operator on the node, and `status` warns when the last one is too old.
//!
//! The plan: "平时每月对全系统备份数据要进行模拟恢复一次,以检查数据的可用性" (every month, a
//! simulated restore of the backups, to check the data can be used).

use serde::{Deserialize, Serialize};

use super::{Saved, information_department};
use crate::WriteError;
use crate::clock::UnixMs;
use crate::id::OperatorName;
use crate::roles::Operator;
use crate::rules::{RuleError, check_text};
use crate::store::{ReadError, Store, audit_event};

/// A restore drill older than this is overdue (the plan's month, with a day's grace).
pub const RESTORE_DRILL_MAX_AGE_DAYS: i64 = 31;

/// How many drills a node keeps (two years of monthly drills).
pub const RESTORE_DRILLS_KEPT: usize = 24;

/// The meta key the drills are kept under.
const KEY: &str = "restore_drills";

/// One restore drill.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestoreDrill {
    pub at_ms: UnixMs,
    /// The backup file that was restored and checked.
    pub file: String,
    pub passed: bool,
    /// Problems found (0 when it passed).
    pub problems: u64,
    /// Who ran it.
    pub operator: OperatorName,
}

/// The drill status `status` shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DrillStatus {
    pub last: Option<RestoreDrill>,
    /// No drill yet, or the last one is older than [`RESTORE_DRILL_MAX_AGE_DAYS`].
    pub overdue: bool,
}

/// Whether the drills are overdue at `now_ms`.
pub fn drill_status(last: Option<RestoreDrill>, now_ms: UnixMs) -> DrillStatus {
    let overdue = last
        .as_ref()
        .is_none_or(|d| now_ms - d.at_ms > RESTORE_DRILL_MAX_AGE_DAYS * 86_400_000);
    DrillStatus { last, overdue }
}

impl Store {
    /// Records a restore drill (information department only), in the node's state and the
    /// audit trail.
    pub fn record_restore_drill(
        &self,
        who: &Operator,
        drill: RestoreDrill,
    ) -> Result<Saved<RestoreDrill>, WriteError> {
        information_department(who, "records restore drills")?;
        check_text("file", &drill.file, true)?;
        let who = who.clone();
        self.write(move |tx| {
            let mut drills: Vec<RestoreDrill> = tx
                .meta_value(KEY)?
                .and_then(|t| serde_json::from_str(&t).ok())
                .unwrap_or_default();
            drills.push(drill.clone());
            let excess = drills.len().saturating_sub(RESTORE_DRILLS_KEPT);
            drills.drain(..excess);
            let text = serde_json::to_string(&drills)
                .map_err(|e| RuleError::invalid("drill", format!("cannot be recorded: {e}")))?;
            tx.set_meta_value(KEY, &text)?;
            tx.audit(audit_event(
                &who,
                "restore.drill",
                None,
                Some(format!(
                    "{} by {}: {}",
                    drill.file,
                    drill.operator,
                    if drill.passed { "passed" } else { "FAILED" }
                )),
            ))?;
            Ok(Saved::new(drill))
        })
    }

    /// The restore drills recorded on this node, oldest first.
    pub fn restore_drills(&self) -> Result<Vec<RestoreDrill>, ReadError> {
        Ok(self
            .meta_value(KEY)?
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_default())
    }
}
