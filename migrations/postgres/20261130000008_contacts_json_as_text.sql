-- A contact's emails and phones are JSON that only the server reads and writes,
-- whole; no query looks inside them. As text, Postgres no longer parses each
-- one into jsonb on the way in: that was about a sixth of a bulk COPY of
-- contacts (BENCHMARKS.md). SQLite has always stored them as text.
ALTER TABLE contacts
    ALTER COLUMN emails TYPE TEXT USING emails::text,
    ALTER COLUMN phones TYPE TEXT USING phones::text;
