//! Who sees what: for each kind of object, one function says whether an actor may see it (the
//! scope its queries run under) and one builds the view that actor may see. A view is a type: a
//! face serialises it and cannot add back what it left out.
//!
//! | object | licensee (its own organisation) | licensor staff (admin, manager, auditor) |
//! |---|---|---|
//! | agreement | only once shared, and only as of the shared version: its title, parties, dates, assets and text | every version |
//! | asset | only the assets the shared versions name; no internal notes, no manual deadlines, no notes on deadlines | everything |
//! | dataset | names, types, counts; values and statistics of columns not masked | names, types, counts, status; no values, no statistics |
//! | run | everything of its own runs; the weights' artifact only where the licence allows the download | status, progress, billing, metrics; no preprocessing (the data's categories and means), no weights, no error text |
//! | artifact content | follows the object it hangs on (below) | follows the object it hangs on (below) |
//!
//! Masked columns never leave the server for anybody: not as values, categories, statistics,
//! preview, nor in the raw file of the dataset.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use licentia_db::agreements::{AgreementRow, Scope};
use licentia_db::assets::{AssetRow, AssetScope};
use licentia_db::training::{Dataset, Run};
use licentia_domain::{AgreementId, ArtifactId, DatasetId, LicenceId, OrganisationId, Role, RunId, RunStatus};
use serde::Serialize;
use serde_json::Value;

use crate::Actor;

// ---- agreements ----

/// The agreements an actor may reach: a licensee only those shared with its organisation, read as
/// of the shared version (the query itself takes the shared version's title, parties and dates).
pub fn agreement_scope(actor: &Actor) -> Scope {
    if actor.is_licensee() { Scope::Licensee(actor.organisation_id) } else { Scope::All }
}

/// The highest version an actor may read: licensees see what was shared with them.
pub fn readable_max(actor: &Actor, a: &AgreementRow) -> Option<i32> {
    actor.is_licensee().then_some(a.shared_version)
}

/// The version an actor sees by default: the licensee's shared one, everyone else's current one.
pub fn visible_version(actor: &Actor, a: &AgreementRow) -> i32 {
    readable_max(actor, a).unwrap_or(a.current_version)
}

// ---- assets ----

/// The assets an actor may reach: a licensee only those named by versions shared with it.
pub fn asset_scope(actor: &Actor) -> AssetScope {
    if actor.is_licensee() { AssetScope::Licensee(actor.organisation_id) } else { AssetScope::All }
}

/// Internal notes (on assets and on deadlines) and hand-entered deadlines are the licensor's
/// working papers.
pub fn sees_internal_notes(actor: &Actor) -> bool {
    !actor.is_licensee()
}

/// An asset as an actor may see it.
pub struct AssetView<'a> {
    row: &'a AssetRow,
    internal: bool,
}

pub fn asset<'a>(actor: &Actor, row: &'a AssetRow) -> AssetView<'a> {
    AssetView { row, internal: sees_internal_notes(actor) }
}

impl Serialize for AssetView<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut v = serde_json::to_value(self.row).map_err(serde::ser::Error::custom)?;
        if !self.internal
            && let Some(o) = v.as_object_mut()
        {
            o.remove("internal_notes");
        }
        v.serialize(s)
    }
}

// ---- datasets ----

/// What may be said of one column.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ColumnView {
    pub name: String,
    pub kind: Value,
    /// `keep` (the default), `drop` or `mask`.
    pub action: String,
    /// Statistics and values: only to the owner, and never of a masked column.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stats: Option<ColumnStats>,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ColumnStats {
    pub missing: Value,
    pub min: Value,
    pub max: Value,
    pub mean: Value,
    pub categories: Value,
    pub distinct: Value,
}

/// A dataset as an actor may see it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DatasetView {
    pub id: DatasetId,
    pub organisation_id: OrganisationId,
    pub artifact_id: ArtifactId,
    pub name: String,
    pub rows: i64,
    pub columns: i32,
    pub schema: Vec<ColumnView>,
    pub column_actions: BTreeMap<String, String>,
    pub sha256: String,
    pub created_at: DateTime<Utc>,
    pub personal_data: bool,
    pub lawful_basis: Option<String>,
    pub region: Option<String>,
    pub retain_until: Option<chrono::NaiveDate>,
    /// When its data key was destroyed; its content answers 410 from then on.
    pub erased_at: Option<DateTime<Utc>>,
    pub erasure_reason: Option<String>,
}

