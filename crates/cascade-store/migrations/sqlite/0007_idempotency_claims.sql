-- An idempotency key is claimed by its request before the flow is validated and stored
-- ('in_flight', with the claim's token and lease), and completed with the flow ('done',
-- with the response to replay). Rows written before this migration are done.
ALTER TABLE idempotency_keys ADD COLUMN state TEXT NOT NULL DEFAULT 'done';
ALTER TABLE idempotency_keys ADD COLUMN claim_token TEXT NOT NULL DEFAULT '';
ALTER TABLE idempotency_keys ADD COLUMN lease_until INTEGER NOT NULL DEFAULT 0;
