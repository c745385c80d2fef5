-- Attempts fence writes; failures decide when to give up. An import fails only
-- after IMPORT_MAX_ATTEMPTS failures at one checkpoint (a poison batch), never
-- because it was claimed often while it made progress.
ALTER TABLE imports ADD COLUMN failures INTEGER NOT NULL DEFAULT 0;   -- failures counted at failed_checkpoint
ALTER TABLE imports ADD COLUMN failed_checkpoint INTEGER;             -- rows_done when the last failure was counted
ALTER TABLE imports ADD COLUMN claim_checkpoint INTEGER NOT NULL DEFAULT 0; -- rows_done when the current attempt was claimed
ALTER TABLE imports ADD COLUMN checkpoint_line INTEGER NOT NULL DEFAULT 0;  -- the file line of the last committed row
