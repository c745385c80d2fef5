-- A deletion's identities go in one statement per deleting statement, not in
-- a plpgsql loop per contact: an undo of a large import deletes thousands of
-- contacts per statement, and the loop cost it more than the deletion itself.
-- Each listed identity is a probe of the unique key, whatever the size: the
-- list is materialized first (else the planner joins every identity of the
-- person to the deleted rows before it can read their lists), and hash and
-- merge joins, which would scan the person's identities to delete a few, are
-- off, as is JIT, which a large estimate would start for a one-row deletion.
CREATE FUNCTION delete_listed_identities() RETURNS trigger LANGUAGE plpgsql
    SET enable_hashjoin = off SET enable_mergejoin = off SET jit = off AS $$
BEGIN
    WITH listed AS MATERIALIZED (
        SELECT gone.user_id, gone.id, listed->>0 AS kind, listed->>1 AS value
        FROM gone, json_array_elements(gone.identities::json) AS listed)
    DELETE FROM contact_identities held USING listed
    WHERE held.user_id = listed.user_id AND held.kind = listed.kind AND held.value = listed.value
      AND held.contact_id = listed.id;
    RETURN NULL;
END
$$;
DROP TRIGGER contact_identities_go_with_their_contact ON contacts;
CREATE TRIGGER contact_identities_go_with_their_contact AFTER DELETE ON contacts
    REFERENCING OLD TABLE AS gone FOR EACH STATEMENT EXECUTE FUNCTION delete_listed_identities();
DROP FUNCTION delete_contact_identities();