/// Whether the actor owns the dataset's or run's data: a user of the licensee that uploaded it.
fn owns_data(actor: &Actor, org: OrganisationId) -> bool {
    actor.is_licensee() && actor.belongs_to(org)
}

/// The column actions of a dataset (`drop` or `mask` by column name).
pub fn column_actions(d: &Dataset) -> BTreeMap<String, String> {
    serde_json::from_value(d.column_actions.clone()).unwrap_or_default()
}

/// Whether a column's values may be shown to this actor (the preview).
pub fn may_see_values(actor: &Actor, d: &Dataset, column: &str) -> bool {
    owns_data(actor, d.organisation_id) && column_actions(d).get(column).is_none_or(|a| a != "mask")
}

pub fn dataset(actor: &Actor, d: &Dataset) -> DatasetView {
    let actions = column_actions(d);
    let schema = d
        .schema
        .as_array()
        .map(|cols| {
            cols.iter()
                .map(|c| {
                    let name = c["name"].as_str().unwrap_or_default().to_owned();
                    let action = actions.get(&name).cloned().unwrap_or_else(|| "keep".to_owned());
                    let stats = (owns_data(actor, d.organisation_id) && action != "mask").then(|| ColumnStats {
                        missing: c["missing"].clone(),
                        min: c["min"].clone(),
                        max: c["max"].clone(),
                        mean: c["mean"].clone(),
                        categories: c["categories"].clone(),
                        distinct: c["distinct"].clone(),
                    });
                    ColumnView { kind: c["kind"].clone(), name, action, stats }
                })
                .collect()
        })
        .unwrap_or_default();
    DatasetView {
        id: d.id,
        organisation_id: d.organisation_id,
        artifact_id: d.artifact_id,
        name: d.name.clone(),
        rows: d.rows,
        columns: d.columns,
        schema,
        column_actions: actions,
        sha256: d.sha256.iter().map(|b| format!("{b:02x}")).collect(),
        created_at: d.created_at,
        personal_data: d.personal_data,
        lawful_basis: d.lawful_basis.clone(),
        region: d.region.clone(),
        retain_until: d.retain_until,
        erased_at: d.erased_at,
        erasure_reason: d.erasure_reason.clone(),
    }
}

// ---- runs ----

/// A run as an actor may see it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RunView {
    pub id: RunId,
    pub licence_id: LicenceId,
    pub agreement_id: AgreementId,
    pub organisation_id: OrganisationId,
    pub dataset_id: DatasetId,
    /// The run's number under its licence, and the name its owner gave it.
    pub seq: i32,
    pub name: Option<String>,
    /// Declared at launch: the field of use and the country where the model is used.
    pub use_field: Option<String>,
    pub use_country: Option<String>,
    pub template: String,
    pub hyper: Value,
    pub status: RunStatus,
    pub idempotency_key: Option<String>,
    pub reserved_units: i64,
    pub units_used: i64,
    pub epochs_done: i32,
    pub worker_id: Option<String>,
    pub lease_until: Option<DateTime<Utc>>,
    pub attempts: i32,
    pub cancel_requested: bool,
    pub progress: Value,
    pub metrics: Value,
    /// The fitted preprocessing (the data's categories, means and spreads): the owner's only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preprocessing: Option<Value>,
    /// The weights' artifact: the owner's, and only where the licence allows the download.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weights_artifact: Option<ArtifactId>,
    pub receipt: Option<Value>,
    /// The failure's text may quote the data: the owner's only.
    pub error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    /// Why a queued run has not started when no live worker may take it (its dataset's region).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub waiting: Option<String>,
    /// A fine-tuning run: the published model version it starts from, the layers it keeps
    /// frozen and whether it reads the data with the base's statistics.
    pub base_version: Option<licentia_domain::ModelVersionId>,
    pub freeze_layers: i32,
    pub base_preprocessing: bool,
}

