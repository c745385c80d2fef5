-- When the newest operation swept from a person's history started: a restore
-- to that moment or earlier would leave that operation's changes in place, so
-- it is refused rather than done inexactly.
ALTER TABLE users ADD COLUMN history_swept_through TIMESTAMPTZ;
