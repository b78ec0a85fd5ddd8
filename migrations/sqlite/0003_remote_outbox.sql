-- Remote→Matrix: each event from the network, committed before anything
-- acknowledges it to the network, and deleted once it is on the homeserver.
-- What a crash interrupts is sent at the next start, with the same
-- transaction IDs, so the homeserver never shows it twice.
CREATE TABLE remote_outbox (
    seq       INTEGER PRIMARY KEY AUTOINCREMENT,
    bridge_id TEXT    NOT NULL,
    portal_id TEXT    NOT NULL,
    receiver  TEXT    NOT NULL,
    event     TEXT    NOT NULL,
    queued_at BIGINT  NOT NULL
);
CREATE INDEX remote_outbox_portal ON remote_outbox (bridge_id, portal_id, receiver, seq);
