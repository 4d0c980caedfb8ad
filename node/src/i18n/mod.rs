//! What staff read, in Simplified Chinese (the default) or English: message catalogs in
//! Project Fluent's format (`zh-CN.ftl`, `en.ftl`, embedded in the binary), formatted with
//! `fluent-bundle`, the reference implementation of Fluent. Fluent was chosen over
//! key-value formats because its messages carry their own arguments and plural rules, so a
//! translator can reorder a sentence without a code change, and a catalog is plain text a
//! hospital can review. Money ([`money`]) and times ([`crate::time::UtcOffset`]) are
//! formatted the same way in both languages; [`width`] pads text by the columns a terminal
//! gives it, so Chinese lines up in the CLI's tables.
//!
//! Staff read the catalogs' words in the console, the reports (`lifeline conflicts`,
//! `lifeline episode report`, their HTML) and the CLI's human output; logs and machine-readable
//! output (JSON) stay English.

pub mod codes;
pub mod said;
pub mod width;

use std::borrow::Cow;
use std::sync::LazyLock;

use fluent_bundle::concurrent::FluentBundle;
use fluent_bundle::{FluentArgs, FluentResource, FluentValue};
use lifeline_core::Fen;

/// A language staff can read the console in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lang {
    /// Simplified Chinese, the default.
    #[default]
    Zh,
    En,
}

impl Lang {
    pub const ALL: [Lang; 2] = [Lang::Zh, Lang::En];

    /// The language tag (`zh-CN`, `en`), as in the HTML `lang` attribute.
    pub fn tag(self) -> &'static str {
        match self {
            Lang::Zh => "zh-CN",
            Lang::En => "en",
        }
    }

    /// The short code kept in the language cookie (`zh`, `en`).
    pub fn code(self) -> &'static str {
        match self {
            Lang::Zh => "zh",
            Lang::En => "en",
        }
    }

    /// A language from its code or tag; Chinese for anything else.
    pub fn parse(s: &str) -> Lang {
        match s.trim() {
            "en" | "en-US" | "en-GB" => Lang::En,
            _ => Lang::Zh,
        }
    }

    /// A language from a code or tag a person typed (`zh`, `zh-CN`, `en`, `en_US.UTF-8`): its
    /// primary language subtag decides; `None` for a language without a catalog.
    pub fn from_code(s: &str) -> Option<Lang> {
        let primary = s.trim().split(['-', '_', '.']).next().unwrap_or_default();
        match primary.to_ascii_lowercase().as_str() {
            "zh" => Some(Lang::Zh),
            "en" => Some(Lang::En),
            _ => None,
        }
    }

    /// The language the `LIFELINE_LANG` environment variable names; Chinese when it is unset
    /// or empty. A value naming no catalog is refused, naming it.
    pub fn from_env() -> Result<Lang, UnknownLang> {
        match std::env::var(ENV) {
            Ok(v) if !v.trim().is_empty() => v.parse().map_err(|e: UnknownLang| UnknownLang {
                from: Some(ENV),
                ..e
            }),
            _ => Ok(Lang::Zh),
        }
    }

    /// The catalog's source text.
    pub fn source(self) -> &'static str {
        match self {
            Lang::Zh => include_str!("zh-CN.ftl"),
            Lang::En => include_str!("en.ftl"),
        }
    }
}

/// The environment variable that sets the CLI's language when `--lang` is not given.
pub const ENV: &str = "LIFELINE_LANG";

/// The console's language cookie (`zh`, `en`): the console sets it, and the reports the node
/// serves to a browser read it.
pub const COOKIE: &str = "ll_lang";

/// The language a browser's cookies choose, if they choose one.
pub fn from_cookies(headers: &axum::http::HeaderMap) -> Option<Lang> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| Lang::parse(value))
}

impl std::str::FromStr for Lang {
    type Err = UnknownLang;

    fn from_str(s: &str) -> Result<Lang, UnknownLang> {
        Lang::from_code(s).ok_or_else(|| UnknownLang {
            value: s.to_owned(),
            from: None,
        })
    }
}

/// A language code that names no catalog.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{value:?} is not a language Lifeline speaks (zh or en)", from.map(|f| format!("{f}=")).unwrap_or_default())]
pub struct UnknownLang {
    pub value: String,
    /// The environment variable it came from, if any.
    pub from: Option<&'static str>,
}

