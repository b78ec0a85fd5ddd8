-- Which logged events are still to be processed, in a narrow table of their
-- own. Marking an event processed used to rewrite its row of the log, body
-- and all: events of many rooms interleave in the log, so a room's batch of
-- marks dirtied about one page of the log per event, and took each out of
-- two partial indexes. Now it deletes the event's entry here, a few dozen
-- bytes, and a room's entries sit together in the second index.
-- `ingress_event.processed_at` is no longer written.
CREATE TABLE ingress_pending (
    bridge_id TEXT    NOT NULL,
    seq       INTEGER NOT NULL,
    room_id   TEXT,
    PRIMARY KEY (bridge_id, seq)
) WITHOUT ROWID;
CREATE INDEX ingress_pending_room ON ingress_pending (bridge_id, room_id, seq);

INSERT INTO ingress_pending (bridge_id, seq, room_id)
    SELECT bridge_id, seq, room_id FROM ingress_event WHERE processed_at IS NULL;
DROP INDEX ingress_event_pending;
DROP INDEX ingress_event_room_pending;

-- Every event the log takes is pending until it is processed. A trigger, so
-- the insert's own count of new rows and its last rowid stay its own.
CREATE TRIGGER ingress_event_pending AFTER INSERT ON ingress_event
BEGIN
    INSERT INTO ingress_pending (bridge_id, seq, room_id) VALUES (NEW.bridge_id, NEW.seq, NEW.room_id);
END;
