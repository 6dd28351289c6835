-- Deployment-wide leases (scale-out §2): each [[smsc]] bind slot ("smsc:<name>:bind:<n>")
-- is held by one node at a time; a holder without a recent heartbeat loses it.
CREATE TABLE leases (
    name  TEXT PRIMARY KEY,
    node  TEXT NOT NULL,
    since BIGINT NOT NULL
);
CREATE INDEX leases_node ON leases (node);

-- The channel of a submit job, so that a node without binds to any SMSC leaves SMS jobs
-- to the nodes that hold them. NULL (jobs copied by migrate-store): any node claims it.
ALTER TABLE jobs ADD COLUMN channel TEXT;
