-- Which logged events are still to be processed, in a narrow table of their
-- own (see the SQLite migration of the same name): marking an event
-- processed deletes its entry here instead of rewriting its row of the log.
-- `ingress_event.processed_at` is no longer written.
CREATE TABLE ingress_pending (
    bridge_id TEXT   NOT NULL,
    seq       BIGINT NOT NULL,
    room_id   TEXT,
    PRIMARY KEY (bridge_id, seq)
);
CREATE INDEX ingress_pending_room ON ingress_pending (bridge_id, room_id, seq);

INSERT INTO ingress_pending (bridge_id, seq, room_id)
    SELECT bridge_id, seq, room_id FROM ingress_event WHERE processed_at IS NULL;
DROP INDEX ingress_event_pending;
DROP INDEX ingress_event_room_pending;

-- Every event the log takes is pending until it is processed: one insert
-- per statement, of the rows the statement added.
CREATE FUNCTION ingress_event_pending() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO ingress_pending (bridge_id, seq, room_id)
        SELECT bridge_id, seq, room_id FROM logged;
    RETURN NULL;
END
$$;
CREATE TRIGGER ingress_event_pending AFTER INSERT ON ingress_event
    REFERENCING NEW TABLE AS logged
    FOR EACH STATEMENT EXECUTE FUNCTION ingress_event_pending();
