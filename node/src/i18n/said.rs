//! An error whose words are a catalog message, for code that fails before anyone knows who
//! reads it (the config file, the daemon's start-up checks). It displays in English (the log,
//! a JSON error); the CLI says it in its reader's language (`cli::say` finds it in the
//! chain), each cause after it as usual.

use std::error::Error;
use std::fmt;

use super::{Arg, Lang, tr};

/// A catalog message with its arguments, and what caused it.
#[derive(Debug)]
pub struct Said {
    key: &'static str,
    args: Vec<(&'static str, Arg<'static>)>,
    /// Kept as anyhow keeps it, so that a `Said` among the causes is still found by type.
    source: Option<anyhow::Error>,
}

impl Said {
    /// The message `key` with `args`.
    pub fn new(key: &'static str, args: Vec<(&'static str, Arg<'static>)>) -> Said {
        Said {
            key,
            args,
            source: None,
        }
    }

    /// The same message, caused by `source` (said after it; text with `anyhow::Error::msg`).
    pub fn because(mut self, source: impl Into<anyhow::Error>) -> Said {
        self.source = Some(source.into());
        self
    }

    /// The message in `l`, without its causes.
    pub fn words(&self, l: Lang) -> String {
        tr(l, self.key, &self.args)
    }

    /// The message's key (for tests).
    pub fn key(&self) -> &'static str {
        self.key
    }
}

impl fmt::Display for Said {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.words(Lang::En))
    }
}

impl Error for Said {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        self.source.as_ref().map(|e| {
            let e: &(dyn Error + Send + Sync + 'static) = e.as_ref();
            e as &(dyn Error + 'static)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn said_in_english_by_default_and_in_the_readers_language_by_the_cli() {
        let e = Said::new(
            "cli-config-unreadable",
            vec![("path", "/etc/lifeline/node.toml".into())],
        )
        .because(std::io::Error::other("permission denied"));
        assert_eq!(
            crate::error::chain(&e),
            "cannot read the config file /etc/lifeline/node.toml: permission denied"
        );
        let any = anyhow::Error::new(e);
        assert_eq!(
            crate::cli::say(Lang::Zh, &*any),
            "无法读取配置文件 /etc/lifeline/node.toml: permission denied"
        );
        // A `Said` among the causes is said in the reader's language too.
        let inner: anyhow::Error = Said::new("cli-config-peer-twice", vec![]).into();
        let outer =
            Said::new("cli-config-unusable", vec![("path", "node.toml".into())]).because(inner);
        assert_eq!(
            crate::cli::say(Lang::Zh, &outer),
            "配置文件 node.toml 无法使用: peers 中同一节点出现了两次"
        );
        assert_eq!(
            crate::error::chain(&outer),
            "node.toml is not a usable config: peers lists a node twice"
        );
    }
}
