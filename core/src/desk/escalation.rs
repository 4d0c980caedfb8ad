//! The plan's escalation timeline for an outage, and the information department's estimate.
//!
//! The plan:
//! - "信息科或后勤部门应在30分钟之内初步查明故障原因、所需恢复时间" (within 30 minutes the
//!   information department finds the cause and the time needed to recover), and "30分钟内不
//!   能恢复——门诊挂号、住院登记、药房等部门转入手工操作";
//! - "6小时内不能恢复——各护士工作站、药房、120急救中心、手术室、医技检查转入手工操作";
//! - "24小时以上不能恢复——全院各种业务转入手工操作";
//! - "故障排除后2天内,信息科应组织技术研讨会,分析故障原因,制定预防措施,完成故障排除报告院
//!   领导" (within 2 days of the fault being cleared, the written report to the leadership).
//!
//! Everything here is a pure function of the episode's times and its estimates, so `status`,
//! the console banner and the outage report say the same thing.

use serde::Serialize;

use super::{Saved, episodes::grade, information_department, set_field};
use crate::WriteError;
use crate::clock::UnixMs;
use crate::id::EpisodeId;
use crate::record::Estimate;
use crate::roles::Operator;
use crate::rules::{RuleError, check_text};
use crate::store::Store;

const MINUTE: i64 = 60_000;
const HOUR: i64 = 60 * MINUTE;

/// The written report is due this long after the outage ends.
pub const REPORT_DUE_AFTER_MS: i64 = 48 * HOUR;

/// Longest recovery estimate taken, in hours (30 days).
pub const MAX_ESTIMATE_HOURS: u32 = 720;

/// A step of the escalation timeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    /// 30 minutes: the information department assesses the cause and estimates recovery.
    Assess,
    /// 6 hours: nurse stations, labs, operating rooms and the emergency centre go manual.
    Escalate6h,
    /// 24 hours: the whole hospital goes manual.
    Escalate24h,
}

impl Step {
    pub const ALL: [Step; 3] = [Step::Assess, Step::Escalate6h, Step::Escalate24h];

    /// How long after the outage began the step comes.
    pub fn after_ms(self) -> i64 {
        match self {
            Step::Assess => 30 * MINUTE,
            Step::Escalate6h => 6 * HOUR,
            Step::Escalate24h => 24 * HOUR,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Step::Assess => "assess",
            Step::Escalate6h => "escalate_6h",
            Step::Escalate24h => "escalate_24h",
        }
    }

    /// What the step asks of people, Chinese first.
    pub fn what(self) -> &'static str {
        match self {
            Step::Assess => {
                "30分钟: 信息科查明故障原因并估计恢复时间 (lifeline emergency estimate); \
                 the information department finds the cause and estimates the recovery time"
            }
            Step::Escalate6h => {
                "6小时: 护士工作站、医技、手术室、120 转入手工; 上报领导小组; nurse stations, \
                 labs, operating rooms and the emergency centre go manual; report to the leadership"
            }
            Step::Escalate24h => "24小时: 全院各种业务转入手工; the whole hospital goes manual",
        }
    }
}

/// One step on an episode's timeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StepState {
    pub step: Step,
    pub due_ms: UnixMs,
    /// The outage lasted (or has lasted) this long.
    pub reached: bool,
}

/// Where an episode stands on the plan's timeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Escalation {
    pub steps: Vec<StepState>,
    /// The next step to come while the outage lasts.
    pub next: Option<StepState>,
    /// The grade the outage is expected to have: from the latest estimate when there is one
    /// (never below what it has already lasted), otherwise from its length so far.
    pub expected_grade: &'static str,
    /// When the system is expected back, from the latest estimate.
    pub expected_back_ms: Option<UnixMs>,
    /// 30 minutes have passed with no estimate of the recovery time.
    pub estimate_missing: bool,
    /// When the written report to the leadership is due (2 days after the outage ended).
    pub report_due_ms: Option<UnixMs>,
}

/// Where an episode opened at `opened_ms` stands at `now_ms`; `closed_ms` once it ended.
pub fn escalation(
    opened_ms: UnixMs,
    closed_ms: Option<UnixMs>,
    now_ms: UnixMs,
    latest: Option<&Estimate>,
) -> Escalation {
    let end = closed_ms.unwrap_or(now_ms);
    let lasted = (end - opened_ms).max(0);
    let steps: Vec<StepState> = Step::ALL
        .into_iter()
        .map(|step| StepState {
            step,
            due_ms: opened_ms + step.after_ms(),
            reached: lasted >= step.after_ms(),
        })
        .collect();
    let next = match closed_ms {
        Some(_) => None,
        None => steps.iter().find(|s| !s.reached).cloned(),
    };
    let expected_back_ms = latest.map(|e| e.expected_back_ms);
    let expected_end = match (closed_ms, expected_back_ms) {
        (Some(c), _) => c,
        (None, Some(back)) => back.max(now_ms),
        (None, None) => now_ms,
    };
    Escalation {
        expected_grade: grade(expected_end - opened_ms),
        expected_back_ms,
        estimate_missing: closed_ms.is_none()
            && latest.is_none()
            && lasted >= Step::Assess.after_ms(),
        report_due_ms: closed_ms.map(|c| c + REPORT_DUE_AFTER_MS),
        next,
        steps,
    }
}

