//! Black-box tests of the HTTP API: each test starts the real application on port 0
//! with a fresh SQLite store and talks to it over HTTP only (plus a count of the store's
//! flows, through its own interface, to prove that rejected requests stored nothing).

mod helpers;

/// The store these tests run against (`api_postgres` runs the same files on PostgreSQL).
pub const BACKEND: helpers::Backend = helpers::Backend::Sqlite;

mod accounts;
mod auth;
mod callbacks;
mod chaos;
mod cli;
mod client_cli;
mod console;
mod hangups;
mod idempotency;
mod interop;
mod logs;
mod metrics;
mod openapi;
mod outcomes;
mod provider_mocks;
mod providers;
mod rate_limit;
mod reports;
mod restart;
mod sandbox;
mod search;
mod sip;
mod sip_peers;
mod smpp;
mod sms_parts;
mod sqlite_store;
mod tracking;
mod ttl;
mod twilio;
mod twilio_mock;
mod validation;
mod vonage_voice;
mod vonage_voice_mock;
mod web_tools;
