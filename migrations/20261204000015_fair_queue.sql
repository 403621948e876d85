-- The fair claim order counts each organisation's running and queued runs.
CREATE INDEX runs_org_status_idx ON runs (organisation_id, status, created_at);
