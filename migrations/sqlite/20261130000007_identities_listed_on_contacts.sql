-- Each contact lists its identities, `[[kind, value], …]`, in the row it is
-- written in anyway. The index from contact to identities goes: two more B-tree
-- entries for every contact an import wrote (BENCHMARKS.md). Its readers now use
-- the list: the planner loads a matched contact's identities from it, and the
-- trigger below deletes a deleted contact's identities by their unique key.
-- A merged contact's identities go with it and are stored again for the survivor.
ALTER TABLE contacts ADD COLUMN identities TEXT;
UPDATE contacts SET identities = (
    SELECT json_group_array(json_array(i.kind, i.value)) FROM contact_identities i
    WHERE i.contact_id = contacts.id AND i.user_id = contacts.user_id)
WHERE search_text IS NOT NULL;
DROP TRIGGER contact_identities_go_with_their_contact;
DROP INDEX contact_identities_by_contact;
-- `(kind, value) IN (…)` beside user_id searches the whole primary key per listed identity.
CREATE TRIGGER contact_identities_go_with_their_contact AFTER DELETE ON contacts
BEGIN
    DELETE FROM contact_identities
    WHERE user_id = OLD.user_id AND contact_id = OLD.id
      AND (kind, value) IN (SELECT json_extract(listed.value, '$[0]'), json_extract(listed.value, '$[1]')
                            FROM json_each(OLD.identities) AS listed);
END;
