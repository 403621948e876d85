-- What a version says is stored with the version: its title, the parties' names, the head licence's
-- title and the covered assets (ids and the labels the text names them by). A licensee reads an
-- agreement as of the version shared with it, so a later draft (a new title, another asset) can
-- never show through, and a stored version re-renders to exactly the text whose SHA-256 was accepted.
ALTER TABLE agreement_versions
    ADD COLUMN title         text,
    ADD COLUMN licensor_name text,
    ADD COLUMN licensee_name text,
    ADD COLUMN parent_title  text,
    ADD COLUMN asset_ids     uuid[],
    ADD COLUMN asset_labels  text[];

-- Versions saved before this migration take the agreement's values as they are now: the best
-- record there is. The append-only trigger is lifted for this one backfill only.
ALTER TABLE agreement_versions DISABLE TRIGGER agreement_versions_no_change;
UPDATE agreement_versions v SET
    title = a.title,
    licensor_name = lo.name,
    licensee_name = le.name,
    parent_title = p.title,
    asset_ids = coalesce((SELECT array_agg(x.asset_id ORDER BY x.asset_id) FROM agreement_assets x WHERE x.agreement_id = a.id), '{}'),
    asset_labels = coalesce((SELECT array_agg(coalesce(i.title || ' (' || coalesce(i.grant_number, i.application_number) || ')', i.title) ORDER BY x.asset_id)
                             FROM agreement_assets x JOIN ip_assets i ON i.id = x.asset_id WHERE x.agreement_id = a.id), '{}')
FROM agreements a
JOIN organisations lo ON lo.id = a.licensor_id
JOIN organisations le ON le.id = a.licensee_id
LEFT JOIN agreements p ON p.id = a.parent_id
WHERE v.agreement_id = a.id;
ALTER TABLE agreement_versions ENABLE TRIGGER agreement_versions_no_change;

ALTER TABLE agreement_versions
    ALTER COLUMN title SET NOT NULL,
    ALTER COLUMN licensor_name SET NOT NULL,
    ALTER COLUMN licensee_name SET NOT NULL,
    ALTER COLUMN asset_ids SET NOT NULL,
    ALTER COLUMN asset_labels SET NOT NULL,
    ADD CONSTRAINT agreement_versions_assets_check CHECK (cardinality(asset_ids) = cardinality(asset_labels));

-- Licensee visibility of assets: the shared version's assets.
CREATE INDEX agreement_versions_asset_ids_idx ON agreement_versions USING gin (asset_ids);