/// The scope of a licensee's own objects (licences, datasets, runs): its organisation; the
/// licensor's staff reach every licensee's, through the views below.
pub fn licensee_scope(actor: &Actor) -> Option<OrganisationId> {
    actor.is_licensee().then_some(actor.organisation_id)
}

impl RunView {
    /// How pages name a run: its number under the licence, and its name if it has one.
    pub fn label(&self) -> String {
        match &self.name {
            Some(n) => format!("#{} · {n}", self.seq),
            None => format!("#{}", self.seq),
        }
    }
}

pub fn run(actor: &Actor, r: &Run) -> RunView {
    let owner = owns_data(actor, r.organisation_id);
    let model_download = r.model_download;
    RunView {
        id: r.id,
        licence_id: r.licence_id,
        agreement_id: r.agreement_id,
        organisation_id: r.organisation_id,
        dataset_id: r.dataset_id,
        seq: r.seq,
        name: r.name.clone(),
        use_field: r.use_field.clone(),
        use_country: r.use_country.clone(),
        template: r.template.clone(),
        hyper: r.hyper.clone(),
        status: r.status,
        idempotency_key: if owner { r.idempotency_key.clone() } else { None },
        reserved_units: r.reserved_units,
        units_used: r.units_used,
        epochs_done: r.epochs_done,
        worker_id: r.worker_id.clone(),
        lease_until: r.lease_until,
        attempts: r.attempts,
        cancel_requested: r.cancel_requested,
        progress: r.progress.clone(),
        metrics: r.metrics.clone(),
        preprocessing: if owner { r.preprocessing.clone() } else { None },
        weights_artifact: if owner && model_download { r.weights_artifact } else { None },
        receipt: r.receipt.clone(),
        error: match (&r.error, owner) {
            (Some(e), true) => Some(e.clone()),
            (Some(_), false) => Some("the run failed (the licensee sees why)".to_owned()),
            (None, _) => None,
        },
        created_at: r.created_at,
        started_at: r.started_at,
        finished_at: r.finished_at,
        waiting: None,
        base_version: r.base_version,
        freeze_layers: r.freeze_layers,
        base_preprocessing: r.base_preprocessing,
    }
}

// ---- artifacts ----

/// What the owner object of an artifact says about reading its content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner {
    /// A run's weights, under a licence that does or does not allow downloading the model.
    RunWeights { model_download: bool },
    /// A dataset's raw file, with or without masked columns.
    Dataset { masked_columns: bool },
    /// Anything else (documents on organisations, assets, agreements): the role decides.
    Document,
}

/// Why content is refused, for the error message and the audit entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The role never reads this kind (auditors and managers: licensees' data and models).
    Role,
    /// The licence does not allow downloading the model: predictions only.
    ModelDownloadNotAllowed,
    /// The raw file would carry columns the licensee masked.
    MaskedColumns,
}

impl Refusal {
    pub fn code(self) -> &'static str {
        match self {
            Refusal::Role => "forbidden",
            Refusal::ModelDownloadNotAllowed => "model_download_not_allowed",
            Refusal::MaskedColumns => "masked_columns",
        }
    }
}

