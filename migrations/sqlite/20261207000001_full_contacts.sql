-- Full contacts: a contact is one JSON document (`card`) holding what vCard
-- 4.0 can say, every value with its label, and its photo in a column beside
-- it (most reads never need the bytes). The old columns move into the
-- document, nothing dropped: emails become labelled values, phones keep
-- {raw, normalized}, the organization and title become the first
-- organization. Notes, now searchable, join the search text (SQLite's lower()
-- folds ASCII; a contact written again gets Rust's full folding).
ALTER TABLE contacts ADD COLUMN card TEXT NOT NULL DEFAULT '{}';
ALTER TABLE contacts ADD COLUMN photo TEXT;
UPDATE contacts SET
    card = json_object(
        'display_name', display_name,
        'name', json_object('given', given_name, 'family', family_name),
        'emails', json((SELECT json_group_array(json_object('value', e.value)) FROM json_each(contacts.emails) AS e)),
        'phones', json((SELECT json_group_array(json_object('value', json(p.value))) FROM json_each(contacts.phones) AS p)),
        'organizations', CASE WHEN organization <> '' OR title <> ''
            THEN json_array(json_object('value', json_object('name', organization, 'title', title)))
            ELSE json_array() END,
        'notes', notes),
    search_text = CASE WHEN search_text IS NULL OR notes = '' THEN search_text
                       ELSE search_text || lower(notes) || char(10) END;
ALTER TABLE contacts DROP COLUMN given_name;
ALTER TABLE contacts DROP COLUMN family_name;
ALTER TABLE contacts DROP COLUMN emails;
ALTER TABLE contacts DROP COLUMN phones;
ALTER TABLE contacts DROP COLUMN organization;
ALTER TABLE contacts DROP COLUMN title;
ALTER TABLE contacts DROP COLUMN notes;

-- A row that imported with a warning (a value kept as a custom field, a value
-- past the cap) keeps it beside the row errors, one line each.
ALTER TABLE import_errors ADD COLUMN warning INTEGER NOT NULL DEFAULT 0;
ALTER TABLE imports ADD COLUMN warned INTEGER NOT NULL DEFAULT 0;
ALTER TABLE imports ADD COLUMN kept_beside INTEGER NOT NULL DEFAULT 0;
