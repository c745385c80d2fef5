-- A deleted contact's first two listed identities go by their position in the
-- list, one probe of the unique key each; the general form builds a table of
-- the list for every deleted contact, which cost an undo of a large import
-- more than deleting its contacts. Most contacts list one or two; the
-- identities past those go by the general form.
DROP TRIGGER contact_identities_go_with_their_contact;
CREATE TRIGGER contact_identities_go_with_their_contact AFTER DELETE ON contacts
BEGIN
    DELETE FROM contact_identities
    WHERE user_id = OLD.user_id AND kind = OLD.identities ->> '$[0][0]' AND value = OLD.identities ->> '$[0][1]'
      AND contact_id = OLD.id;
    DELETE FROM contact_identities
    WHERE user_id = OLD.user_id AND kind = OLD.identities ->> '$[1][0]' AND value = OLD.identities ->> '$[1][1]'
      AND contact_id = OLD.id;
END;
CREATE TRIGGER contact_identities_past_two_go_with_their_contact AFTER DELETE ON contacts
WHEN json_array_length(OLD.identities) > 2
BEGIN
    DELETE FROM contact_identities
    WHERE user_id = OLD.user_id AND contact_id = OLD.id
      AND (kind, value) IN (SELECT listed.value ->> '$[0]', listed.value ->> '$[1]'
                            FROM json_each(OLD.identities) AS listed WHERE listed.key >= 2);
END;