/// Whether `actor` may read the decrypted content of an artifact attached to `attached_kind`,
/// given what its owner object says. Artifacts follow the object they hang on.
pub fn artifact_content(actor: &Actor, attached_kind: &str, owner: Owner) -> Result<(), Refusal> {
    if !actor.role.may_read_content_of(attached_kind) || !actor.role.allows(licentia_domain::Permission::ArtifactContent) {
        return Err(Refusal::Role);
    }
    match owner {
        Owner::RunWeights { model_download: false } => Err(Refusal::ModelDownloadNotAllowed),
        // Only the licensee's own users reach its weights at all (the listing is scoped by
        // organisation); the licensor's staff never download a licensee's model.
        Owner::RunWeights { model_download: true } if actor.role != Role::Licensee => Err(Refusal::Role),
        // A dataset's raw file is its owner's alone, and not even theirs once a column is masked.
        Owner::Dataset { .. } if actor.role != Role::Licensee => Err(Refusal::Role),
        Owner::Dataset { masked_columns: true } => Err(Refusal::MaskedColumns),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use licentia_domain::UserId;
    use serde_json::json;
    use uuid::Uuid;

    fn actor(role: Role, org: OrganisationId) -> Actor {
        Actor::new(UserId::from_uuid(Uuid::now_v7()), org, role)
    }

    fn ds(org: OrganisationId) -> Dataset {
        Dataset {
            id: DatasetId::new(),
            organisation_id: org,
            artifact_id: ArtifactId::new(),
            name: "d.csv".into(),
            rows: 3,
            columns: 2,
            schema: json!([
                { "name": "city", "kind": "categorical", "missing": 0, "min": null, "max": null, "mean": null, "categories": ["Oslo", "Bergen"], "distinct": 2 },
                { "name": "income", "kind": "numeric", "missing": 0, "min": 1234.25, "max": 9876.75, "mean": 5432.5, "categories": [], "distinct": 3 }
            ]),
            column_actions: json!({ "income": "mask" }),
            sha256: vec![0xab],
            // Fixed, so that no digit of a timestamp can look like a leaked statistic.
            created_at: DateTime::UNIX_EPOCH,
            personal_data: false,
            lawful_basis: None,
            region: None,
            retain_until: None,
            erased_at: None,
            erasure_reason: None,
        }
    }

    #[test]
    fn masked_columns_show_nothing_to_anybody_and_the_licensor_sees_no_statistics() {
        let org = OrganisationId::from_uuid(Uuid::now_v7());
        let d = ds(org);
        let owner = serde_json::to_string(&dataset(&actor(Role::Licensee, org), &d)).unwrap_or_default();
        assert!(owner.contains("Oslo"), "the owner sees its own unmasked categories: {owner}");
        assert!(!owner.contains("9876.75") && !owner.contains("5432.5") && !owner.contains("1234.25"), "masked statistics leak: {owner}");
        for role in [Role::Admin, Role::Manager, Role::Auditor] {
            let seen = serde_json::to_string(&dataset(&actor(role, OrganisationId::from_uuid(Uuid::now_v7())), &d)).unwrap_or_default();
            assert!(!seen.contains("Oslo") && !seen.contains("5432.5"), "{role:?} sees values: {seen}");
            assert!(seen.contains("\"city\"") && seen.contains("\"rows\":3"), "{role:?} still sees names and counts: {seen}");
        }
        assert!(!may_see_values(&actor(Role::Licensee, org), &d, "income"));
        assert!(may_see_values(&actor(Role::Licensee, org), &d, "city"));
        assert!(!may_see_values(&actor(Role::Admin, org), &d, "city"));
    }

    #[test]
    fn weights_follow_the_licence_and_datasets_their_masks() {
        let org = OrganisationId::from_uuid(Uuid::now_v7());
        let licensee = actor(Role::Licensee, org);
        assert_eq!(artifact_content(&licensee, "run", Owner::RunWeights { model_download: false }), Err(Refusal::ModelDownloadNotAllowed));
        assert_eq!(artifact_content(&licensee, "run", Owner::RunWeights { model_download: true }), Ok(()));
        assert_eq!(artifact_content(&actor(Role::Admin, org), "run", Owner::RunWeights { model_download: true }), Err(Refusal::Role));
        assert_eq!(artifact_content(&actor(Role::Manager, org), "run", Owner::RunWeights { model_download: true }), Err(Refusal::Role));
        assert_eq!(artifact_content(&licensee, "dataset", Owner::Dataset { masked_columns: true }), Err(Refusal::MaskedColumns));
        assert_eq!(artifact_content(&licensee, "dataset", Owner::Dataset { masked_columns: false }), Ok(()));
        assert_eq!(artifact_content(&actor(Role::Auditor, org), "dataset", Owner::Dataset { masked_columns: false }), Err(Refusal::Role));
        assert_eq!(artifact_content(&actor(Role::Admin, org), "dataset", Owner::Dataset { masked_columns: false }), Err(Refusal::Role));
        assert_eq!(artifact_content(&actor(Role::Auditor, org), "agreement", Owner::Document), Ok(()));
    }
}
