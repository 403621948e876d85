-- Two licence terms on runs: how many of the licence's runs may train at once (workers skip its
-- queued runs beyond that, so one licensee cannot hold every worker), and whether a run that
-- fails is billed for the epochs it finished (otherwise failures cost nothing).
ALTER TABLE licences
    ADD COLUMN max_concurrent_runs integer CHECK (max_concurrent_runs IS NULL OR max_concurrent_runs BETWEEN 1 AND 1000),
    ADD COLUMN failed_runs_billed boolean NOT NULL DEFAULT false;
CREATE INDEX runs_licence_status_idx ON runs (licence_id, status);
