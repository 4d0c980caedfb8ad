//! Values in the words a person reads: durations, competing values without JSON noise, what
//! an episode's grade means, review decisions.
//!
//! The JSON documents keep their English texts (`duration`, `grade_meaning`: machine-readable
//! fields never change); what a person reads comes from the catalogs through the functions
//! taking a [`Lang`].

use crate::i18n::{Lang, t, tr};

/// A duration as `1h 02m 03s` (or `2m 03s`, `45s`): the JSON documents' form.
pub fn duration(ms: i64) -> String {
    let s = ms.max(0) / 1000;
    let (h, m, s) = (s / 3600, s / 60 % 60, s % 60);
    if h > 0 {
        format!("{h}h {m:02}m {s:02}s")
    } else if m > 0 {
        format!("{m}m {s:02}s")
    } else {
        format!("{s}s")
    }
}

/// A duration in `l`: `1小时02分03秒`, `1h 02m 03s`.
pub fn duration_in(l: Lang, ms: i64) -> String {
    let s = ms.max(0) / 1000;
    let (h, m, s) = (s / 3600, s / 60 % 60, s % 60);
    let (mm, ss) = (format!("{m:02}"), format!("{s:02}"));
    if h > 0 {
        tr(
            l,
            "report-duration-hms",
            &[("h", h.into()), ("m", mm.into()), ("s", ss.into())],
        )
    } else if m > 0 {
        tr(
            l,
            "report-duration-ms",
            &[("m", m.into()), ("s", ss.into())],
        )
    } else {
        tr(l, "report-duration-s", &[("s", s.into())])
    }
}

/// A competing value as a person reads it: JSON strings without quotes, objects as
/// `key: value` pairs, anything else as its JSON text.
pub fn display_value(l: Lang, json: &str) -> String {
    match serde_json::from_str::<serde_json::Value>(json) {
        Ok(serde_json::Value::String(s)) => s,
        Ok(serde_json::Value::Null) => t(l, "report-value-empty"),
        Ok(serde_json::Value::Object(map)) => map
            .iter()
            .map(|(k, v)| match v {
                serde_json::Value::String(s) => format!("{k}: {s}"),
                other => format!("{k}: {other}"),
            })
            .collect::<Vec<_>>()
            .join(", "),
        Ok(other) => other.to_string(),
        Err(_) => json.to_owned(),
    }
}

/// The grades of the emergency plans, least first.
pub const GRADES: [&str; 4] = ["IV", "III", "II", "I"];

/// What a grade means, from the emergency plans: the JSON documents' form.
pub fn grade_meaning(grade: &str) -> &'static str {
    match grade {
        "IV" => "general (一般): under 2 hours",
        "III" => "larger (较大): 2 to 12 hours; report to leadership",
        "II" => "major (重大): 12 to 24 hours; report to leadership",
        "I" => "especially major (特别重大): over 24 hours; report to leadership",
        _ => "unknown grade",
    }
}

/// What a grade means, in `l`.
pub fn grade_words(l: Lang, grade: &str) -> String {
    if GRADES.contains(&grade) {
        t(l, &format!("report-grade-{grade}"))
    } else {
        t(l, "report-grade-unknown")
    }
}

/// A review decision as core words it when it records one (`chose value 1: "139…"`,
/// `merged A into B`, `kept separate: different people`, `confirmed after checking`), in `l`;
/// a decision in other words (written by another version) as it is.
pub fn decision(l: Lang, stored: &str) -> String {
    if let Some((index, value)) = stored
        .strip_prefix(lifeline_core::review::HIS_LATER_DECISION)
        .and_then(|rest| rest.trim_start().split_once(": "))
        && let Ok(index) = index.parse::<usize>()
    {
        return tr(
            l,
            "report-decision-his-later",
            &[
                ("index", index.into()),
                ("value", display_value(l, value).into()),
            ],
        );
    }
    if let Some((index, value)) = stored
        .strip_prefix("chose value ")
        .and_then(|rest| rest.split_once(": "))
        && let Ok(index) = index.parse::<usize>()
    {
        return tr(
            l,
            "report-decision-chose",
            &[
                ("index", index.into()),
                ("value", display_value(l, value).into()),
            ],
        );
    }
    if let Some((duplicate, survivor)) = stored
        .strip_prefix("merged ")
        .and_then(|rest| rest.split_once(" into "))
    {
        return tr(
            l,
            "report-decision-merged",
            &[
                ("duplicate", duplicate.into()),
                ("survivor", survivor.into()),
            ],
        );
    }
    match stored {
        "kept separate: different people" => t(l, "report-decision-kept-separate"),
        "confirmed after checking" => t(l, "report-decision-confirmed"),
        other => other.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_at_a_glance() {
        assert_eq!(duration(45_000), "45s");
        assert_eq!(duration(123_000), "2m 03s");
        assert_eq!(duration(3_723_000), "1h 02m 03s");
        assert_eq!(duration(-5), "0s");
        for ms in [45_000, 123_000, 3_723_000, -5] {
            assert_eq!(duration_in(Lang::En, ms), duration(ms));
        }
        assert_eq!(duration_in(Lang::Zh, 3_723_000), "1小时02分03秒");
        assert_eq!(duration_in(Lang::Zh, 123_000), "2分03秒");
        assert_eq!(duration_in(Lang::Zh, 45_000), "45秒");
    }

    #[test]
    fn values_display_without_json_noise() {
        let l = Lang::En;
        assert_eq!(display_value(l, "\"13800000000\""), "13800000000");
        assert_eq!(display_value(l, "null"), "(empty)");
        assert_eq!(display_value(Lang::Zh, "null"), "（空）");
        assert_eq!(display_value(l, "42"), "42");
        assert_eq!(
            display_value(l, r#"{"node":"W01","state":"settled"}"#),
            "node: W01, state: settled"
        );
        assert_eq!(display_value(l, "not json"), "not json");
    }

    #[test]
    fn grades_mean_the_same_in_both_languages() {
        for g in GRADES {
            assert_eq!(grade_words(Lang::En, g), grade_meaning(g));
            assert!(grade_words(Lang::Zh, g).contains("小时"), "{g}");
        }
        assert_eq!(grade_words(Lang::En, "V"), grade_meaning("V"));
    }

    #[test]
    fn core_decisions_are_said_in_either_language() {
        assert_eq!(
            decision(Lang::Zh, "chose value 1: \"13900000000\""),
            "采用值 1：13900000000"
        );
        assert_eq!(
            decision(Lang::En, "chose value 1: \"13900000000\""),
            "chose value 1: 13900000000"
        );
        assert_eq!(
            decision(Lang::Zh, "merged 01B into 01A"),
            "已将 01B 合并到 01A"
        );
        assert_eq!(
            decision(Lang::En, "kept separate: different people"),
            "kept separate: different people"
        );
        assert_eq!(decision(Lang::Zh, "confirmed after checking"), "已核实确认");
        assert_eq!(
            decision(
                Lang::Zh,
                "took the HIS's later state, value 0: \"13900000000\""
            ),
            "按 HIS 较新的数据采用值 0：13900000000（两台服务器分别从 HIS 拉取，系统自动判定）"
        );
        assert_eq!(decision(Lang::Zh, "something new"), "something new");
    }
}
