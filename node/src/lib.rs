//! lifeline-node: the `lifeline` binary's library: configuration, the daemon, the desks'
//! HTTP API, operators, and the CLI commands. The only crate that installs a tracing
//! subscriber or prints.

pub mod api;
pub mod cli;
pub mod client;
pub mod commands;
pub mod config;
pub mod console;
pub mod daemon;
pub mod error;
pub mod fhir;
pub mod help;
pub mod his;
pub mod hospital;
pub mod i18n;
pub mod metrics;
pub mod operators;
pub mod process;
pub mod report;
pub mod time;
