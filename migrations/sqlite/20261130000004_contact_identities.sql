-- Contact identity: a row matches a contact by ANY of the contact's identities
-- (each email; the name with each phone), each unique per user, instead of one
-- match_key (the first email, else the name and first phone).
-- search_text is the case-folded searchable text, folded in Rust (SQLite folds
-- ASCII only); NULL marks a contact from before this migration, whose identities
-- and search text the server computes at start-up (store::backfill_identities).
-- SQLite cannot drop a column under a UNIQUE constraint, so contacts is rebuilt.
CREATE TABLE contacts_new (
    id           INTEGER PRIMARY KEY,
    user_id      INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    display_name TEXT NOT NULL,
    given_name   TEXT NOT NULL,
    family_name  TEXT NOT NULL,
    emails       TEXT NOT NULL,   -- JSON array, primary first
    phones       TEXT NOT NULL,   -- JSON array of {raw, normalized}
    organization TEXT NOT NULL,
    title        TEXT NOT NULL,
    notes        TEXT NOT NULL,
    search_text  TEXT,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
);
INSERT INTO contacts_new (id, user_id, display_name, given_name, family_name, emails, phones,
                          organization, title, notes, created_at, updated_at)
SELECT id, user_id, display_name, given_name, family_name, emails, phones,
       organization, title, notes, created_at, updated_at
FROM contacts;
DROP TABLE contacts;
ALTER TABLE contacts_new RENAME TO contacts;
CREATE INDEX contacts_by_user ON contacts (user_id);
CREATE INDEX contacts_to_backfill ON contacts (id) WHERE search_text IS NULL;

CREATE TABLE contact_identities (
    user_id    INTEGER NOT NULL,
    kind       TEXT NOT NULL CHECK (kind IN ('email', 'name_phone', 'name')),
    value      TEXT NOT NULL,
    contact_id INTEGER NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,
    UNIQUE (user_id, kind, value)
);
-- With user_id, so SQLite prefers it to the unique index for "this user's contacts' identities".
CREATE INDEX contact_identities_by_contact ON contact_identities (contact_id, user_id);

ALTER TABLE imports ADD COLUMN merged INTEGER NOT NULL DEFAULT 0;
