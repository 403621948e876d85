-- A reservation is settled or released against the quota period it was made in: every ledger row
-- carries the instant it counts at. A run's release and settlement count at the run's reservation
-- (before, a run reserved in one month and released in the next made the next month's usage
-- negative, and a 2-run quota accepted 3 runs). Existing rows: a run's rows count at the run's
-- creation, the rest when written.
ALTER TABLE usage_ledger ADD COLUMN counts_at timestamptz;
UPDATE usage_ledger l SET counts_at = coalesce(
    (SELECT r.created_at FROM runs r WHERE r.id = l.run_id AND l.prediction_rows = 0),
    l.created_at
);
ALTER TABLE usage_ledger ALTER COLUMN counts_at SET NOT NULL, ALTER COLUMN counts_at SET DEFAULT now();
CREATE INDEX usage_ledger_counts_idx ON usage_ledger (licence_id, counts_at);
