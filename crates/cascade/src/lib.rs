//! The `cascade` binary's library: configuration, start-up and the command line, so the
//! black-box tests can build the very application `cascade serve` runs.

pub mod admin_cli;
pub mod client_cli;
pub mod config;
pub mod smsc_sim;
pub mod startup;
pub mod telemetry;

pub use config::Config;
pub use startup::Application;
