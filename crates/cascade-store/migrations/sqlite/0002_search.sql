-- Search (POST /failover/tracking): one row per step of each flow, so filters on a
-- step's channel (`type`) and recipient (`to`) use indexes instead of reading states.
CREATE TABLE flow_steps (
    flow_id       TEXT NOT NULL,
    account_id    TEXT NOT NULL,
    channel       TEXT NOT NULL,
    -- lower case, as matching is case-insensitive
    recipient     TEXT NOT NULL,
    -- the recipient reversed, so ends_with is a prefix range on an index
    recipient_rev TEXT NOT NULL,
    created_at    INTEGER NOT NULL
);
CREATE INDEX flow_steps_flow ON flow_steps (flow_id);
CREATE INDEX flow_steps_recipient ON flow_steps (account_id, recipient, created_at);
CREATE INDEX flow_steps_recipient_rev ON flow_steps (account_id, recipient_rev);
CREATE INDEX flow_steps_channel ON flow_steps (account_id, channel, created_at);

CREATE INDEX flows_account_updated ON flows (account_id, updated_at, id);
CREATE INDEX flows_account_status ON flows (account_id, status, created_at, id);
CREATE INDEX flows_account_termination ON flows (account_id, termination_channel, created_at, id);
