-- Counting the flows of a `to` filter without de-duplicating them (issue #14).
--
-- A search with one `to` filter reports how many flows match. A flow can have several
-- steps to the same recipient (Viber, then SMS, to one number), so counting the matching
-- steps over-counts, and COUNT(DISTINCT flow_id) over a recipient range pays a temporary
-- b-tree insert per step (~4 µs): at 10 M flows a 2-digit prefix (~90 000 flows) took
-- over a second to count.
--
-- `weight` says how a step counts its flow, fixed at acceptance like the rest of the row:
--   1     the first step of a flow whose steps all go to one recipient;
--   0     a later step of such a flow;
--   NULL  any step of a flow with steps to several recipients.
-- All steps of a flow share its recipient (when it has one) and its created_at, so a
-- recipient condition and a date range take all of a one-recipient flow's steps or none:
-- the flows matched are SUM(weight) plus COUNT(DISTINCT flow_id) over the NULL-weight
-- steps only, both read from index entries.
--
-- On an existing store this rewrites every flow_steps row once and rebuilds the two
-- recipient indexes with the column at their end, in one transaction (timed at 10 M
-- flows in BENCHMARKS.md, "Four times the flows").

DROP INDEX flow_steps_recipient;
DROP INDEX flow_steps_recipient_rev;

ALTER TABLE flow_steps ADD COLUMN weight INTEGER;

-- One pass over the steps in flow_steps_account_flow order to find each one-recipient
-- flow's first step, then each of their steps found by the same index.
UPDATE flow_steps SET weight = (flow_steps.id = m.first)
FROM (
    SELECT account_id, flow_id, MIN(id) AS first
    FROM flow_steps
    GROUP BY account_id, flow_id
    HAVING MIN(recipient) = MAX(recipient)
) AS m
WHERE flow_steps.account_id = m.account_id AND flow_steps.flow_id = m.flow_id;

CREATE INDEX flow_steps_recipient
    ON flow_steps (account_id, recipient, created_at, flow_id, weight);
CREATE INDEX flow_steps_recipient_rev
    ON flow_steps (account_id, recipient_rev, created_at, flow_id, weight);
