//! Export control, the use cases: classifying assets, recording organisations' countries and
//! permits on agreements, and the check that approval runs (rules in
//! `licentia_domain::export`). Every change is audited in its transaction.

use chrono::{NaiveDate, Utc};
use licentia_audit::Outcome;
use licentia_db::agreements::AgreementRow;
use licentia_db::export::{self as db, PermitRow};
use licentia_domain::AssetId;
use licentia_domain::export::{self, Check, Classification, Covered, PermitInput};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::Actor;
use crate::error::{AppError, AppResult};
use crate::state::AppState;

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[schema(example = json!({"classifications": [{"regime": "us_ear", "code": "3A001"}, {"regime": "eu_dual_use", "code": "3A001.a.1"}]}))]
#[serde(deny_unknown_fields)]
pub struct ClassificationsInput {
    pub classifications: Vec<ClassificationInput>,
    pub csrf: Option<String>,
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClassificationInput {
    pub regime: String,
    pub code: String,
}

/// An asset's classifications, each with the rules of its regime.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Classifications {
    pub asset_id: AssetId,
    pub classifications: Vec<Classification>,
}

/// Replaces an asset's export-control classifications (at most 20). Audited.
#[tracing::instrument(skip_all, fields(actor = %actor.user_id))]
pub async fn classify(state: &AppState, actor: &Actor, asset: AssetId, input: &ClassificationsInput) -> AppResult<Classifications> {
    let row = crate::assets::load(state, actor, asset).await?;
    if input.classifications.len() > 20 {
        return Err(AppError::Validation { field: "classifications".into(), message: "at most 20 classifications".into() });
    }
    let mut set = input.classifications.iter().map(|c| Classification::parse(&c.regime, &c.code)).collect::<Result<Vec<_>, _>>()?;
    set.sort();
    set.dedup();
    let mut tx = state.db.begin().await?;
    db::set_classifications(&mut tx, row.id, &set, actor.user_id).await?;
    let codes: Vec<String> = set.iter().map(|c| format!("{}:{}", c.regime.as_str(), c.code)).collect();
    let seq =
        state.audit(&mut tx, actor.event("asset.classified", Outcome::Success).target("asset", row.id).details(json!({ "classifications": codes }))).await?;
    tx.commit().await.map_err(licentia_db::DbError::from)?;
    state.audited(seq).await;
    Ok(Classifications { asset_id: row.id, classifications: set })
}

/// An asset's classifications as its reader may see them (an asset the reader may not see is 404
/// in `assets::load` before this is asked).
pub async fn classifications_of(state: &AppState, asset: AssetId) -> AppResult<Vec<Classification>> {
    let mut conn = state.db.pool.acquire().await.map_err(licentia_db::DbError::from)?;
    Ok(db::classifications(&mut conn, &[asset]).await?.into_iter().map(|(_, c)| c).collect())
}

/// What the export-control check says of an agreement's current version today.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ExportReport {
    /// The licensor's and the licensee's countries, as recorded.
    pub exporter_country: Option<String>,
    pub licensee_country: Option<String>,
    /// Every restriction found, each with the permit that cures it, if any.
    pub checks: Vec<Check>,
    /// Whether approval may go ahead (every restriction cured).
    pub clear: bool,
    pub permits: Vec<PermitRow>,
}

impl ExportReport {
    /// The first restriction no permit cures.
    pub fn blocking(&self) -> Option<&Check> {
        self.checks.iter().find(|c| c.permit.is_none())
    }
}

/// The check, run inside the caller's transaction (approval holds the agreement's row).
pub async fn report_in(
    conn: &mut licentia_db::PgConnection,
    a: &AgreementRow,
    terms: &licentia_domain::agreement::Terms,
    on: NaiveDate,
) -> AppResult<ExportReport> {
    let asset_ids = licentia_db::agreements::asset_ids(conn, a.id).await?;
    let classes = db::classifications(conn, &asset_ids).await?;
    let mut covered: Vec<Covered> = Vec::new();
    for (asset, c) in classes {
        match covered.iter_mut().find(|x| x.asset == asset) {
            Some(x) => x.classifications.push(c),
            None => {
                let title = licentia_db::assets::get(conn, asset, licentia_db::assets::AssetScope::All).await.map(|r| r.title).unwrap_or_default();
                covered.push(Covered { asset, title, classifications: vec![c] });
            }
        }
    }
    let exporter = licentia_db::organisations::get_scoped(conn, a.licensor_id, None).await?.country;
    let licensee = licentia_db::organisations::get_scoped(conn, a.licensee_id, None).await?.country;
    let permits = db::permits(conn, &[a.id]).await?;
    let as_permits: Vec<export::Permit> = permits.iter().map(|p| p.permit.clone()).collect();
    let mut checks = export::check_grant(&covered, exporter.as_deref(), licensee.as_deref(), &terms.territory, &as_permits, on);
    if licensee.is_none() && !covered.is_empty() {
        // Without the licensee's country nobody can say where the technology goes.
        if let Some(first) = covered.first() {
            checks.insert(
                0,
                Check {
                    asset: first.asset,
                    asset_title: first.title.clone(),
                    finding: export::Finding {
                        rule: "licensee-country-unknown",
                        classification: first.classifications[0].clone(),
                        country: String::new(),
                        permit_may_cure: false,
                        summary: "The licensee's country is not recorded; an admin records it on the organisation",
                        source: "Licentia: every rule of the table decides by the destination",
                    },
                    permit: None,
                },
            );
        }
    }
    let clear = checks.iter().all(|c| c.permit.is_some());
    Ok(ExportReport { exporter_country: exporter, licensee_country: licensee, checks, clear, permits })
}

