-- The intake core: tickets, what happened to them, every input's outcome, and the outbox.

CREATE TABLE raw_messages (
    id          INTEGER PRIMARY KEY,
    sha256      TEXT    NOT NULL,
    redacted    INTEGER NOT NULL DEFAULT 0,
    bytes       BLOB    NOT NULL
) STRICT;

CREATE TABLE tickets (
    id               INTEGER PRIMARY KEY,
    number           INTEGER NOT NULL UNIQUE,
    status           TEXT    NOT NULL DEFAULT 'new'
                     CHECK (status IN ('new', 'assigned', 'waiting', 'resolved', 'closed')),
    priority         TEXT    NOT NULL CHECK (priority IN ('critical', 'high', 'normal', 'low')),
    category         TEXT    NOT NULL,
    skills           TEXT    NOT NULL DEFAULT '{}',
    tags             TEXT    NOT NULL DEFAULT '[]',
    site             TEXT,
    language         TEXT    NOT NULL,
    team             TEXT,
    agent_id         TEXT,
    channel          TEXT    NOT NULL,
    requester_email  TEXT,
    requester_name   TEXT,
    requester_phone  TEXT,
    subject          TEXT    NOT NULL,
    summary          TEXT    NOT NULL,
    machine_reason   TEXT,
    secrets_found    INTEGER NOT NULL DEFAULT 0,
    linked_ticket_id INTEGER REFERENCES tickets (id),
    access_token     TEXT    NOT NULL UNIQUE,
    created_at       TEXT    NOT NULL,
    due_at           TEXT    NOT NULL,
    updated_at       TEXT    NOT NULL
) STRICT;

CREATE INDEX tickets_agent_open ON tickets (agent_id, status);
CREATE INDEX tickets_requester ON tickets (requester_email);
CREATE INDEX tickets_queue ON tickets (status, priority, created_at);

-- Who may write into a ticket by its subject tag.
CREATE TABLE participants (
    ticket_id INTEGER NOT NULL REFERENCES tickets (id),
    address   TEXT    NOT NULL,
    PRIMARY KEY (ticket_id, address)
) STRICT, WITHOUT ROWID;

-- Every Message-ID we saw or sent, for In-Reply-To/References threading.
CREATE TABLE message_ids (
    message_id TEXT    NOT NULL PRIMARY KEY,
    ticket_id  INTEGER NOT NULL REFERENCES tickets (id)
) STRICT, WITHOUT ROWID;

CREATE TABLE events (
    id        INTEGER PRIMARY KEY,
    ticket_id INTEGER NOT NULL REFERENCES tickets (id),
    at        TEXT    NOT NULL,
    kind      TEXT    NOT NULL,
    author    TEXT,
    text      TEXT    NOT NULL,
    raw_id    INTEGER REFERENCES raw_messages (id)
) STRICT;

CREATE INDEX events_ticket ON events (ticket_id, id);

CREATE TABLE routing_decisions (
    id        INTEGER PRIMARY KEY,
    ticket_id INTEGER NOT NULL REFERENCES tickets (id),
    at        TEXT    NOT NULL,
    agent_id  TEXT,
    team      TEXT,
    reason    TEXT    NOT NULL
) STRICT;

-- One row per input we ever took: exactly once in. Keys are the channel's own id
-- (file digest, mailbox/UIDVALIDITY/UID) and, separately, sender + Message-ID.
CREATE TABLE intake_keys (
    key        TEXT    NOT NULL PRIMARY KEY,
    outcome    TEXT    NOT NULL,
    ticket_id  INTEGER REFERENCES tickets (id),
    at         TEXT    NOT NULL
) STRICT, WITHOUT ROWID;

-- What the guard held back, for review and release.
CREATE TABLE suppressed (
    id          INTEGER PRIMARY KEY,
    at          TEXT    NOT NULL,
    from_addr   TEXT,
    subject     TEXT    NOT NULL,
    reason      TEXT    NOT NULL,
    ticket_id   INTEGER REFERENCES tickets (id),
    raw_id      INTEGER REFERENCES raw_messages (id),
    released_at TEXT
) STRICT;

CREATE TABLE outbox (
    id              TEXT    NOT NULL PRIMARY KEY,
    ticket_id       INTEGER NOT NULL REFERENCES tickets (id),
    kind            TEXT    NOT NULL CHECK (kind IN ('ack', 'notify')),
    recipient       TEXT    NOT NULL,
    message_id      TEXT    NOT NULL,
    subject         TEXT    NOT NULL,
    body            BLOB    NOT NULL,
    status          TEXT    NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'sent', 'failed', 'bounced')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT    NOT NULL,
    last_error      TEXT,
    created_at      TEXT    NOT NULL,
    sent_at         TEXT
) STRICT;

CREATE INDEX outbox_due ON outbox (status, next_attempt_at);
CREATE INDEX outbox_recipient ON outbox (recipient, kind, created_at);

CREATE TABLE agent_state (
    agent_id         TEXT NOT NULL PRIMARY KEY,
    away             INTEGER NOT NULL DEFAULT 0,
    last_assigned_at TEXT
) STRICT, WITHOUT ROWID;