/// An argument of a message: text, or a number (numbers select plural forms: `{ $n ->
/// [one] ... *[other] ... }`).
#[derive(Debug, Clone, PartialEq)]
pub enum Arg<'a> {
    Text(Cow<'a, str>),
    Number(f64),
}

impl<'a> From<&'a str> for Arg<'a> {
    fn from(s: &'a str) -> Arg<'a> {
        Arg::Text(Cow::Borrowed(s))
    }
}

impl<'a> From<&'a String> for Arg<'a> {
    fn from(s: &'a String) -> Arg<'a> {
        Arg::Text(Cow::Borrowed(s.as_str()))
    }
}

impl From<String> for Arg<'_> {
    fn from(s: String) -> Self {
        Arg::Text(Cow::Owned(s))
    }
}

macro_rules! number_args {
    ($($t:ty),*) => {$(
        impl From<$t> for Arg<'_> {
            #[allow(clippy::cast_precision_loss, clippy::cast_lossless)]
            fn from(n: $t) -> Self {
                Arg::Number(n as f64)
            }
        }
    )*};
}
number_args!(u32, u64, usize, i64);

type Bundle = FluentBundle<FluentResource>;

fn bundle(lang: Lang) -> Bundle {
    let tag: unic_langid::LanguageIdentifier = lang.tag().parse().unwrap_or_default();
    let mut bundle = FluentBundle::new_concurrent(vec![tag]);
    // No Unicode isolation marks around arguments: they would end up in printed slips.
    bundle.set_use_isolating(false);
    let resource = match FluentResource::try_new(lang.source().to_owned()) {
        Ok(r) => r,
        // A catalog with a syntax error keeps the entries it could read (the parity test
        // fails on it).
        Err((r, _)) => r,
    };
    if let Err(errors) = bundle.add_resource(resource) {
        tracing::error!(
            ?errors,
            lang = lang.tag(),
            "message catalog has duplicate keys"
        );
    }
    bundle
}

static BUNDLES: LazyLock<[Bundle; 2]> = LazyLock::new(|| [bundle(Lang::Zh), bundle(Lang::En)]);

fn bundle_of(lang: Lang) -> &'static Bundle {
    &BUNDLES[match lang {
        Lang::Zh => 0,
        Lang::En => 1,
    }]
}

/// Whether the catalogs have the message `key` (both have the same keys).
pub fn has(key: &str) -> bool {
    bundle_of(Lang::Zh).has_message(key)
}

/// The message `key` in `lang`; the key itself if the catalog lacks it (never in a build
/// that passes the parity test).
pub fn t(lang: Lang, key: &str) -> String {
    format(lang, key, None)
}

/// The message `key` with its arguments.
pub fn ta(lang: Lang, key: &str, args: &[(&str, &str)]) -> String {
    let mut fa = FluentArgs::new();
    for (name, value) in args {
        fa.set(*name, FluentValue::from(*value));
    }
    format(lang, key, Some(&fa))
}

