-- Full contacts: a contact is one JSON document (`card`) holding what vCard
-- 4.0 can say, every value with its label, and its photo in a column beside
-- it (most reads never need the bytes). Text, not jsonb: only the server reads
-- it, whole, and COPY writes text as it is. The old columns move into the
-- document, nothing dropped: emails become labelled values, phones keep
-- {raw, normalized}, the organization and title become the first
-- organization. Notes, now searchable, join the search text.
ALTER TABLE contacts ADD COLUMN card TEXT NOT NULL DEFAULT '{}', ADD COLUMN photo TEXT;
UPDATE contacts SET
    card = json_build_object(
        'display_name', display_name,
        'name', json_build_object('given', given_name, 'family', family_name),
        'emails', COALESCE((SELECT json_agg(json_build_object('value', e)) FROM json_array_elements_text(emails::json) AS e), '[]'::json),
        'phones', COALESCE((SELECT json_agg(json_build_object('value', p)) FROM json_array_elements(phones::json) AS p), '[]'::json),
        'organizations', CASE WHEN organization <> '' OR title <> ''
            THEN json_build_array(json_build_object('value', json_build_object('name', organization, 'title', title)))
            ELSE '[]'::json END,
        'notes', notes)::text,
    search_text = CASE WHEN search_text IS NULL OR notes = '' THEN search_text
                       ELSE search_text || lower(notes) || E'\n' END;
ALTER TABLE contacts ALTER COLUMN card DROP DEFAULT,
    DROP COLUMN given_name, DROP COLUMN family_name, DROP COLUMN emails, DROP COLUMN phones,
    DROP COLUMN organization, DROP COLUMN title, DROP COLUMN notes;

-- A row that imported with a warning (a value kept as a custom field, a value
-- past the cap) keeps it beside the row errors, one line each.
ALTER TABLE import_errors ADD COLUMN warning BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE imports ADD COLUMN warned BIGINT NOT NULL DEFAULT 0, ADD COLUMN kept_beside BIGINT NOT NULL DEFAULT 0;
