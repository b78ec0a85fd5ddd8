-- A room that fell behind reads its own unprocessed events back from the
-- log, while the dispatcher goes on with the other rooms.
CREATE INDEX ingress_event_room_pending ON ingress_event (bridge_id, room_id, seq) WHERE processed_at IS NULL;
