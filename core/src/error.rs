//! What core's error enums share: a source kept behind an `Arc` for errors that must stay
//! `Clone` ([`Shared`]), and an error with its sources as one line ([`Chain`]) for the texts
//! core writes itself (report problems, audit details, logs).
//!
//! An error's `Display` never repeats its source's text; whoever shows an error to a person
//! prints the chain.

use std::error::Error;
use std::fmt;
use std::sync::Arc;

/// An error's source behind an `Arc`, so that the error holding it can be `Clone` (a failed
/// commit's error goes to every caller in its batch). Two are equal when they say the same.
pub struct Shared<E>(Arc<E>);

impl<E> Shared<E> {
    pub fn new(error: E) -> Self {
        Shared(Arc::new(error))
    }

    pub fn get(&self) -> &E {
        &self.0
    }
}

impl<E> From<E> for Shared<E> {
    fn from(error: E) -> Self {
        Shared::new(error)
    }
}

impl<E> Clone for Shared<E> {
    fn clone(&self) -> Self {
        Shared(self.0.clone())
    }
}

impl<E: fmt::Debug> fmt::Debug for Shared<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl<E: fmt::Display> fmt::Display for Shared<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl<E: Error> Error for Shared<E> {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        self.0.source()
    }
}

impl<E: fmt::Display> PartialEq for Shared<E> {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0) || self.0.to_string() == other.0.to_string()
    }
}

impl<E: fmt::Display> Eq for Shared<E> {}

/// An error and its sources, joined with ": ".
#[derive(Debug, Clone, Copy)]
pub struct Chain<'a>(pub &'a (dyn Error + 'static));

impl fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        // Bounded: a chain is a handful of errors deep; a cycle must not hang a report.
        for _ in 0..32 {
            let Some(e) = source else { break };
            write!(f, ": {e}")?;
            source = e.source();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("outer")]
    struct Outer(#[source] Shared<std::io::Error>);

    #[test]
    fn a_chain_prints_every_source_once() {
        let e = Outer(std::io::Error::other("inner").into());
        assert_eq!(e.to_string(), "outer");
        assert_eq!(Chain(&e).to_string(), "outer: inner");
        assert_eq!(Outer(std::io::Error::other("inner").into()).0, e.0);
    }
}
