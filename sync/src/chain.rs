//! An error shown with its causes, for logs, close reasons and status lines: messages never
//! repeat their cause (it is their `source()`), so whoever shows one prints the chain.

/// An error and its causes, joined with ": " (what anyhow's `{:#}` prints).
pub fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut out = error.to_string();
    let mut cause = error.source();
    // Bounded: a chain is a handful of links.
    for _ in 0..32 {
        let Some(c) = cause else { break };
        out.push_str(": ");
        out.push_str(&c.to_string());
        cause = c.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("outer")]
    struct Outer(#[source] std::io::Error);

    #[test]
    fn joins_every_cause_once() {
        let e = Outer(std::io::Error::other("inner"));
        assert_eq!(chain(&e), "outer: inner");
    }
}
