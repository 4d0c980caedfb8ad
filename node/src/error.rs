//! How node shows an error to a person: the error and each of its causes once, joined with
//! ": " (`cannot open the store /x: cannot read /x: permission denied`). Lifeline's library
//! errors never repeat their source in their own message; some third-party errors do (an
//! I/O wrapper that prints the I/O error it holds), so a cause whose text the message before
//! it already contains is not said again. The CLI's messages, the log's error fields and the
//! API's JSON errors all go through [`chain`].

use std::error::Error;

/// `error` and its causes, each said once.
pub fn chain(error: &(dyn Error + 'static)) -> String {
    chain_with(error, ToString::to_string)
}

/// [`chain`], each error said by `say` (the CLI says some in the reader's language).
pub fn chain_with(
    error: &(dyn Error + 'static),
    say: impl Fn(&(dyn Error + 'static)) -> String,
) -> String {
    let mut out = say(error);
    let mut said = out.clone();
    let mut cause = error.source();
    while let Some(e) = cause {
        let text = say(e);
        if !text.is_empty() && !said.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        said = text;
        cause = e.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("cannot open the store {path}")]
    struct Open {
        path: &'static str,
        #[source]
        source: Read,
    }

    #[derive(Debug, thiserror::Error)]
    #[error("cannot read {path}")]
    struct Read {
        path: &'static str,
        #[source]
        source: std::io::Error,
    }

    /// A third-party style error that prints the error it wraps.
    #[derive(Debug, thiserror::Error)]
    #[error("io: {0}")]
    struct Wrapper(#[source] std::io::Error);

    #[test]
    fn every_cause_is_said_once() {
        let e = Open {
            path: "/x",
            source: Read {
                path: "/x",
                source: std::io::Error::other("permission denied"),
            },
        };
        assert_eq!(
            chain(&e),
            "cannot open the store /x: cannot read /x: permission denied"
        );
        let wrapped = Wrapper(std::io::Error::other("connection refused"));
        assert_eq!(chain(&wrapped), "io: connection refused");
        let any = anyhow::Error::new(wrapped).context("cannot reach the node");
        assert_eq!(
            chain(&*any),
            "cannot reach the node: io: connection refused"
        );
    }
}