/// The message `key` with arguments of any kind ([`Arg`]): `tr(l, "key", &[("n", 3.into())])`.
pub fn tr(lang: Lang, key: &str, args: &[(&str, Arg<'_>)]) -> String {
    let mut fa = FluentArgs::new();
    for (name, value) in args {
        match value {
            Arg::Text(s) => fa.set(*name, FluentValue::from(s.as_ref())),
            Arg::Number(n) => fa.set(*name, FluentValue::from(*n)),
        }
    }
    format(lang, key, Some(&fa))
}

fn format(lang: Lang, key: &str, args: Option<&FluentArgs>) -> String {
    let bundle = bundle_of(lang);
    let Some(pattern) = bundle.get_message(key).and_then(|m| m.value()) else {
        tracing::warn!(key, lang = lang.tag(), "message missing from the catalog");
        return key.to_owned();
    };
    let mut errors = Vec::new();
    let text: Cow<'_, str> = bundle.format_pattern(pattern, args, &mut errors);
    if !errors.is_empty() {
        tracing::warn!(key, ?errors, "message formatted with errors");
    }
    text.into_owned()
}

/// Money as staff read it: `¥12.80` from 1280 fen (`-¥3.00` for a refund).
pub fn money(fen: Fen) -> String {
    if fen.0 < 0 {
        format!("-¥{}", Fen(-fen.0))
    } else {
        format!("¥{fen}")
    }
}

/// Every message key of a catalog's source, sorted (for the parity test and tools).
pub fn keys(source: &str) -> Vec<String> {
    let mut keys: Vec<String> = source
        .lines()
        .filter(|l| l.starts_with(|c: char| c.is_ascii_alphabetic()))
        .filter_map(|l| l.split_once('=').map(|(k, _)| k.trim().to_owned()))
        .collect();
    keys.sort();
    keys
}

#[cfg(test)]
mod reports_and_cli;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_exists_in_both_languages_and_parses() {
        let zh = keys(Lang::Zh.source());
        let en = keys(Lang::En.source());
        let only_zh: Vec<_> = zh.iter().filter(|k| !en.contains(k)).collect();
        let only_en: Vec<_> = en.iter().filter(|k| !zh.contains(k)).collect();
        assert!(only_zh.is_empty(), "keys missing from en.ftl: {only_zh:?}");
        assert!(
            only_en.is_empty(),
            "keys missing from zh-CN.ftl: {only_en:?}"
        );
        assert!(zh.len() > 50, "the catalogs hold the console's text");
        let mut dup = zh.clone();
        dup.dedup();
        assert_eq!(dup.len(), zh.len(), "a key is defined twice");
        for lang in Lang::ALL {
            if let Err((_, errors)) = FluentResource::try_new(lang.source().to_owned()) {
                panic!("{} does not parse: {errors:?}", lang.tag());
            }
            for key in &zh {
                let text = t(lang, key);
                assert!(!text.is_empty() && text != *key, "{key} in {}", lang.tag());
            }
        }
    }

    #[test]
    fn every_key_the_code_uses_is_in_the_catalogs() {
        let zh = keys(Lang::Zh.source());
        let console = crate::console::SOURCES
            .iter()
            .map(|(f, s)| ((*f).to_owned(), (*s).to_owned()));
        for (file, text) in console.chain(reports_and_cli::sources()) {
            for key in used_keys(&text) {
                assert!(
                    zh.contains(&key),
                    "{file} uses {key:?}, which no catalog has"
                );
            }
        }
    }

    /// The message keys a source names: the literal first argument of `t(..)`, `ta(..)`,
    /// `tr(..)` (however the call is wrapped), and any other string literal that reads as a
    /// report or CLI key (`"report-summary"` handed to a helper).
    pub(super) fn used_keys(text: &str) -> Vec<String> {
        let mut out = Vec::new();
        for marker in ["t(", "ta(", "tr("] {
            for part in text.split(marker).skip(1) {
                let rest = part.trim_start();
                let Some((lang, rest)) = rest.split_once(',') else {
                    continue;
                };
                if !matches!(lang.trim(), "l" | "lang") {
                    continue;
                }
                if let Some(key) = rest.trim_start().strip_prefix('"')
                    && let Some(key) = key.split('"').next()
                {
                    out.push(key.to_owned());
                }
            }
        }
        for prefix in ["\"report-", "\"cli-"] {
            for part in text.split(prefix).skip(1) {
                let Some((name, _)) = part.split_once('"') else {
                    continue;
                };
                let reads_as_key = !name.is_empty()
                    && !name.ends_with('-')
                    && name
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'));
                if reads_as_key {
                    out.push(format!("{}{name}", &prefix[1..]));
                }
            }
        }
        out
    }

    #[test]
    fn every_error_code_status_and_desk_has_its_words() {
        let zh = keys(Lang::Zh.source());
        for code in crate::console::ERROR_CODES {
            assert!(zh.contains(&format!("error-{code}")), "error-{code}");
        }
        for name in crate::console::status_names() {
            assert!(zh.contains(&format!("status-{name}")), "status-{name}");
        }
        for c in crate::console::categories() {
            assert!(zh.contains(&format!("work-{c}")), "work-{c}");
        }
        for c in lifeline_core::record::PaymentChannel::ALL {
            assert!(zh.contains(&format!("channel-{}", c.name())), "channel {c}");
        }
        for key in [
            "banner-episode",
            "banner-degraded",
            "triage-call",
            "triage-restore",
        ] {
            assert!(zh.contains(&key.to_owned()), "{key}");
        }
    }

    #[test]
    fn money_and_arguments_read_right() {
        assert_eq!(money(Fen(1280)), "¥12.80");
        assert_eq!(money(Fen(-300)), "-¥3.00");
        assert_eq!(money(Fen(5)), "¥0.05");
        assert_eq!(t(Lang::Zh, "login-title"), "登录");
        assert_eq!(t(Lang::En, "login-title"), "Log in");
        assert_eq!(Lang::parse("en"), Lang::En);
        assert_eq!(Lang::parse("fr"), Lang::Zh);
    }
}
