-- Attempts fence writes; failures decide when to give up. An import fails only
-- after IMPORT_MAX_ATTEMPTS failures at one checkpoint (a poison batch), never
-- because it was claimed often while it made progress.
ALTER TABLE imports
    ADD COLUMN failures          INTEGER NOT NULL DEFAULT 0,  -- failures counted at failed_checkpoint
    ADD COLUMN failed_checkpoint BIGINT,                      -- rows_done when the last failure was counted
    ADD COLUMN claim_checkpoint  BIGINT NOT NULL DEFAULT 0,   -- rows_done when the current attempt was claimed
    ADD COLUMN checkpoint_line   BIGINT NOT NULL DEFAULT 0;   -- the file line of the last committed row
