//! Values in the words a person reads: durations, competing values without JSON noise, what
//! an episode's grade means.

/// A duration as `1h 02m 03s` (or `2m 03s`, `45s`).
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

/// A competing value as a person reads it: JSON strings without quotes, objects as
/// `key: value` pairs, anything else as its JSON text.
pub fn display_value(json: &str) -> String {
    match serde_json::from_str::<serde_json::Value>(json) {
        Ok(serde_json::Value::String(s)) => s,
        Ok(serde_json::Value::Null) => "(empty)".into(),
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

/// What a grade means, from the emergency plans.
pub fn grade_meaning(grade: &str) -> &'static str {
    match grade {
        "IV" => "general (一般): under 2 hours",
        "III" => "larger (较大): 2 to 12 hours; report to leadership",
        "II" => "major (重大): 12 to 24 hours; report to leadership",
        "I" => "especially major (特别重大): over 24 hours; report to leadership",
        _ => "unknown grade",
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
    }

    #[test]
    fn values_display_without_json_noise() {
        assert_eq!(display_value("\"13800000000\""), "13800000000");
        assert_eq!(display_value("null"), "(empty)");
        assert_eq!(display_value("42"), "42");
        assert_eq!(
            display_value(r#"{"node":"W01","state":"settled"}"#),
            "node: W01, state: settled"
        );
        assert_eq!(display_value("not json"), "not json");
    }
}
