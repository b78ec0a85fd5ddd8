-- Which logins are in which portal's chat, and which one relays for users
-- without a login of their own (at most one per portal).
CREATE TABLE portal_login (
    bridge_id TEXT   NOT NULL,
    portal_id TEXT   NOT NULL,
    receiver  TEXT   NOT NULL,
    login_id  TEXT   NOT NULL,
    relay     BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (bridge_id, portal_id, receiver, login_id)
);
CREATE INDEX portal_login_by_login ON portal_login (bridge_id, login_id);
