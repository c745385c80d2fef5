-- Faster identity writes, measured on 3.2M identities (BENCHMARKS.md): the kind
-- folds into the key, one letter before the value ('e' an email, 'p' a name
-- with a phone, 'n' a name alone), so the unique index compares one text and
-- the rows are narrower. A COPY of the same identities took 7.7 s into the
-- three columns and 5.5 s into the one. The store makes the same key
-- (`identity_key` in src/store/postgres.rs); the listings on the contacts
-- keep the kind and the value apart, and this function joins them.
CREATE FUNCTION identity_key(kind text, value text) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    RETURN CASE kind WHEN 'email' THEN 'e' WHEN 'name_phone' THEN 'p' WHEN 'name' THEN 'n' END || value;

-- A new table filled in one pass, rather than a rewrite in place that would
-- leave every old row behind as a dead one. An unknown kind has no key, which
-- NOT NULL refuses, as the kind's CHECK did.
CREATE TABLE keyed_identities (
    user_id    BIGINT NOT NULL,
    key        TEXT COLLATE "C" NOT NULL,
    contact_id BIGINT NOT NULL
);
INSERT INTO keyed_identities (user_id, key, contact_id)
    SELECT user_id, identity_key(kind, value), contact_id FROM contact_identities;
DROP TABLE contact_identities;
ALTER TABLE keyed_identities RENAME TO contact_identities;
ALTER TABLE contact_identities ADD CONSTRAINT contact_identities_key UNIQUE (user_id, key);

CREATE OR REPLACE FUNCTION delete_listed_identities() RETURNS trigger LANGUAGE plpgsql
    SET enable_hashjoin = off SET enable_mergejoin = off SET jit = off AS $$
BEGIN
    WITH listed AS MATERIALIZED (
        SELECT gone.user_id, gone.id, identity_key(listed->>0, listed->>1) AS key
        FROM gone, json_array_elements(gone.identities::json) AS listed)
    DELETE FROM contact_identities held USING listed
    WHERE held.user_id = listed.user_id AND held.key = listed.key AND held.contact_id = listed.id;
    RETURN NULL;
END
$$;
