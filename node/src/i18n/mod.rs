//! What staff read, in Simplified Chinese (the default) or English: message catalogs in
//! Project Fluent's format (`zh-CN.ftl`, `en.ftl`, embedded in the binary), formatted with
//! `fluent-bundle`, the reference implementation of Fluent. Fluent was chosen over
//! key-value formats because its messages carry their own arguments and plural rules, so a
//! translator can reorder a sentence without a code change, and a catalog is plain text a
//! hospital can review. Money ([`money`]) and times ([`crate::time::UtcOffset`]) are
//! formatted the same way in both languages.

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

    /// The catalog's source text.
    pub fn source(self) -> &'static str {
        match self {
            Lang::Zh => include_str!("zh-CN.ftl"),
            Lang::En => include_str!("en.ftl"),
        }
    }
}

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
        for (file, text) in crate::console::SOURCES {
            for key in used_keys(text) {
                assert!(
                    zh.contains(&key),
                    "{file} uses {key:?}, which no catalog has"
                );
            }
        }
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

    /// The literal keys a source passes to `t(..)`/`ta(..)`: `t(lang, "key"` patterns.
    fn used_keys(text: &str) -> Vec<String> {
        let mut out = Vec::new();
        for marker in ["t(l, \"", "ta(l, \"", "t(lang, \"", "ta(lang, \""] {
            for part in text.split(marker).skip(1) {
                if let Some(key) = part.split('"').next() {
                    out.push(key.to_owned());
                }
            }
        }
        out
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
