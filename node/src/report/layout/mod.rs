//! The walks from a report to its document ([`super::doc`]): the one place that decides what
//! each report says, in which order and in which words. The renderers only format the result.

pub mod conflicts;
pub mod outage;
