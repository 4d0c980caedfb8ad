//! `lifeline --help` in the reader's language. clap builds the help from the doc comments at
//! compile time; here the command tree is walked once at start-up and, from the catalogs,
//! given: the program's and every subcommand's one-line description (`help-cmd-<path>`,
//! `help-cmd-ca-issue` for `lifeline ca issue`; in Chinese the doc comments' longer English
//! text is left out of `--help`), every argument's help (`help-arg-<path>-<id>`, or the one
//! `--config`, `--json` and `--lang` share), and the help's own headings and flags (usage,
//! commands, options, `-h`, `-V`; an argument's default and choices, which clap would add in
//! English). clap's parse errors are said from the catalogs by their kind and the argument
//! and value clap names ([`parse_error`]); clap's own English follows as the detail.
//!
//! The language must be known before clap parses: [`early_lang`] reads `--lang` from the
//! raw arguments, then `LIFELINE_LANG`. A wrong value falls back to Chinese here, and the
//! parse then refuses it with its own message.

use std::ffi::OsString;

use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::{Arg, ArgAction, Command};

use crate::i18n::{Lang, has, t, tr};

/// The language of the help: `--lang X` or `--lang=X` among the arguments, else
/// `LIFELINE_LANG`, else Chinese.
pub fn early_lang(args: impl IntoIterator<Item = OsString>) -> Lang {
    let mut args = args.into_iter().map(|a| a.to_string_lossy().into_owned());
    while let Some(arg) = args.next() {
        if arg == "--" {
            break;
        }
        let value = match arg.strip_prefix("--lang") {
            Some("") => args.next(),
            Some(rest) => rest.strip_prefix('=').map(str::to_owned),
            None => None,
        };
        if let Some(v) = value {
            return Lang::from_code(&v).unwrap_or_default();
        }
    }
    Lang::from_env().unwrap_or_default()
}

/// The command tree with its help in `l`, built (clap's `help` subcommands, which it adds
/// when building, are given their words too).
pub fn localize(cmd: Command, l: Lang) -> Command {
    let mut cmd = walk(cmd, l, "", Level::Top);
    cmd.build();
    name_help_commands(&mut cmd, l);
    cmd
}

/// Where a command is in the tree.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Level {
    Top,
    Sub,
}

fn walk(mut cmd: Command, l: Lang, path: &str, level: Level) -> Command {
    let key = match level {
        Level::Top => "help-cmd".to_owned(),
        Level::Sub => format!("help-cmd-{path}"),
    };
    if has(&key) {
        cmd = cmd.about(t(l, &key));
    }
    if l != Lang::En {
        // The long description is the doc comment's, in English.
        cmd = cmd.long_about(None::<&str>);
    }
    cmd = frame(cmd, l, level);
    cmd = cmd.mut_args(|a| match arg_key(path, a.get_id().as_str()) {
        Some(key) => {
            let mut help = t(l, &key);
            let mut a = a;
            if l != Lang::En && a.get_action().takes_values() {
                // clap says defaults and choices in English: said here instead.
                let values = |v: Vec<String>| v.join(&t(l, "report-list-separator"));
                let defaults: Vec<String> = a
                    .get_default_values()
                    .iter()
                    .map(|v| v.to_string_lossy().into_owned())
                    .collect();
                if !defaults.is_empty() && !a.is_hide_default_value_set() {
                    help.push_str(&tr(
                        l,
                        "help-default",
                        &[("value", values(defaults).into())],
                    ));
                    a = a.hide_default_value(true);
                }
                let choices: Vec<String> = a
                    .get_possible_values()
                    .iter()
                    .filter(|v| !v.is_hide_set())
                    .map(|v| v.get_name().to_owned())
                    .collect();
                if !choices.is_empty() && !a.is_hide_possible_values_set() {
                    help.push_str(&tr(
                        l,
                        "help-choices",
                        &[("values", values(choices).into())],
                    ));
                    a = a.hide_possible_values(true);
                }
            }
            a.help(help).long_help(None::<&str>)
        }
        None => a,
    });
    let names: Vec<String> = cmd
        .get_subcommands()
        .map(|s| s.get_name().to_owned())
        .collect();
    for name in names {
        let sub_path = match level {
            Level::Top => name.clone(),
            Level::Sub => format!("{path}-{name}"),
        };
        cmd = cmd.mut_subcommand(&name, |s| walk(s, l, &sub_path, Level::Sub));
    }
    cmd
}

/// The catalog's key for the help of argument `id` of the command at `path`: its own
/// (`help-arg-ca-issue-days`), else the one most commands share (`help-arg-config`).
fn arg_key(path: &str, id: &str) -> Option<String> {
    let own = format!("help-arg-{path}-{id}");
    if !path.is_empty() && has(&own) {
        return Some(own);
    }
    let shared = format!("help-arg-{id}");
    (matches!(id, "config" | "json" | "lang") && has(&shared)).then_some(shared)
}

/// The help's frame in `l`: the headings, the template, the shared arguments' help, and
/// `-h` and `-V`.
fn frame(cmd: Command, l: Lang, level: Level) -> Command {
    let template = format!(
        "{{before-help}}{{about-with-newline}}\n{}{{usage}}\n\n{{all-args}}{{after-help}}",
        t(l, "help-usage")
    );
    let options = t(l, "help-options");
    let arguments = t(l, "help-arguments");
    let mut cmd = cmd
        .subcommand_help_heading(t(l, "help-commands"))
        .subcommand_value_name(t(l, "help-command"))
        .help_template(template)
        .disable_help_flag(true)
        .arg(
            Arg::new("help")
                .short('h')
                .long("help")
                .action(ArgAction::Help)
                .help(t(l, "help-flag-help")),
        )
        .mut_args(|a| {
            let heading = if a.is_positional() {
                &arguments
            } else {
                &options
            };
            a.help_heading(heading.clone())
        });
    if level == Level::Top {
        cmd = cmd.disable_version_flag(true).arg(
            Arg::new("version")
                .short('V')
                .long("version")
                .action(ArgAction::Version)
                .help(t(l, "help-flag-version"))
                .help_heading(options),
        );
    }
    cmd
}

