-- Issue 21, the holes in the abuse bounds.
-- An import started by a script in one step holds its person's slot while its
-- file arrives: it waits in the queue, not claimable, owned by the receiving
-- instance (so recovery can end it if that instance dies).
ALTER TABLE imports ADD COLUMN receiving BOOLEAN NOT NULL DEFAULT FALSE;
-- Each upload's bytes, reserved chunk by chunk against its person's quota in the
-- transaction that stores the chunk (under the person's row lock), so parallel
-- uploads share the quota.
ALTER TABLE uploads ADD COLUMN received_bytes BIGINT NOT NULL DEFAULT 0;
UPDATE uploads SET received_bytes = (SELECT COALESCE(SUM(octet_length(data)), 0) FROM upload_chunks WHERE upload_id = uploads.id);
CREATE INDEX uploads_by_user ON uploads (user_id);
-- The sweep deletes imports that ended more than IMPORT_RETENTION ago.
CREATE INDEX imports_ended ON imports (finished_at) WHERE status NOT IN ('queued', 'processing');
