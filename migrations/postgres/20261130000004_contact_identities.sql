-- Contact identity: a row matches a contact by ANY of the contact's identities
-- (each email; the name with each phone), each unique per user, instead of one
-- match_key (the first email, else the name and first phone).
-- search_text is the case-folded searchable text, folded in Rust so both backends
-- fold alike; NULL marks a contact from before this migration, whose identities
-- and search text the server computes at start-up (store::backfill_identities).
ALTER TABLE contacts DROP COLUMN match_key;  -- and its UNIQUE (user_id, match_key)
ALTER TABLE contacts ADD COLUMN search_text TEXT;
CREATE INDEX contacts_by_user ON contacts (user_id);
CREATE INDEX contacts_to_backfill ON contacts (id) WHERE search_text IS NULL;

CREATE TABLE contact_identities (
    user_id    BIGINT NOT NULL,
    kind       TEXT NOT NULL CHECK (kind IN ('email', 'name_phone', 'name')),
    value      TEXT NOT NULL,
    contact_id BIGINT NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,
    UNIQUE (user_id, kind, value)
);
-- With user_id, so SQLite prefers it to the unique index for "this user's contacts' identities".
CREATE INDEX contact_identities_by_contact ON contact_identities (contact_id, user_id);

ALTER TABLE imports ADD COLUMN merged BIGINT NOT NULL DEFAULT 0;
