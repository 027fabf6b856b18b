-- Where each IMAP mailbox was read up to: UIDVALIDITY + the last UID taken, decided by the
-- database (not by \Seen, which a person reading the mailbox could set).
CREATE TABLE mailbox_cursors (
    name        TEXT    NOT NULL PRIMARY KEY,
    uidvalidity INTEGER NOT NULL,
    last_uid    INTEGER NOT NULL,
    updated_at  TEXT    NOT NULL
) STRICT, WITHOUT ROWID;
