-- Calls placed: one row per (step, provider) written before the INVITE goes out, so a
-- step whose call was placed before a crash is never dialled again (voice-sip §2).
CREATE TABLE call_dials (
    flow_id     TEXT NOT NULL,
    step_order  INTEGER NOT NULL,
    provider    TEXT NOT NULL,
    dialled_at  INTEGER NOT NULL,
    PRIMARY KEY (flow_id, step_order, provider)
) WITHOUT ROWID;
