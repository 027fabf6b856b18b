-- The agents' queue: when an agent first acted on a ticket (taken, commented, reassigned),
-- so going away offers back only the untouched ones; and when a ticket near its SLA was
-- escalated, so that happens once.

ALTER TABLE tickets ADD COLUMN touched_at TEXT;
ALTER TABLE tickets ADD COLUMN escalated_at TEXT;

-- Waiting tickets (nobody assigned), looked at by live routing every few seconds.
CREATE INDEX tickets_waiting ON tickets (status) WHERE agent_id IS NULL;
