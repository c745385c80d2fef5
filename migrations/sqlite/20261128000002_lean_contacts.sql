-- Contacts carry only what is read back. Import throughput is bound by the bytes
-- and B-trees each row adds:
-- * contacts_by_name served no query (the list sorts by display_name COLLATE NOCASE);
-- * search_text repeated the other columns (search now reads them directly);
-- * import_id was written for every row and never read.
DROP INDEX contacts_by_name;
ALTER TABLE contacts DROP COLUMN search_text;
ALTER TABLE contacts DROP COLUMN import_id;
