-- Replies from recipients (Viber messages from provider webhooks, SMS MO over SMPP),
-- matched to the flow they answer or not. Listed at GET /admin/inbound.
CREATE TABLE inbound_messages (
    id            INTEGER PRIMARY KEY,
    received_at   INTEGER NOT NULL,
    channel       TEXT NOT NULL,
    sender        TEXT NOT NULL,
    recipient     TEXT NOT NULL,
    body          TEXT NOT NULL,
    provider      TEXT NOT NULL,
    -- the provider's id for the reply, when it gives one: a repeat is recorded once
    provider_message_id TEXT,
    flow_id       TEXT,
    step_order    INTEGER,
    -- the answered message's own trackingId
    message_id    TEXT,
    -- whether it was queued for the step's inboundUrl
    forwarded     INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX inbound_messages_received ON inbound_messages (received_at);
CREATE INDEX inbound_messages_sender ON inbound_messages (sender, received_at);
CREATE UNIQUE INDEX inbound_messages_provider_id ON inbound_messages (provider, provider_message_id)
    WHERE provider_message_id IS NOT NULL;
