//! lifeline-sync: replication between Lifeline nodes.
//!
//! - [`frame`]: the length-prefixed wire format.
//! - [`proto`]: the protocol as a state machine without network I/O.
//! - [`permissions`]: what a peer may send us.
//! - [`identity`]: the hospital CA, node certificates and mutual TLS for quinn.
//!
//! This crate never opens redb: it reaches storage only through lifeline-core's `Store`.

mod chain;
pub mod driver;
pub mod frame;
pub mod identity;
pub mod permissions;
pub mod proto;
