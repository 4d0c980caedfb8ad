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

thread_local! {
    static CONTAINING: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

/// Runs `f`, turning a panic inside it into `None`: for code that may panic on input from
/// outside (redb on a damaged file, Automerge on a peer's bytes), which must never panic the
/// node. While `f` runs, [`panic_is_contained`] is true on this thread, so a panic hook (the
/// binary's) can log such a panic as the refusal it becomes, without a backtrace.
pub fn contained<T>(f: impl FnOnce() -> T) -> Option<T> {
    struct Depth;
    impl Drop for Depth {
        fn drop(&mut self) {
            CONTAINING.with(|c| c.set(c.get().saturating_sub(1)));
        }
    }
    CONTAINING.with(|c| c.set(c.get().saturating_add(1)));
    let _depth = Depth;
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).ok()
}

/// Whether the current thread is inside [`contained`]: a panic now is caught and turned into
/// an error by the code that expected it.
pub fn panic_is_contained() -> bool {
    CONTAINING.with(|c| c.get() > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("outer")]
    struct Outer(#[source] Shared<std::io::Error>);

    #[test]
    fn contained_panics_become_none_and_say_so_while_they_run() {
        assert!(!panic_is_contained());
        let seen = contained(panic_is_contained);
        assert_eq!(seen, Some(true));
        let caught: Option<()> = contained(|| panic!("a contained panic, as a test"));
        assert_eq!(caught, None);
        assert!(!panic_is_contained());
    }

    #[test]
    fn a_chain_prints_every_source_once() {
        let e = Outer(std::io::Error::other("inner").into());
        assert_eq!(e.to_string(), "outer");
        assert_eq!(Chain(&e).to_string(), "outer: inner");
        assert_eq!(Outer(std::io::Error::other("inner").into()).0, e.0);
    }
}
