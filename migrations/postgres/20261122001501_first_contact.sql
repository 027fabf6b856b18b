-- Acknowledgements to an address the desk had never had a request from: counted against
-- the first-contact budgets (desk.first_contact_limit, desk.first_contact_limit_per_domain),
-- so a stranger writing from a new address per message cannot make the desk mail anyone.
ALTER TABLE outbox ADD COLUMN first_contact INTEGER NOT NULL DEFAULT 0;
CREATE INDEX outbox_first_contact ON outbox (created_at) WHERE first_contact = 1;
