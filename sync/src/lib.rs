//! lifeline-sync: replication between Lifeline nodes.
//!
//! - [`frame`]: the length-prefixed wire format.
//! - [`proto`]: the protocol as a state machine without I/O or clocks: frames and time in,
//!   frames and deadlines out.
//! - [`replica`]: what the protocol needs from storage, as a trait, implemented by
//!   lifeline-core's `Store` and by an in-memory replica for tests and simulation.
//! - [`permissions`]: what a peer may send us.
//! - [`identity`]: the hospital CA, node certificates and mutual TLS for quinn.
//! - [`mesh`]: the tokio/quinn layer that runs sessions with every peer.
//!
//! This crate never opens redb: it reaches storage only through lifeline-core's `Store`.

mod chain;
pub mod frame;
pub mod identity;
pub mod mesh;
pub mod permissions;
pub mod proto;
pub mod replica;
