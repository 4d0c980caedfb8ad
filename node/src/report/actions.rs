//! What a reviewer can do about a conflict, as the exact command to run (`lifeline resolve
//! -c <config> <id> --choose 1 --operator YOUR_NAME`) and what it does, in the reader's
//! language.

use super::RenderOptions;
use super::conflicts::{ActionView, ConflictView};
use super::words::display_value;
use crate::i18n::{t, tr};

/// Quotes a word for a POSIX shell when it needs it.
fn shell_word(s: &str) -> String {
    if !s.is_empty()
        && s.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'/' | b':' | b'=')
        })
    {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// What every decision command ends with: the reviewer decides under their own name.
pub const AS_REVIEWER: &str = "--operator YOUR_NAME";

/// A reviewer's action as the exact command to run, and what it does.
pub fn action_command(
    c: &ConflictView,
    action: &ActionView,
    opts: &RenderOptions,
) -> (String, String) {
    let (cmd, what) = action_command_for(c, action, opts);
    if cmd.is_empty() {
        return (cmd, what);
    }
    (format!("{cmd} {AS_REVIEWER}"), what)
}

fn action_command_for(
    c: &ConflictView,
    action: &ActionView,
    opts: &RenderOptions,
) -> (String, String) {
    let l = opts.lang;
    let cfg = shell_word(&opts.config);
    let id = shell_word(&c.id);
    match action {
        ActionView::ChooseValue { index, value } => (
            format!("lifeline resolve -c {cfg} {id} --choose {index}"),
            tr(
                l,
                "report-action-choose",
                &[
                    ("index", (*index).into()),
                    ("value", display_value(l, value).into()),
                ],
            ),
        ),
        ActionView::Confirm => (
            format!("lifeline resolve -c {cfg} {id} --confirm"),
            t(l, "report-action-confirm"),
        ),
        ActionView::MergePatients {
            survivor,
            duplicate,
        } => {
            let name = |id: &str| {
                c.duplicate
                    .as_ref()
                    .and_then(|d| d.patients.iter().find(|p| p.header.id == id))
                    .map(|p| format!("{} ({}, {})", p.header.id, p.patient_no, p.header.origin))
                    .unwrap_or_else(|| id.to_owned())
            };
            (
                format!(
                    "lifeline merge-patients -c {cfg} --survivor {} --duplicate {}",
                    shell_word(survivor),
                    shell_word(duplicate)
                ),
                tr(
                    l,
                    "report-action-merge",
                    &[
                        ("survivor", name(survivor).into()),
                        ("duplicate", name(duplicate).into()),
                    ],
                ),
            )
        }
        ActionView::KeepSeparate => (
            format!("lifeline resolve -c {cfg} {id} --keep-separate"),
            t(l, "report-action-keep-separate"),
        ),
        ActionView::Other => (String::new(), t(l, "report-action-other")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::i18n::Lang;
    use crate::report::conflicts::tests::sample;

    #[test]
    fn actions_are_exact_commands() {
        let r = sample();
        let opts = RenderOptions {
            config: "/etc/lifeline/central node.toml".into(),
            lang: Lang::En,
            ..RenderOptions::default()
        };
        let (cmd, what) = action_command(&r.conflicts[0], &r.conflicts[0].actions[0], &opts);
        assert_eq!(
            cmd,
            "lifeline resolve -c '/etc/lifeline/central node.toml' field:01AAA:phone --choose 0 \
             --operator YOUR_NAME"
        );
        assert_eq!(what, "keep value 0: 13811112222");
        let (cmd, what) = action_command(&r.conflicts[1], &r.conflicts[1].actions[0], &opts);
        assert!(
            cmd.ends_with("--survivor 01BBB --duplicate 01CCC --operator YOUR_NAME"),
            "{cmd}"
        );
        assert!(what.contains("W01-1"), "{what}");
        let zh = RenderOptions {
            lang: Lang::Zh,
            ..opts
        };
        let (cmd, what) = action_command(&r.conflicts[0], &r.conflicts[0].actions[0], &zh);
        assert!(cmd.starts_with("lifeline resolve -c"), "{cmd}");
        assert_eq!(what, "采用值 0：13811112222");
    }
}