/// clap's own `help` subcommands, added by `build`, in `l`.
fn name_help_commands(cmd: &mut Command, l: Lang) {
    for sub in cmd.get_subcommands_mut() {
        if sub.get_name() == "help" {
            *sub = std::mem::take(sub).about(t(l, "help-cmd-help"));
        } else {
            name_help_commands(sub, l);
        }
    }
}

/// A command line clap refused, said in `l`: what was wrong (an unknown argument or command, a
/// value not allowed, a required argument missing), then clap's own English as the detail.
/// `None` for what clap prints as it is (the help and version, which are already in `l`).
pub fn parse_error(e: &clap::Error, l: Lang) -> Option<String> {
    let context = |kind: ContextKind| -> String {
        match e.get(kind) {
            Some(ContextValue::String(s)) => s.clone(),
            Some(ContextValue::Strings(v)) => v.join(", "),
            Some(other) => other.to_string(),
            None => String::new(),
        }
    };
    let arg = context(ContextKind::InvalidArg);
    let value = context(ContextKind::InvalidValue);
    let words = match e.kind() {
        ErrorKind::DisplayHelp
        | ErrorKind::DisplayVersion
        | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => return None,
        ErrorKind::UnknownArgument => tr(l, "cli-parse-unknown-arg", &[("arg", arg.into())]),
        ErrorKind::InvalidSubcommand => tr(
            l,
            "cli-parse-unknown-command",
            &[("command", context(ContextKind::InvalidSubcommand).into())],
        ),
        ErrorKind::InvalidValue | ErrorKind::ValueValidation => tr(
            l,
            "cli-parse-bad-value",
            &[("arg", arg.into()), ("value", value.into())],
        ),
        ErrorKind::MissingRequiredArgument => tr(l, "cli-parse-missing", &[("arg", arg.into())]),
        _ => t(l, "cli-parse-other"),
    };
    let detail = e.render().to_string();
    Some(format!(
        "{}\n{}\n\n{}",
        tr(l, "cli-parse-refused", &[("what", words.into())]),
        t(l, "cli-parse-see-help"),
        detail.trim_end()
    ))
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;
    use crate::cli::Cli;

    fn os(args: &[&str]) -> Vec<OsString> {
        args.iter().map(OsString::from).collect()
    }

    #[test]
    fn the_language_is_read_before_parsing() {
        assert_eq!(
            early_lang(os(&["lifeline", "--lang", "en", "-h"])),
            Lang::En
        );
        assert_eq!(early_lang(os(&["lifeline", "ca", "--lang=en"])), Lang::En);
        assert_eq!(early_lang(os(&["lifeline", "--lang", "zh"])), Lang::Zh);
        assert_eq!(early_lang(os(&["lifeline", "--lang", "fr"])), Lang::Zh);
        // After `--`, an argument is not an option.
        assert_eq!(
            early_lang(os(&["lifeline", "--lang", "zh", "--", "--lang", "en"])),
            Lang::Zh
        );
    }

    /// Every command and subcommand has its one line in the catalogs, and each of their
    /// arguments its help, so none is left in English in the Chinese help.
    #[test]
    fn every_command_has_its_words() {
        fn check(cmd: &Command, path: &str) {
            for a in cmd.get_arguments() {
                let id = a.get_id().as_str();
                assert!(arg_key(path, id).is_some(), "help-arg-{path}-{id}");
            }
            for sub in cmd.get_subcommands() {
                let p = if path.is_empty() {
                    sub.get_name().to_owned()
                } else {
                    format!("{path}-{}", sub.get_name())
                };
                assert!(has(&format!("help-cmd-{p}")), "help-cmd-{p}");
                check(sub, &p);
            }
        }
        check(&Cli::command(), "");
    }

    #[test]
    fn the_help_reads_in_either_language() {
        let mut zh = localize(Cli::command(), Lang::Zh);
        let help = zh.render_help().to_string();
        for part in [
            "用法：",
            "命令:",
            "选项:",
            "显示帮助",
            "运行节点",
            "所用的语言：zh（简体中文，默认）",
            "显示本帮助或指定命令的帮助",
        ] {
            assert!(help.contains(part), "{part} missing from\n{help}");
        }
        assert!(!help.contains("Usage:"), "{help}");
        let ca = zh.find_subcommand_mut("ca").expect("ca");
        let help = ca.render_help().to_string();
        assert!(help.contains("签发由 CA 签名的节点证书"), "{help}");
        let issue = ca.find_subcommand_mut("issue").expect("issue");
        let help = issue.render_help().to_string();
        assert!(
            help.contains("有效天数（至少 1 天）（默认：825）"),
            "{help}"
        );
        assert!(!help.contains("[default"), "{help}");
        assert!(!help.contains("Validity in days"), "{help}");
        let mut en = localize(Cli::command(), Lang::En);
        let help = en.render_help().to_string();
        assert!(
            help.contains("Usage:") && help.contains("Commands:"),
            "{help}"
        );
        assert!(help.contains("Run a node"), "{help}");
        // The localized tree still parses what the derived one parses.
        assert!(
            localize(Cli::command(), Lang::Zh)
                .try_get_matches_from(["lifeline", "--lang", "en", "status", "-c", "x.toml"])
                .is_ok()
        );
    }
}
