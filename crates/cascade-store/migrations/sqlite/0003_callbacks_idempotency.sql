-- Callbacks (a durable outbox written with the state change that causes each one) and
-- idempotency keys.
ALTER TABLE flows ADD COLUMN callback_seq INTEGER NOT NULL DEFAULT 0;

CREATE TABLE callbacks (
    id               INTEGER PRIMARY KEY,
    event_id         TEXT NOT NULL UNIQUE,
    flow_id          TEXT NOT NULL,
    seq              INTEGER NOT NULL,
    application_id   TEXT NOT NULL,
    url              TEXT NOT NULL,
    body             TEXT NOT NULL,
    -- pending | delivered | dead
    state            TEXT NOT NULL,
    attempts         INTEGER NOT NULL DEFAULT 0,
    first_attempt_at INTEGER,
    next_at          INTEGER NOT NULL,
    claimed_until    INTEGER NOT NULL DEFAULT 0,
    last_error       TEXT,
    created_at       INTEGER NOT NULL,
    UNIQUE (flow_id, seq)
);
CREATE INDEX callbacks_due ON callbacks (state, next_at);

CREATE TABLE idempotency_keys (
    application_id TEXT NOT NULL,
    key            TEXT NOT NULL,
    request_hash   TEXT NOT NULL,
    tracking_id    TEXT NOT NULL,
    response       TEXT NOT NULL,
    created_at     INTEGER NOT NULL,
    PRIMARY KEY (application_id, key)
) WITHOUT ROWID;
CREATE INDEX idempotency_created ON idempotency_keys (created_at);
