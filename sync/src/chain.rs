//! An error shown with its causes, for logs, close reasons and status lines: messages never
//! repeat their cause (it is their `source()`), so whoever shows one prints the chain.

/// An error and its causes, joined with ": " (what anyhow's `{:#}` prints).
pub fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    lifeline_core::error::Chain(error).to_string()
}
