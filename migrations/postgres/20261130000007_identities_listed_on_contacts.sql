-- Each contact lists its identities, `[[kind, value], …]`, in the row it is
-- written in anyway. The index from contact to identities goes: two more index
-- entries for every contact an import wrote (BENCHMARKS.md). Its readers now use
-- the list: the planner loads a matched contact's identities from it, and the
-- trigger below deletes a deleted contact's identities by their unique key.
-- A merged contact's identities go with it and are stored again for the survivor.
-- Text, not jsonb: only the trigger parses it, and COPY writes text as it is.
ALTER TABLE contacts ADD COLUMN identities TEXT;
UPDATE contacts c SET identities = (
    SELECT COALESCE(json_agg(json_build_array(i.kind, i.value)), '[]')::text FROM contact_identities i
    WHERE i.contact_id = c.id AND i.user_id = c.user_id)
WHERE search_text IS NOT NULL;
DROP INDEX contact_identities_by_contact;
-- One statement per listed identity, each a probe of the unique key: a join
-- could be planned as a scan of the user's identities per deleted contact.
CREATE OR REPLACE FUNCTION delete_contact_identities() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    listed json;
BEGIN
    FOR listed IN SELECT json_array_elements(OLD.identities::json) LOOP
        DELETE FROM contact_identities
        WHERE user_id = OLD.user_id AND kind = listed->>0 AND value = listed->>1 AND contact_id = OLD.id;
    END LOOP;
    RETURN OLD;
END
$$;
