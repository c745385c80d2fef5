-- Times are Unix milliseconds (UTC), so they compare as numbers.

CREATE TABLE users (
    id            INTEGER PRIMARY KEY,
    email         TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    created_at    INTEGER NOT NULL
);

CREATE TABLE sessions (
    token_hash   TEXT PRIMARY KEY,
    user_id      INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at   INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL
);

CREATE TABLE api_tokens (
    id           INTEGER PRIMARY KEY,
    user_id      INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    token_hash   TEXT NOT NULL UNIQUE,
    created_at   INTEGER NOT NULL,
    last_used_at INTEGER,
    revoked_at   INTEGER
);

CREATE TABLE sign_in_failures (
    email TEXT NOT NULL,
    at    INTEGER NOT NULL
);
CREATE INDEX sign_in_failures_by_email ON sign_in_failures (email, at);

CREATE TABLE uploads (
    id         TEXT PRIMARY KEY,
    user_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    file_name  TEXT NOT NULL,
    byte_size  INTEGER,           -- NULL while still receiving
    data_rows  INTEGER,
    sniffed    TEXT,
    created_at INTEGER NOT NULL
);

CREATE TABLE upload_chunks (
    upload_id TEXT NOT NULL REFERENCES uploads(id) ON DELETE CASCADE,
    seq       INTEGER NOT NULL,
    data      BLOB NOT NULL,
    PRIMARY KEY (upload_id, seq)
) WITHOUT ROWID;

CREATE TABLE imports (
    id                    TEXT PRIMARY KEY,
    user_id               INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    upload_id             TEXT NOT NULL,
    file_name             TEXT NOT NULL,
    status                TEXT NOT NULL CHECK (status IN ('queued','processing','succeeded','failed','cancelled','abandoned')),
    attempt               INTEGER NOT NULL DEFAULT 0,
    owner                 TEXT,
    sniffed               TEXT NOT NULL,
    mapping               TEXT NOT NULL,
    rows_total            INTEGER,
    rows_done             INTEGER NOT NULL DEFAULT 0,
    created               INTEGER NOT NULL DEFAULT 0,
    updated               INTEGER NOT NULL DEFAULT 0,
    unchanged             INTEGER NOT NULL DEFAULT 0,
    rejected              INTEGER NOT NULL DEFAULT 0,
    skipped               INTEGER NOT NULL DEFAULT 0,
    cancel_requested      INTEGER NOT NULL DEFAULT 0,
    failure_reason        TEXT,
    created_at            INTEGER NOT NULL,
    processing_started_at INTEGER,
    last_progress_at      INTEGER,
    finished_at           INTEGER
);
-- The guard: one active import per user. A second insert fails, and that is the answer.
CREATE UNIQUE INDEX imports_one_active_per_user ON imports (user_id) WHERE status IN ('queued', 'processing');
CREATE INDEX imports_queue ON imports (created_at) WHERE status = 'queued';
CREATE INDEX imports_by_user ON imports (user_id, created_at);

CREATE TABLE import_errors (
    import_id TEXT NOT NULL REFERENCES imports(id) ON DELETE CASCADE,
    line      INTEGER NOT NULL,
    reason    TEXT NOT NULL,
    PRIMARY KEY (import_id, line)
) WITHOUT ROWID;

CREATE TABLE contacts (
    id           INTEGER PRIMARY KEY,
    user_id      INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    match_key    TEXT NOT NULL,
    display_name TEXT NOT NULL,
    given_name   TEXT NOT NULL,
    family_name  TEXT NOT NULL,
    emails       TEXT NOT NULL,   -- JSON array, primary first
    phones       TEXT NOT NULL,   -- JSON array of {raw, normalized}
    organization TEXT NOT NULL,
    title        TEXT NOT NULL,
    notes        TEXT NOT NULL,
    search_text  TEXT NOT NULL,
    import_id    TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    UNIQUE (user_id, match_key)
);
CREATE INDEX contacts_by_name ON contacts (user_id, display_name);

CREATE TABLE instances (
    id           TEXT PRIMARY KEY,
    heartbeat_at INTEGER NOT NULL
);
