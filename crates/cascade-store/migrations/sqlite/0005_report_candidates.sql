-- A report held before its provider id was known is filed under every form its id may
-- take (an SMSC may print receipt ids in another base than its submit_sm_resp ids);
-- the rows of one report share a hold_group and are taken together.
ALTER TABLE orphan_reports ADD COLUMN hold_group TEXT;
CREATE INDEX orphan_reports_group ON orphan_reports (hold_group);

-- One provider message id may stand for several parts (an SMSC that takes a long SMS
-- in one message_payload and answers one id): one row per part.
CREATE TABLE provider_refs_new (
    provider            TEXT NOT NULL,
    provider_message_id TEXT NOT NULL,
    flow_id             TEXT NOT NULL,
    step_order          INTEGER NOT NULL,
    part                INTEGER NOT NULL,
    created_at          INTEGER NOT NULL,
    PRIMARY KEY (provider, provider_message_id, flow_id, step_order, part)
) WITHOUT ROWID;
INSERT INTO provider_refs_new SELECT provider, provider_message_id, flow_id, step_order, part, created_at
    FROM provider_refs;
DROP TABLE provider_refs;
ALTER TABLE provider_refs_new RENAME TO provider_refs;
