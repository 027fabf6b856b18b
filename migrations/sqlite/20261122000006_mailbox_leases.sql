-- Which daemon polls which mailbox: one holder at a time, renewed while it works; another
-- daemon takes the mailbox over once the lease has expired (its holder died).
CREATE TABLE mailbox_leases (
    name       TEXT NOT NULL PRIMARY KEY,
    holder     TEXT NOT NULL,
    expires_at TEXT NOT NULL
) STRICT, WITHOUT ROWID;