impl Store {
    /// The information department's estimate of the recovery time for the episode this node
    /// is in, with the cause when it is known. Kept beside earlier estimates.
    pub fn estimate_recovery(
        &self,
        who: &Operator,
        hours: u32,
        cause: Option<&str>,
    ) -> Result<Saved<EpisodeId>, WriteError> {
        information_department(who, "estimates the recovery time")?;
        if hours == 0 || hours > MAX_ESTIMATE_HOURS {
            return Err(
                RuleError::invalid("hours", format!("must be 1 to {MAX_ESTIMATE_HOURS}")).into(),
            );
        }
        if let Some(cause) = cause {
            check_text("cause", cause, true)?;
        }
        let (who, cause) = (who.clone(), cause.map(str::to_owned));
        self.write(move |tx| {
            let current = tx.episode()?.ok_or_else(|| {
                RuleError::invalid("episode", "this node is in no emergency episode")
            })?;
            let (record, _) = tx.find_episode(&current)?.ok_or_else(|| {
                RuleError::invalid("episode", format!("episode {current} is not known here"))
            })?;
            let at_ms = tx.now_ms();
            let estimate = Estimate {
                at_ms,
                node: tx.node().clone(),
                operator: who.name.clone(),
                hours,
                expected_back_ms: at_ms + i64::from(hours) * HOUR,
            };
            let key = format!("{at_ms}-{}", tx.node());
            tx.edit(record, &who, "episode.estimate", |t| {
                let map = crate::store::put_map(t, "estimates")?;
                autosurgeon::reconcile_prop(t, map, key.as_str(), &estimate)
                    .map_err(|e| WriteError::document("estimates", e))?;
                if let Some(cause) = &cause {
                    set_field(t, "cause", Some(cause.as_str()))?;
                }
                Ok(())
            })?;
            Ok(Saved::new(current))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::{NodeName, OperatorName};

    const OPENED: i64 = 1_795_568_400_000;

    fn estimate(at_ms: i64, hours: u32) -> Estimate {
        Estimate {
            at_ms,
            node: NodeName::new("W01").expect("valid"),
            operator: OperatorName::new("info1").expect("valid"),
            hours,
            expected_back_ms: at_ms + i64::from(hours) * HOUR,
        }
    }

    /// "信息科或后勤部门应在30分钟之内初步查明故障原因、所需恢复时间" … "6小时内不能恢复 …
    /// 24小时以上不能恢复——全院各种业务转入手工操作": the steps come at 30 minutes, 6 hours
    /// and 24 hours; the next one is shown while the outage lasts.
    #[test]
    fn the_timeline_has_the_plan_s_three_steps() {
        let at = |ms| escalation(OPENED, None, OPENED + ms, None);
        let early = at(10 * MINUTE);
        assert_eq!(early.next.as_ref().map(|s| s.step), Some(Step::Assess));
        assert_eq!(
            early.next.as_ref().map(|s| s.due_ms),
            Some(OPENED + 30 * MINUTE)
        );
        assert!(!early.estimate_missing);
        let late = at(45 * MINUTE);
        assert!(late.estimate_missing, "30 minutes and no estimate");
        assert_eq!(late.next.as_ref().map(|s| s.step), Some(Step::Escalate6h));
        let day = at(25 * HOUR);
        assert!(day.next.is_none());
        assert!(day.steps.iter().all(|s| s.reached));
        assert_eq!(day.expected_grade, "I");
    }

    /// The expected grade follows the estimate (IV under 2 h, III to 12 h, II to 24 h, I
    /// beyond), never below what the outage has already lasted.
    #[test]
    fn the_expected_grade_follows_the_latest_estimate() {
        let e = estimate(OPENED + 20 * MINUTE, 4);
        let with = escalation(OPENED, None, OPENED + 25 * MINUTE, Some(&e));
        assert_eq!(with.expected_grade, "III");
        assert_eq!(with.expected_back_ms, Some(OPENED + 20 * MINUTE + 4 * HOUR));
        assert!(!with.estimate_missing);
        let without = escalation(OPENED, None, OPENED + 25 * MINUTE, None);
        assert_eq!(without.expected_grade, "IV");
        // Past the estimate, the grade is what it has lasted.
        let overrun = escalation(OPENED, None, OPENED + 13 * HOUR, Some(&e));
        assert_eq!(overrun.expected_grade, "II");
    }

    /// "故障排除后2天内 … 完成故障排除报告院领导": the written report is due 2 days after the
    /// outage ended; the grade of an ended outage is its length.
    #[test]
    fn an_ended_outage_has_its_grade_and_a_report_deadline() {
        let e = estimate(OPENED + 20 * MINUTE, 30);
        let ended = escalation(OPENED, Some(OPENED + 3 * HOUR), OPENED + 5 * HOUR, Some(&e));
        assert_eq!(ended.expected_grade, "III");
        assert_eq!(ended.report_due_ms, Some(OPENED + 3 * HOUR + 48 * HOUR));
        assert!(ended.next.is_none() && !ended.estimate_missing);
        assert!(ended.steps[0].reached && !ended.steps[1].reached);
    }
}
