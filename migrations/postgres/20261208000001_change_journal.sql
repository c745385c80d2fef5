-- The change journal: every change to a person's contacts, with the contact as
-- it was before (its name, document, photo, listed identities and creation
-- time; nothing for a contact the change created). An undo restores, newest
-- first, the state before each change since a point. Keyed by person and then
-- by the order of the changes, which is the order they are undone in: a
-- person's changes come from one operation at a time (the guard), so the
-- changes of one operation are a run of ids.
-- No foreign key: a batch writes thousands of entries by COPY, and a check per
-- entry would cost its import; a person's deletion deletes them by the trigger below.
CREATE TABLE contact_changes (
    user_id    BIGINT NOT NULL,
    id         BIGSERIAL,
    contact_id BIGINT NOT NULL,
    action     CHAR(1) NOT NULL,   -- 'c' created, 'u' updated, 'd' deleted or merged away
    at         TIMESTAMPTZ NOT NULL,
    name       TEXT,
    card       TEXT,
    photo      TEXT,
    identities TEXT,
    created_at TIMESTAMPTZ,
    PRIMARY KEY (user_id, id)
);

-- Each operation that changed contacts (an import, an undo, an edit, a deletion)
-- and the first change it made: its changes are those from there to the next
-- operation's first. `undone_by` names the undo that took it back.
CREATE TABLE history_ops (
    op_id        TEXT PRIMARY KEY,
    user_id      BIGINT NOT NULL,
    kind         TEXT NOT NULL,
    label        TEXT NOT NULL,
    first_change BIGINT NOT NULL,
    started_at   TIMESTAMPTZ NOT NULL,
    undone_by    TEXT
);
CREATE INDEX history_ops_by_user ON history_ops (user_id, first_change);

CREATE OR REPLACE FUNCTION delete_user_history() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM contact_changes WHERE user_id = OLD.id;
    DELETE FROM history_ops WHERE user_id = OLD.id;
    RETURN OLD;
END
$$;
CREATE TRIGGER history_goes_with_its_user AFTER DELETE ON users
    FOR EACH ROW EXECUTE FUNCTION delete_user_history();

-- Jobs besides imports run through the same queue and guard: an undo (or a
-- restore to a moment) and a deletion of many contacts.
ALTER TABLE imports
    ADD COLUMN kind TEXT NOT NULL DEFAULT 'import',
    ADD COLUMN params TEXT,
    ADD COLUMN job_cursor BIGINT,
    ADD COLUMN restored BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN reverted BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN removed BIGINT NOT NULL DEFAULT 0;
