-- Each account's distinct recipients, with how many flows go to each (issue 14).
--
-- A search's total for one `to` filter (`is`, `starts_with`, `contains`) without a date
-- range was counted over the matching steps: at 10 M flows a 2-digit prefix read
-- ~135 000 index entries, and a common `contains` term scanned all the account's steps.
-- Recipients repeat (a customer writes to the same people again and again; in the search
-- bench's 10 M flows, 14.7 M steps go to 2.9 M recipients), so the count now reads one
-- row per matching recipient:
--   flows  how many flows send all their steps to this recipient alone (the steps with
--          weight 1, migration 0010);
--   multi  how many steps of flows with several recipients go to it (weight NULL); when
--          not 0, those flows are told apart from their steps in flow_steps_multi, as a
--          flow with two matching recipients is still one flow.
-- Rows are only added and counted up: flow_steps rows are never deleted or changed, but
-- triggers below keep the counts right if they ever are.
--
-- The trigram index that `contains` looks terms up in now holds the distinct recipients
-- (one entry each, written when a recipient is first seen) instead of every step. It is
-- contentless and keeps no sizes (nothing ranks matches): a match gives recipients.id,
-- and the term is then checked on the row.
--
-- On an existing store: one pass over flow_steps_recipient (the steps in recipient
-- order) to count, the trigram index built over the distinct recipients, the partial
-- index over the few steps with weight NULL, and the old per-step trigram index dropped
-- (its pages go to the free list). 32 s at 10 M flows (BENCHMARKS.md, seventh round).

CREATE TABLE recipients (
    account_id TEXT NOT NULL,
    recipient TEXT NOT NULL,
    flows INTEGER NOT NULL,
    multi INTEGER NOT NULL,
    id INTEGER NOT NULL,
    PRIMARY KEY (account_id, recipient)
) WITHOUT ROWID;

INSERT INTO recipients (account_id, recipient, flows, multi, id)
SELECT account_id, recipient, SUM(weight IS 1), SUM(weight IS NULL),
       ROW_NUMBER() OVER (ORDER BY account_id, recipient)
FROM flow_steps INDEXED BY flow_steps_recipient
WHERE weight IS NOT 0
GROUP BY account_id, recipient;

CREATE UNIQUE INDEX recipients_id ON recipients (id);

CREATE VIRTUAL TABLE recipients_trigram USING fts5 (
    recipient,
    content = '',
    tokenize = 'trigram',
    detail = 'none',
    columnsize = 0
);
INSERT INTO recipients_trigram (rowid, recipient) SELECT id, recipient FROM recipients;

CREATE INDEX flow_steps_multi ON flow_steps (account_id, recipient, flow_id, weight)
    WHERE weight IS NULL;

-- A later step of a one-recipient flow (weight 0) goes to the recipient its first step
-- already counted.
CREATE TRIGGER flow_steps_recipients_insert AFTER INSERT ON flow_steps
WHEN new.weight IS NOT 0
BEGIN
    INSERT INTO recipients (account_id, recipient, flows, multi, id)
    VALUES (new.account_id, new.recipient, new.weight IS 1, new.weight IS NULL,
            (SELECT COALESCE(MAX(id), 0) + 1 FROM recipients))
    ON CONFLICT (account_id, recipient) DO UPDATE
        SET flows = flows + excluded.flows, multi = multi + excluded.multi;
END;

CREATE TRIGGER flow_steps_recipients_delete AFTER DELETE ON flow_steps
WHEN old.weight IS NOT 0
BEGIN
    UPDATE recipients
    SET flows = flows - (old.weight IS 1), multi = multi - (old.weight IS NULL)
    WHERE account_id = old.account_id AND recipient = old.recipient;
END;

CREATE TRIGGER flow_steps_recipients_update
AFTER UPDATE OF account_id, recipient, weight ON flow_steps
BEGIN
    UPDATE recipients
    SET flows = flows - (old.weight IS 1), multi = multi - (old.weight IS NULL)
    WHERE old.weight IS NOT 0
      AND account_id = old.account_id AND recipient = old.recipient;
    INSERT INTO recipients (account_id, recipient, flows, multi, id)
    SELECT new.account_id, new.recipient, new.weight IS 1, new.weight IS NULL,
           (SELECT COALESCE(MAX(id), 0) + 1 FROM recipients)
    WHERE new.weight IS NOT 0
    ON CONFLICT (account_id, recipient) DO UPDATE
        SET flows = flows + excluded.flows, multi = multi + excluded.multi;
END;

-- A recipient seen for the first time is added to the trigram index.
CREATE TRIGGER recipients_trigram_insert AFTER INSERT ON recipients BEGIN
    INSERT INTO recipients_trigram (rowid, recipient) VALUES (new.id, new.recipient);
END;

DROP TRIGGER flow_steps_trigram_insert;
DROP TRIGGER flow_steps_trigram_delete;
DROP TRIGGER flow_steps_trigram_update;
DROP TABLE flow_steps_trigram;
