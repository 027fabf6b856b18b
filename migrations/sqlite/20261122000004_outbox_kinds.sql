-- Two more kinds of mail to requesters: the note that a reply was added (only when a rule
-- asks for it) and the message that a request is resolved, with its rating links.
-- SQLite cannot change a CHECK constraint in place, so the table is rebuilt.

CREATE TABLE outbox_new (
    id              TEXT    NOT NULL PRIMARY KEY,
    ticket_id       INTEGER NOT NULL REFERENCES tickets (id),
    kind            TEXT    NOT NULL CHECK (kind IN ('ack', 'notify', 'added', 'resolved')),
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

INSERT INTO outbox_new
    (id, ticket_id, kind, recipient, message_id, subject, body, status, attempts,
     next_attempt_at, last_error, created_at, sent_at)
SELECT id, ticket_id, kind, recipient, message_id, subject, body, status, attempts,
       next_attempt_at, last_error, created_at, sent_at
FROM outbox;

DROP TABLE outbox;
ALTER TABLE outbox_new RENAME TO outbox;

CREATE INDEX outbox_due ON outbox (status, next_attempt_at);
CREATE INDEX outbox_recipient ON outbox (recipient, kind, created_at);
CREATE INDEX outbox_ticket ON outbox (ticket_id);
