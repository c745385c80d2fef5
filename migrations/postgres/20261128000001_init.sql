CREATE TABLE users (
    id            BIGSERIAL PRIMARY KEY,
    email         TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL
);

CREATE TABLE sessions (
    token_hash   TEXT PRIMARY KEY,
    user_id      BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at   TIMESTAMPTZ NOT NULL,
    last_seen_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE api_tokens (
    id           BIGSERIAL PRIMARY KEY,
    user_id      BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    token_hash   TEXT NOT NULL UNIQUE,
    created_at   TIMESTAMPTZ NOT NULL,
    last_used_at TIMESTAMPTZ,
    revoked_at   TIMESTAMPTZ
);

CREATE TABLE sign_in_failures (
    email TEXT NOT NULL,
    at    TIMESTAMPTZ NOT NULL
);
CREATE INDEX sign_in_failures_by_email ON sign_in_failures (email, at);

CREATE TABLE uploads (
    id         TEXT PRIMARY KEY,
    user_id    BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    file_name  TEXT NOT NULL,
    byte_size  BIGINT,            -- NULL while still receiving
    data_rows  BIGINT,
    sniffed    JSONB,
    created_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE upload_chunks (
    upload_id TEXT NOT NULL REFERENCES uploads(id) ON DELETE CASCADE,
    seq       BIGINT NOT NULL,
    data      BYTEA NOT NULL,
    PRIMARY KEY (upload_id, seq)
);

CREATE TABLE imports (
    id                    TEXT PRIMARY KEY,
    user_id               BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    upload_id             TEXT NOT NULL,
    file_name             TEXT NOT NULL,
    status                TEXT NOT NULL CHECK (status IN ('queued','processing','succeeded','failed','cancelled','abandoned')),
    attempt               INTEGER NOT NULL DEFAULT 0,
    owner                 TEXT,
    sniffed               JSONB NOT NULL,
    mapping               JSONB NOT NULL,
    rows_total            BIGINT,
    rows_done             BIGINT NOT NULL DEFAULT 0,
    created               BIGINT NOT NULL DEFAULT 0,
    updated               BIGINT NOT NULL DEFAULT 0,
    unchanged             BIGINT NOT NULL DEFAULT 0,
    rejected              BIGINT NOT NULL DEFAULT 0,
    skipped               BIGINT NOT NULL DEFAULT 0,
    cancel_requested      BOOLEAN NOT NULL DEFAULT FALSE,
    failure_reason        TEXT,
    created_at            TIMESTAMPTZ NOT NULL,
    processing_started_at TIMESTAMPTZ,
    last_progress_at      TIMESTAMPTZ,
    finished_at           TIMESTAMPTZ
);
-- The guard: one active import per user. A second insert fails, and that is the answer.
CREATE UNIQUE INDEX imports_one_active_per_user ON imports (user_id) WHERE status IN ('queued', 'processing');
CREATE INDEX imports_queue ON imports (created_at) WHERE status = 'queued';
CREATE INDEX imports_by_user ON imports (user_id, created_at);

CREATE TABLE import_errors (
    import_id TEXT NOT NULL REFERENCES imports(id) ON DELETE CASCADE,
    line      BIGINT NOT NULL,
    reason    TEXT NOT NULL,
    PRIMARY KEY (import_id, line)
);

CREATE TABLE contacts (
    id           BIGSERIAL PRIMARY KEY,
    user_id      BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    match_key    TEXT NOT NULL,
    display_name TEXT NOT NULL,
    given_name   TEXT NOT NULL,
    family_name  TEXT NOT NULL,
    emails       JSONB NOT NULL,  -- array, primary first
    phones       JSONB NOT NULL,  -- array of {raw, normalized}
    organization TEXT NOT NULL,
    title        TEXT NOT NULL,
    notes        TEXT NOT NULL,
    search_text  TEXT NOT NULL,
    import_id    TEXT NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL,
    updated_at   TIMESTAMPTZ NOT NULL,
    UNIQUE (user_id, match_key)
);
CREATE INDEX contacts_by_name ON contacts (user_id, display_name);

CREATE TABLE instances (
    id           TEXT PRIMARY KEY,
    heartbeat_at TIMESTAMPTZ NOT NULL
);
