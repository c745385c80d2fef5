-- The change journal: every change to a person's contacts, with the contact as
-- it was before (its name, document, photo, listed identities and creation
-- time; nothing for a contact the change created). An undo restores, newest
-- first, the state before each change since a point. Keyed by person and then
-- by the order of the changes, which is the order they are undone in: a
-- person's changes come from one operation at a time (the guard), so the
-- changes of one operation are a run of ids.
-- No foreign key: a batch writes thousands of entries, and a check per entry
-- would cost its import; a person's deletion deletes them by the trigger below.
CREATE TABLE contact_changes (
    user_id    INTEGER NOT NULL,
    id         INTEGER NOT NULL,
    contact_id INTEGER NOT NULL,
    action     TEXT NOT NULL,   -- 'c' created, 'u' updated, 'd' deleted or merged away
    at         INTEGER NOT NULL,
    name       TEXT,
    card       TEXT,
    photo      TEXT,
    identities TEXT,
    created_at INTEGER,
    PRIMARY KEY (user_id, id)
) WITHOUT ROWID;

-- Each operation that changed contacts (an import, an undo, an edit, a deletion)
-- and the first change it made: its changes are those from there to the next
-- operation's first. `undone_by` names the undo that took it back.
CREATE TABLE history_ops (
    op_id        TEXT PRIMARY KEY,
    user_id      INTEGER NOT NULL,
    kind         TEXT NOT NULL,
    label        TEXT NOT NULL,
    first_change INTEGER NOT NULL,
    started_at   INTEGER NOT NULL,
    undone_by    TEXT
);
CREATE INDEX history_ops_by_user ON history_ops (user_id, first_change);

CREATE TRIGGER history_goes_with_its_user AFTER DELETE ON users
BEGIN
    DELETE FROM contact_changes WHERE user_id = OLD.id;
    DELETE FROM history_ops WHERE user_id = OLD.id;
END;

-- Ids are never used twice: an undo brings a contact back under its own id, and
-- ids are shared by every person. MAX(id) + 1 would hand out again the id of a
-- contact deleted last.
CREATE TABLE id_counters (
    name TEXT PRIMARY KEY,
    next INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO id_counters (name, next) VALUES
    ('contacts', (SELECT COALESCE(MAX(id), 0) + 1 FROM contacts)),
    ('contact_changes', 1);

-- Jobs besides imports run through the same queue and guard: an undo (or a
-- restore to a moment) and a deletion of many contacts.
ALTER TABLE imports ADD COLUMN kind TEXT NOT NULL DEFAULT 'import';
ALTER TABLE imports ADD COLUMN params TEXT;
ALTER TABLE imports ADD COLUMN job_cursor INTEGER;
ALTER TABLE imports ADD COLUMN restored INTEGER NOT NULL DEFAULT 0;
ALTER TABLE imports ADD COLUMN reverted INTEGER NOT NULL DEFAULT 0;
ALTER TABLE imports ADD COLUMN removed INTEGER NOT NULL DEFAULT 0;
