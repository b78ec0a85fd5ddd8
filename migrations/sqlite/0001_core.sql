-- Causeway core schema (SQLite). Every table is keyed by bridge_id so that
-- several bridges can share one database.

-- The ingress log: every event the homeserver pushed, committed before we
-- answer 200 and processed from here, so a crash loses nothing.
CREATE TABLE ingress_event (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    bridge_id    TEXT    NOT NULL,
    event_id     TEXT,
    room_id      TEXT,
    kind         TEXT    NOT NULL,
    body         TEXT    NOT NULL,
    received_at  BIGINT  NOT NULL,
    processed_at BIGINT
);
CREATE UNIQUE INDEX ingress_event_dedupe ON ingress_event (bridge_id, event_id);
CREATE INDEX ingress_event_pending ON ingress_event (bridge_id, seq) WHERE processed_at IS NULL;

-- Transactions seen, with a digest of their body: a retry carries the same
-- body, a homeserver that restarted its txnIds at 1 does not.
CREATE TABLE ingress_txn (
    bridge_id   TEXT   NOT NULL,
    txn_id      TEXT   NOT NULL,
    digest      TEXT   NOT NULL,
    received_at BIGINT NOT NULL,
    PRIMARY KEY (bridge_id, txn_id)
);

CREATE TABLE matrix_user (
    bridge_id       TEXT NOT NULL,
    mxid            TEXT NOT NULL,
    management_room TEXT,
    settings        TEXT NOT NULL DEFAULT '{}',
    PRIMARY KEY (bridge_id, mxid)
);

CREATE TABLE login (
    bridge_id   TEXT   NOT NULL,
    login_id    TEXT   NOT NULL,
    mxid        TEXT   NOT NULL,
    remote_name TEXT   NOT NULL,
    secret      BLOB,
    metadata    TEXT   NOT NULL DEFAULT '{}',
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (bridge_id, login_id)
);
CREATE INDEX login_by_user ON login (bridge_id, mxid);

CREATE TABLE portal (
    bridge_id TEXT   NOT NULL,
    portal_id TEXT   NOT NULL,
    receiver  TEXT   NOT NULL DEFAULT '',
    room_id   TEXT,
    name      TEXT,
    topic     TEXT,
    plumbed   BIGINT NOT NULL DEFAULT 0,
    metadata  TEXT   NOT NULL DEFAULT '{}',
    PRIMARY KEY (bridge_id, portal_id, receiver)
);
CREATE UNIQUE INDEX portal_by_room ON portal (bridge_id, room_id);

CREATE TABLE ghost (
    bridge_id      TEXT   NOT NULL,
    remote_id      TEXT   NOT NULL,
    mxid           TEXT   NOT NULL,
    displayname    TEXT,
    avatar_mxc     TEXT,
    registered     BIGINT NOT NULL DEFAULT 0,
    metadata       TEXT   NOT NULL DEFAULT '{}',
    PRIMARY KEY (bridge_id, remote_id)
);
CREATE UNIQUE INDEX ghost_by_mxid ON ghost (bridge_id, mxid);

CREATE TABLE message (
    bridge_id  TEXT   NOT NULL,
    portal_id  TEXT   NOT NULL,
    receiver   TEXT   NOT NULL DEFAULT '',
    remote_id  TEXT   NOT NULL,
    part_id    TEXT   NOT NULL DEFAULT '',
    event_id   TEXT   NOT NULL,
    room_id    TEXT   NOT NULL,
    sender     TEXT   NOT NULL,
    timestamp  BIGINT NOT NULL,
    PRIMARY KEY (bridge_id, portal_id, receiver, remote_id, part_id)
);
CREATE UNIQUE INDEX message_by_event ON message (bridge_id, event_id);

CREATE TABLE reaction (
    bridge_id         TEXT   NOT NULL,
    portal_id         TEXT   NOT NULL,
    receiver          TEXT   NOT NULL DEFAULT '',
    remote_message_id TEXT   NOT NULL,
    remote_sender     TEXT   NOT NULL,
    emoji             TEXT   NOT NULL,
    event_id          TEXT   NOT NULL,
    timestamp         BIGINT NOT NULL,
    PRIMARY KEY (bridge_id, portal_id, receiver, remote_message_id, remote_sender, emoji)
);
CREATE UNIQUE INDEX reaction_by_event ON reaction (bridge_id, event_id);

CREATE TABLE kv (
    bridge_id TEXT NOT NULL,
    key       TEXT NOT NULL,
    value     TEXT NOT NULL,
    PRIMARY KEY (bridge_id, key)
);