/// The check on the version the reader may see of an agreement loaded through
/// `agreements::load` (which decides whether they may see it at all), for a page that audits its
/// read of the agreement itself.
pub async fn check(state: &AppState, actor: &Actor, a: &AgreementRow) -> AppResult<ExportReport> {
    let mut conn = state.db.pool.acquire().await.map_err(licentia_db::DbError::from)?;
    let v = licentia_db::agreements::version(&mut conn, a.id, crate::policy::visible_version(actor, a), None).await?;
    let terms: licentia_domain::agreement::Terms = serde_json::from_value(v.terms).map_err(AppError::internal)?;
    report_in(&mut conn, a, &terms, Utc::now().date_naive()).await
}

/// The check as a read of its own (the API): audited.
pub async fn report(state: &AppState, actor: &Actor, a: &AgreementRow) -> AppResult<ExportReport> {
    let r = check(state, actor, a).await?;
    let event = actor
        .event("agreement.export_checked", Outcome::Success)
        .target("agreement", a.id)
        .details(json!({ "restrictions": r.checks.len(), "clear": r.clear }));
    state.audit_alone(event).await?;
    Ok(r)
}

/// The refusal approval answers when a restriction is not cured.
pub fn refusal(r: &ExportReport) -> Option<AppError> {
    let c = r.blocking()?;
    let f = &c.finding;
    let message = if f.rule == "licensee-country-unknown" {
        format!("export control: the licensee's country is not recorded, and asset {:?} is classified {}", c.asset_title, f.classification)
    } else if f.permit_may_cure {
        format!(
            "export control: asset {:?} ({}) needs a licence for {} under rule {} ({}); record a permit covering it",
            c.asset_title, f.classification, f.country, f.rule, f.source
        )
    } else {
        format!(
            "export control: asset {:?} ({}) may not be exported to {} under rule {} ({}); no permit can cure it",
            c.asset_title, f.classification, f.country, f.rule, f.source
        )
    };
    let uncured: Vec<&Check> = r.checks.iter().filter(|c| c.permit.is_none()).take(50).collect();
    Some(AppError::Refused {
        code: "export_control",
        message,
        details: json!({ "asset": c.asset, "rule": f.rule, "country": f.country, "classification": f.classification, "source": f.source, "uncured": uncured }),
    })
}

/// Records a permit on an agreement (managers). Audited.
#[tracing::instrument(skip_all, fields(actor = %actor.user_id))]
pub async fn add_permit(state: &AppState, actor: &Actor, a: &AgreementRow, input: &PermitInput) -> AppResult<PermitRow> {
    let permit = input.parse()?;
    let mut tx = state.db.begin().await?;
    let covered = licentia_db::agreements::asset_ids(&mut tx, a.id).await?;
    if let Some(stray) = permit.assets.iter().find(|p| !covered.contains(p)) {
        return Err(AppError::Validation { field: "assets".into(), message: format!("asset {stray} is not covered by this agreement") });
    }
    let row = db::insert_permit(&mut tx, a.id, &permit, actor.user_id).await?;
    let event = actor.event("export.permit_recorded", Outcome::Success).target("agreement", a.id).details(json!({
        "permit": row.id, "reference": permit.reference, "authority": permit.authority, "countries": permit.countries,
        "assets": permit.assets, "valid_from": permit.valid_from, "valid_until": permit.valid_until,
    }));
    let seq = state.audit(&mut tx, event).await?;
    tx.commit().await.map_err(licentia_db::DbError::from)?;
    state.audited(seq).await;
    Ok(row)
}
