-- Cascade core schema (SQLite). Times are integer milliseconds since the Unix epoch,
-- money is integer micro-units, ids are text.

CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE accounts (
    id             TEXT PRIMARY KEY,
    name           TEXT NOT NULL,
    balance_micros INTEGER NOT NULL,
    currency       TEXT NOT NULL,
    created_at     INTEGER NOT NULL
);

CREATE TABLE applications (
    id               TEXT PRIMARY KEY,
    account_id       TEXT NOT NULL REFERENCES accounts (id),
    name             TEXT NOT NULL,
    secret_hash      TEXT NOT NULL,
    scopes           TEXT NOT NULL,
    token_lifetime_s INTEGER NOT NULL,
    webhook_secret   TEXT NOT NULL,
    rate_per_second  INTEGER,
    rate_burst       INTEGER,
    created_at       INTEGER NOT NULL
);
CREATE INDEX applications_account ON applications (account_id);

CREATE TABLE tokens (
    digest         TEXT PRIMARY KEY,
    application_id TEXT NOT NULL,
    account_id     TEXT NOT NULL,
    scopes         TEXT NOT NULL,
    expires_at     INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX tokens_expiry ON tokens (expires_at);

CREATE TABLE viber_senders (
    id         TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    name       TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX viber_senders_account ON viber_senders (account_id);

-- One row per flow with the engine's state (JSON), rewritten on every change. The
-- definition is written once into its own table, so updates stay small.
CREATE TABLE flows (
    id                  TEXT NOT NULL UNIQUE,
    account_id          TEXT NOT NULL,
    application_id      TEXT NOT NULL,
    status              TEXT NOT NULL,
    termination_channel TEXT,
    created_at          INTEGER NOT NULL,
    updated_at          INTEGER NOT NULL,
    state               TEXT NOT NULL,
    event_seq           INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX flows_account_created ON flows (account_id, created_at, id);

CREATE TABLE flow_definitions (
    id         TEXT NOT NULL UNIQUE,
    definition TEXT NOT NULL
);

-- The append-only timeline of each flow.
CREATE TABLE flow_events (
    flow_id TEXT NOT NULL,
    seq     INTEGER NOT NULL,
    entry   TEXT NOT NULL,
    PRIMARY KEY (flow_id, seq)
) WITHOUT ROWID;

-- Submit jobs: a step waiting to be handed to its provider. A lease (claimed_until)
-- keeps two dispatchers from taking the same job at once.
CREATE TABLE jobs (
    id            INTEGER PRIMARY KEY,
    flow_id       TEXT NOT NULL,
    step_order    INTEGER NOT NULL,
    payload       TEXT NOT NULL,
    due_at        INTEGER NOT NULL,
    claimed_until INTEGER NOT NULL DEFAULT 0,
    attempts      INTEGER NOT NULL DEFAULT 0,
    UNIQUE (flow_id, step_order)
);
CREATE INDEX jobs_due ON jobs (due_at);

-- Durable timers (TTL expiry).
CREATE TABLE timers (
    flow_id    TEXT NOT NULL,
    step_order INTEGER NOT NULL,
    kind       TEXT NOT NULL,
    due_at     INTEGER NOT NULL,
    PRIMARY KEY (flow_id, step_order, kind)
) WITHOUT ROWID;
CREATE INDEX timers_due ON timers (due_at);

-- Provider message id -> message, for matching reports.
CREATE TABLE provider_refs (
    provider            TEXT NOT NULL,
    provider_message_id TEXT NOT NULL,
    flow_id             TEXT NOT NULL,
    step_order          INTEGER NOT NULL,
    part                INTEGER NOT NULL,
    created_at          INTEGER NOT NULL,
    PRIMARY KEY (provider, provider_message_id)
) WITHOUT ROWID;

-- Reports that arrived before their provider id was recorded.
CREATE TABLE orphan_reports (
    id                  INTEGER PRIMARY KEY,
    provider            TEXT NOT NULL,
    provider_message_id TEXT NOT NULL,
    report              TEXT NOT NULL,
    received_at         INTEGER NOT NULL
);
CREATE INDEX orphan_reports_key ON orphan_reports (provider, provider_message_id);

-- Sandbox providers.
CREATE TABLE sandbox_scenarios (
    id         INTEGER PRIMARY KEY,
    channel    TEXT NOT NULL,
    recipient  TEXT NOT NULL,
    rule       TEXT NOT NULL,
    times_left INTEGER,
    created_at INTEGER NOT NULL
);

CREATE TABLE sandbox_messages (
    id           INTEGER PRIMARY KEY,
    provider     TEXT NOT NULL,
    channel      TEXT NOT NULL,
    client_ref   TEXT NOT NULL UNIQUE,
    recipient    TEXT NOT NULL,
    provider_ids TEXT NOT NULL,
    payload      TEXT NOT NULL,
    scenario_id  INTEGER,
    received_at  INTEGER NOT NULL
);

CREATE TABLE sandbox_reports (
    id                  INTEGER PRIMARY KEY,
    provider            TEXT NOT NULL,
    provider_message_id TEXT NOT NULL,
    report              TEXT NOT NULL,
    due_at              INTEGER NOT NULL
);
CREATE INDEX sandbox_reports_due ON sandbox_reports (due_at);
