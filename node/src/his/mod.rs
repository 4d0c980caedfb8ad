//! The HIS bridge: the hospital's HIS into Lifeline before an outage (catalogs, the patient
//! master, today's work), and the outage's records back into the HIS's interface tables
//! after it.

pub mod bridge;
pub mod catalogs;
pub mod check;
pub mod cluster;
pub mod convert;
pub mod db;
pub mod mapping;
pub mod money;
pub mod outbound;
pub mod pull;
pub mod push;
pub mod rows;
pub mod settings;
pub mod sources;
pub mod state;
