//! The walks from a report to its document ([`super::doc`]): the one place that decides what
//! each report says, in which order and in which words (the catalogs', in the language of the
//! render options). The renderers only format the result.

pub mod conflicts;
mod evidence;
pub mod outage;
mod tallies;
