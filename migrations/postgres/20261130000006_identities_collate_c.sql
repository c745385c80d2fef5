-- Identities are normal forms compared byte for byte: the "C" collation makes
-- every comparison in their unique index a memcmp instead of a strcoll call in
-- the database's locale (C.UTF-8 is not treated as C before Postgres 17).
ALTER TABLE contact_identities
    ALTER COLUMN kind TYPE TEXT COLLATE "C",
    ALTER COLUMN value TYPE TEXT COLLATE "C";
