//! The black-box API tests of `tests/api`, run against PostgreSQL: the same files,
//! compiled into a second test binary whose store is a fresh database per test on a
//! throwaway cluster (or `CASCADE_TEST_DATABASE_URL`). Only the SQLite-specific tests
//! (`sqlite_store`: one server per store file) stay out.

#[path = "../api/helpers.rs"]
mod helpers;

/// The store these tests run against.
pub const BACKEND: helpers::Backend = helpers::Backend::Postgres;

/// Several nodes on one database, and moving a store in (PostgreSQL only).
mod db_restart;
mod migrate;
mod nodes;
mod smsc_nodes;

#[path = "../api/accounts.rs"]
mod accounts;
#[path = "../api/auth.rs"]
mod auth;
#[path = "../api/callbacks.rs"]
mod callbacks;
#[path = "../api/cli.rs"]
mod cli;
#[path = "../api/client_cli.rs"]
mod client_cli;
#[path = "../api/hangups.rs"]
mod hangups;
#[path = "../api/idempotency.rs"]
mod idempotency;
#[path = "../api/interop.rs"]
mod interop;
#[path = "../api/logs.rs"]
mod logs;
#[path = "../api/metrics.rs"]
mod metrics;
#[path = "../api/outcomes.rs"]
mod outcomes;
#[path = "../api/provider_mocks.rs"]
mod provider_mocks;
#[path = "../api/providers.rs"]
mod providers;
#[path = "../api/rate_limit.rs"]
mod rate_limit;
#[path = "../api/reports.rs"]
mod reports;
#[path = "../api/restart.rs"]
mod restart;
#[path = "../api/sandbox.rs"]
mod sandbox;
#[path = "../api/search.rs"]
mod search;
#[path = "../api/sip.rs"]
mod sip;
#[path = "../api/sip_peers.rs"]
mod sip_peers;
#[path = "../api/smpp.rs"]
mod smpp;
#[path = "../api/sms_parts.rs"]
mod sms_parts;
#[path = "../api/tracking.rs"]
mod tracking;
#[path = "../api/ttl.rs"]
mod ttl;
#[path = "../api/twilio.rs"]
mod twilio;
#[path = "../api/twilio_mock.rs"]
mod twilio_mock;
#[path = "../api/validation.rs"]
mod validation;
#[path = "../api/vonage_voice.rs"]
mod vonage_voice;
#[path = "../api/vonage_voice_mock.rs"]
mod vonage_voice_mock;
