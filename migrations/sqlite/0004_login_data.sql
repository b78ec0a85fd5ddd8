-- Per-login storage for networks: encrypted key-value rows per login and
-- namespace (a Telegram session, a WhatsApp device store). Values are
-- sealed under their own purpose key, bound to their row.
CREATE TABLE login_data (
    bridge_id TEXT NOT NULL,
    login_id  TEXT NOT NULL,
    namespace TEXT NOT NULL,
    key       TEXT NOT NULL,
    value     BLOB NOT NULL,
    PRIMARY KEY (bridge_id, login_id, namespace, key)
);
