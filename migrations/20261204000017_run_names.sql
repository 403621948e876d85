-- Runs are told apart by a number per licence (1, 2, 3, ...) and an optional name the licensee
-- gives, not by the first characters of a time-ordered id.
ALTER TABLE runs ADD COLUMN seq integer, ADD COLUMN name text CHECK (name IS NULL OR char_length(name) BETWEEN 1 AND 100);
UPDATE runs r SET seq = n.seq FROM (SELECT id, row_number() OVER (PARTITION BY licence_id ORDER BY created_at, id) AS seq FROM runs) n WHERE n.id = r.id;
ALTER TABLE runs ALTER COLUMN seq SET NOT NULL;
CREATE UNIQUE INDEX runs_licence_seq_idx ON runs (licence_id, seq);
