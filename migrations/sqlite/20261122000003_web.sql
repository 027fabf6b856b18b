-- Staff who sign in to the web pages, API tokens, and requesters' ratings.

CREATE TABLE users (
    name          TEXT    NOT NULL PRIMARY KEY,
    role          TEXT    NOT NULL CHECK (role IN ('receptionist', 'agent', 'admin')),
    password_hash TEXT    NOT NULL,
    -- Raised by log-out and password changes: every older session cookie stops working.
    session_epoch INTEGER NOT NULL DEFAULT 0,
    created_at    TEXT    NOT NULL
) STRICT, WITHOUT ROWID;

-- Tokens are random and high-entropy, so a SHA-256 digest is enough to check them.
CREATE TABLE api_tokens (
    sha256     TEXT NOT NULL PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    role       TEXT NOT NULL CHECK (role IN ('receptionist', 'agent', 'admin')),
    created_at TEXT NOT NULL
) STRICT, WITHOUT ROWID;

ALTER TABLE tickets ADD COLUMN resolved_at TEXT;
ALTER TABLE tickets ADD COLUMN rating INTEGER CHECK (rating BETWEEN 1 AND 5);
ALTER TABLE tickets ADD COLUMN rating_comment TEXT;

CREATE INDEX tickets_phone ON tickets (requester_phone);

-- A ticket's deliveries, shown on the ticket and in the API.
CREATE INDEX outbox_ticket ON outbox (ticket_id);
