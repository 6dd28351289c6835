-- Search at millions of flows (BENCHMARKS.md, "Search"; issue #3).
--
-- 1. A flow's channels, as a bit set on `flows` (Sms 1, Viber 2, Voice 4): a flow's
--    steps are fixed at acceptance, so the writer fills it in the INSERT that creates
--    the flow and it never changes. `type` filters become a test on the flow's own row
--    (`channels & bit`), which the account's walk indexes below carry, instead of a
--    seek into flow_steps per flow.
-- 2. Counts per (account, UTC day, status, channel set), kept by triggers in the
--    statement that changes a flow, so in the writer's own transaction: the exact
--    `totalElements` of a search filtered only by `status`, `type` and the date range
--    is a sum over these rows plus, at most, the partial days at either end.
-- 3. Step indexes that hold what searches read: `flow_id` in the recipient indexes,
--    so counting the flows of a recipient range reads index entries only, and the
--    account's steps in flow order with their recipients, for the per-flow `to` checks
--    and for counting the flows of a broad `to` filter without de-duplicating in a
--    temporary b-tree.
-- 4. A trigram index of recipients (FTS5, external content: it stores the trigrams,
--    not the text), so `to contains` seeks instead of scanning the account's steps.
--    Triggers keep it in step with flow_steps.
--
-- On an existing store this copies flow_steps, rewrites every flows row once (the new
-- column) and builds six indexes and the trigram index, in one transaction: two to
-- three minutes per million flows on the bench machine, and a WAL the size of the
-- flows table until the checkpoint that follows (BENCHMARKS.md, "Search").

-- flow_steps gets an explicit INTEGER PRIMARY KEY: the trigram index refers to steps by
-- rowid, and only an INTEGER PRIMARY KEY keeps its value through a VACUUM. Its indexes
-- are rebuilt with it (item 3); the (account_id, channel, …) ones and (flow_id, channel)
-- go, as `type` no longer reads flow_steps.
CREATE TABLE flow_steps_new (
    id            INTEGER PRIMARY KEY,
    flow_id       TEXT NOT NULL,
    account_id    TEXT NOT NULL,
    channel       TEXT NOT NULL,
    -- lower case, as matching is case-insensitive
    recipient     TEXT NOT NULL,
    -- the recipient reversed, so ends_with is a prefix range on an index
    recipient_rev TEXT NOT NULL,
    created_at    INTEGER NOT NULL
);
INSERT INTO flow_steps_new (id, flow_id, account_id, channel, recipient, recipient_rev, created_at)
SELECT rowid, flow_id, account_id, channel, recipient, recipient_rev, created_at
FROM flow_steps ORDER BY rowid;
DROP TABLE flow_steps;
ALTER TABLE flow_steps_new RENAME TO flow_steps;
CREATE INDEX flow_steps_recipient ON flow_steps (account_id, recipient, created_at, flow_id);
CREATE INDEX flow_steps_recipient_rev ON flow_steps (account_id, recipient_rev, created_at, flow_id);
CREATE INDEX flow_steps_account_flow
    ON flow_steps (account_id, flow_id, created_at, recipient, recipient_rev);

ALTER TABLE flows ADD COLUMN channels INTEGER NOT NULL DEFAULT 0;

-- One pass over the steps in flow_steps_account_flow order; flows are found by their
-- unique id index.
UPDATE flows SET channels = m.channels
FROM (
    SELECT flow_id,
           MAX(channel = 'Sms') | (MAX(channel = 'Viber') << 1) | (MAX(channel = 'Voice') << 2)
               AS channels
    FROM flow_steps GROUP BY account_id, flow_id
) AS m
WHERE flows.id = m.flow_id;

-- The indexes a search walks in order now carry the channel set, so a `type` filter is
-- checked on the index entry (no row read). Same names, one more column.
DROP INDEX flows_account_created;
CREATE INDEX flows_account_created ON flows (account_id, created_at, id, channels);
DROP INDEX flows_account_updated;
CREATE INDEX flows_account_updated ON flows (account_id, updated_at, id, channels);
DROP INDEX flows_account_status;
CREATE INDEX flows_account_status ON flows (account_id, status, created_at, id, channels);

-- `day` is floor(created_at / 86 400 000): whole UTC days, also before 1970.
CREATE TABLE flow_counts (
    account_id TEXT NOT NULL,
    day        INTEGER NOT NULL,
    status     TEXT NOT NULL,
    channels   INTEGER NOT NULL,
    n          INTEGER NOT NULL,
    PRIMARY KEY (account_id, day, status, channels)
) WITHOUT ROWID;

INSERT INTO flow_counts (account_id, day, status, channels, n)
SELECT account_id, created_at / 86400000 - (created_at < 0 AND created_at % 86400000 <> 0),
       status, channels, COUNT(*)
FROM flows GROUP BY 1, 2, 3, 4;

CREATE TRIGGER flow_counts_insert AFTER INSERT ON flows BEGIN
    INSERT INTO flow_counts (account_id, day, status, channels, n)
    VALUES (new.account_id,
            new.created_at / 86400000 - (new.created_at < 0 AND new.created_at % 86400000 <> 0),
            new.status, new.channels, 1)
    ON CONFLICT DO UPDATE SET n = n + 1;
END;

-- The writer's upsert sets status on every save; only a change moves the flow.
CREATE TRIGGER flow_counts_update
AFTER UPDATE OF account_id, created_at, status, channels ON flows
WHEN old.account_id IS NOT new.account_id OR old.created_at IS NOT new.created_at
  OR old.status IS NOT new.status OR old.channels IS NOT new.channels
BEGIN
    UPDATE flow_counts SET n = n - 1
    WHERE account_id = old.account_id
      AND day = old.created_at / 86400000 - (old.created_at < 0 AND old.created_at % 86400000 <> 0)
      AND status = old.status AND channels = old.channels;
    INSERT INTO flow_counts (account_id, day, status, channels, n)
    VALUES (new.account_id,
            new.created_at / 86400000 - (new.created_at < 0 AND new.created_at % 86400000 <> 0),
            new.status, new.channels, 1)
    ON CONFLICT DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER flow_counts_delete AFTER DELETE ON flows BEGIN
    UPDATE flow_counts SET n = n - 1
    WHERE account_id = old.account_id
      AND day = old.created_at / 86400000 - (old.created_at < 0 AND old.created_at % 86400000 <> 0)
      AND status = old.status AND channels = old.channels;
END;

-- Recipients are stored lower case and `contains` terms arrive lower case; the index
-- only proposes candidates (every trigram of the term present), which the query then
-- checks with instr(), so its case folding and token details cannot change an answer.
-- detail=none: no positions (a third of the size), as phrases are not needed.
CREATE VIRTUAL TABLE flow_steps_trigram USING fts5 (
    recipient,
    content = 'flow_steps',
    content_rowid = 'rowid',
    tokenize = 'trigram',
    detail = 'none'
);
INSERT INTO flow_steps_trigram (flow_steps_trigram) VALUES ('rebuild');

CREATE TRIGGER flow_steps_trigram_insert AFTER INSERT ON flow_steps BEGIN
    INSERT INTO flow_steps_trigram (rowid, recipient) VALUES (new.rowid, new.recipient);
END;
CREATE TRIGGER flow_steps_trigram_delete AFTER DELETE ON flow_steps BEGIN
    INSERT INTO flow_steps_trigram (flow_steps_trigram, rowid, recipient)
    VALUES ('delete', old.rowid, old.recipient);
END;
CREATE TRIGGER flow_steps_trigram_update AFTER UPDATE OF recipient ON flow_steps BEGIN
    INSERT INTO flow_steps_trigram (flow_steps_trigram, rowid, recipient)
    VALUES ('delete', old.rowid, old.recipient);
    INSERT INTO flow_steps_trigram (rowid, recipient) VALUES (new.rowid, new.recipient);
END;
