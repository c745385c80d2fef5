-- The sign-in throttle becomes one row per key (an email or a client address)
-- counting the attempts of its current window, so that checking and counting an
-- attempt is one atomic upsert (sign_in_failures was read, then appended to).
DROP TABLE sign_in_failures;
CREATE TABLE sign_in_throttle (
    throttle_key      TEXT PRIMARY KEY,
    window_started_at INTEGER NOT NULL,
    attempts          INTEGER NOT NULL
);
CREATE INDEX sign_in_throttle_by_start ON sign_in_throttle (window_started_at);

-- "Sign out everywhere" and the sweep of expired sessions.
CREATE INDEX sessions_by_user ON sessions (user_id);
CREATE INDEX sessions_by_last_seen ON sessions (last_seen_at);
