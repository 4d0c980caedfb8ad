//! The catalogs against the reports' and the CLI's code: every value they name a message by
//! (`report-kind-{kind}`) has its message, and no report or CLI message is left unused. (That
//! every key they name literally is in the catalogs is the console's test, over these
//! sources too.)

use std::path::Path;

use super::{Lang, keys};

/// The reports' and the CLI's sources, which take their words from the catalogs: every file
/// under `src/report/` and `src/commands/`, the client (its errors), the config file's and
/// the daemon's start-up errors, what core writes as codes, and the information
/// department's console page (which links the reports), read from the source tree.
pub(super) fn sources() -> Vec<(String, String)> {
    fn walk(dir: &Path, out: &mut Vec<(String, String)>) {
        let entries = std::fs::read_dir(dir).expect("the source tree is readable");
        for entry in entries {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).expect("a source file");
                out.push((path.display().to_string(), text));
            }
        }
    }
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut out = Vec::new();
    walk(&src.join("report"), &mut out);
    walk(&src.join("commands"), &mut out);
    for file in [
        "client.rs",
        "cli.rs",
        "console/info.rs",
        "config.rs",
        "daemon/mod.rs",
        "his/settings.rs",
        "help.rs",
        "i18n/codes.rs",
    ] {
        let path = src.join(file);
        let text = std::fs::read_to_string(&path).expect("a source file");
        out.push((path.display().to_string(), text));
    }
    assert!(out.len() > 30, "the sources were found: {}", out.len());
    out
}

/// The message families the reports and the CLI name by a value (`report-kind-{kind}`),
/// each with every value the code can give it.
fn families() -> Vec<(String, Vec<String>)> {
    use crate::report::{conflicts, layout, words};
    use lifeline_core::review::WorkCategory;
    let names = |prefix: &str, values: Vec<&str>| {
        (
            prefix.to_owned(),
            values.into_iter().map(str::to_owned).collect::<Vec<_>>(),
        )
    };
    vec![
        names("report-kind-", conflicts::KINDS.to_vec()),
        names(
            "report-record-",
            lifeline_core::RecordKind::ALL.map(|k| k.name()).to_vec(),
        ),
        names(
            "report-automatic-",
            conflicts::KINDS
                .into_iter()
                .filter(|k| *k != "duplicate_patient")
                .collect(),
        ),
        names("report-grade-", words::GRADES.to_vec()),
        names("report-event-", layout::outage::EVENTS.to_vec()),
        names(
            "report-step-",
            lifeline_core::desk::Step::ALL.map(|s| s.name()).to_vec(),
        ),
        names(
            "report-series-",
            lifeline_core::numbers::Series::ALL
                .map(|s| s.name())
                .to_vec(),
        ),
        names("report-work-", WorkCategory::ALL.map(|c| c.name()).to_vec()),
        names(
            "report-key-",
            vec!["his_id", "national_id", "name_birth_date_phone"],
        ),
        names("cli-mode-", vec!["normal", "degraded", "isolated"]),
        names(
            "cli-role-",
            lifeline_core::NodeRole::ALL
                .iter()
                .map(|r| r.name())
                .collect(),
        ),
    ]
}

#[test]
fn every_value_the_reports_and_cli_name_has_its_words() {
    let zh = keys(Lang::Zh.source());
    for (prefix, values) in families() {
        for value in values {
            let key = format!("{prefix}{value}");
            assert!(zh.contains(&key), "{key} is in no catalog");
        }
    }
}

#[test]
fn every_report_and_cli_message_is_used() {
    let zh = keys(Lang::Zh.source());
    let sources = sources();
    let families = families();
    for key in zh
        .iter()
        .filter(|k| k.starts_with("report-") || k.starts_with("cli-"))
    {
        let quoted = format!("\"{key}\"");
        let literal = sources.iter().any(|(_, s)| s.contains(&quoted));
        let named = families
            .iter()
            .any(|(prefix, values)| values.iter().any(|v| format!("{prefix}{v}") == *key));
        assert!(
            literal || named,
            "{key} is in the catalogs but no code says it"
        );
    }
}
