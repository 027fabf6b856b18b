-- The agents' queue: when an agent first acted on a ticket (taken, commented, reassigned),
-- so going away offers back only the untouched ones; and when a ticket near its SLA was
-- escalated, so that happens once.

ALTER TABLE tickets ADD COLUMN touched_at TEXT;
ALTER TABLE tickets ADD COLUMN escalated_at TEXT;

-- Waiting tickets (nobody assigned), looked at by live routing every few seconds.
CREATE INDEX tickets_waiting ON tickets (status) WHERE agent_id IS NULL;

-- Open tickets not yet escalated, by due time: live routing looks for those near their due
-- time every few seconds.
CREATE INDEX tickets_due_unescalated ON tickets (due_at)
    WHERE escalated_at IS NULL AND status IN ('new', 'assigned', 'waiting');
