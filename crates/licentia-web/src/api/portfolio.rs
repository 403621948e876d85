//! The portfolio as a whole: patent families (the priority tree and where the invention is in
//! force), the cost forecast from the fee tables, and the counts of the dashboard.

use std::collections::{BTreeMap, HashMap};

use actix_web::{HttpResponse, web};
use chrono::{Datelike as _, NaiveDate, Utc};
use licentia_audit::Outcome;
use licentia_db::assets::{self, AssetFilter, AssetRow, Cursor};
use licentia_domain::AssetId;
use licentia_domain::ip::fees::{self, FeeBasis};
use licentia_domain::ip::{AssetStatus, deadlines, european};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::api::assets::{row_input, scope, view};
use crate::auth::CurrentUser;
use crate::auth::not_found;
use crate::context::RequestContext;
use crate::error::{AppError, AppResult, Reply};
use crate::state::AppState;

/// Where a family member stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(as = FamilyStanding)]
pub enum Standing {
    InForce,
    Pending,
    Dead,
}

impl Standing {
    pub fn of(row: &AssetRow, today: NaiveDate) -> Self {
        let status = Some(row.status);
        if status.is_none_or(|s| s.is_dead()) || row.expiry_date.is_some_and(|e| e <= today) {
            return Standing::Dead;
        }
        match status {
            Some(AssetStatus::Granted | AssetStatus::Registered | AssetStatus::Active) => Standing::InForce,
            _ => Standing::Pending,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Standing::InForce => "in_force",
            Standing::Pending => "pending",
            Standing::Dead => "dead",
        }
    }
}

/// A member of a family tree, in depth-first order from the root.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct FamilyMember {
    pub depth: usize,
    pub relation: Option<String>,
    pub standing: Standing,
    #[serde(flatten)]
    pub asset: Value,
    #[serde(skip)]
    pub row: AssetRow,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Family {
    pub root: Uuid,
    pub members: Vec<FamilyMember>,
    /// Per jurisdiction, the best standing of any member there (in force beats pending beats dead).
    pub coverage: BTreeMap<String, Standing>,
}

/// The validations stored on a European patent's row (none for any other).
pub fn validations_of(row: &AssetRow) -> Vec<european::Validation> {
    row.details.get("validations").cloned().and_then(|v| serde_json::from_value(v).ok()).unwrap_or_default()
}

/// Orders a family depth-first from its root; siblings by filing date, as the query returned them.
pub fn build_family(rows: Vec<AssetRow>, user: &CurrentUser, today: NaiveDate) -> Option<Family> {
    let ids: std::collections::HashSet<AssetId> = rows.iter().map(|r| r.id).collect();
    // The root is the member whose parent is not in the (visible) family.
    let root = rows.iter().find(|r| r.parent_id.is_none_or(|p| !ids.contains(&p)))?.id;
    let mut children: HashMap<AssetId, Vec<&AssetRow>> = HashMap::new();
    for r in &rows {
        if let Some(p) = r.parent_id.filter(|p| ids.contains(p)) {
            children.entry(p).or_default().push(r);
        }
    }
    let by_id: HashMap<AssetId, &AssetRow> = rows.iter().map(|r| (r.id, r)).collect();
    let mut members = Vec::new();
    let mut stack = vec![(root, 0usize)];
    while let Some((id, depth)) = stack.pop() {
        let Some(row) = by_id.get(&id) else { continue };
        members.push(FamilyMember {
            depth,
            relation: row.details.get("relation").and_then(Value::as_str).map(str::to_owned),
            standing: Standing::of(row, today),
            asset: view(row, user),
            row: (*row).clone(),
        });
        if let Some(kids) = children.get(&id) {
            // Reverse so that the earliest filing is visited first.
            for k in kids.iter().rev() {
                stack.push((k.id, depth + 1));
            }
        }
    }
    let mut coverage: BTreeMap<String, Standing> = BTreeMap::new();
    let mut note = |state: &str, standing: Standing| {
        let e = coverage.entry(state.to_owned()).or_insert(standing);
        *e = (*e).min(standing);
    };
    for m in &members {
        if let Some(j) = &m.row.jurisdiction {
            note(j, m.standing);
        }
        // A granted European patent is in force where it was validated and, with unitary effect,
        // in the unitary territory (licentia_domain::ip::european decides where).
        if m.standing == Standing::InForce
            && let Some(grant) = m.row.grant_date
        {
            for (state, _) in european::in_force(&validations_of(&m.row), grant, today) {
                note(state, Standing::InForce);
            }
        }
    }
    Some(Family { root: root.into(), members, coverage })
}

pub async fn load_family(state: &AppState, ctx: &RequestContext, user: &CurrentUser, uid: AssetId) -> AppResult<Family> {
    let mut conn = state.db.pool.acquire().await.map_err(licentia_db::DbError::from)?;
    let rows = match assets::family(&mut conn, uid, scope(user)).await {
        Ok(r) => r,
        Err(licentia_db::DbError::NotFound) => return Err(not_found(state, ctx, user, "asset", &uid.to_string()).await),
        Err(e) => return Err(e.into()),
    };
    drop(conn);
    let family = build_family(rows, user, Utc::now().date_naive()).ok_or_else(|| AppError::internal("a family without a root"))?;
    state.audit_alone(user.event(ctx, "asset.family_read", Outcome::Success).target("asset", uid)).await?;
    Ok(family)
}

/// `GET /api/v1/assets/{id}/family`
pub async fn family_api(state: web::Data<AppState>, ctx: RequestContext, user: CurrentUser, id: web::Path<AssetId>) -> Reply<HttpResponse> {
    Ok(HttpResponse::Ok().json(load_family(&state, &ctx, &user, *id).await?))
}

/// Amounts in minor units per currency (no conversion: the offices bill in their own currency).
pub type Amounts = BTreeMap<&'static str, i64>;

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AssetCost {
    pub asset_id: AssetId,
    pub title: String,
    pub jurisdiction: Option<String>,
    pub family: AssetId,
    /// Currency code → amount in minor units.
    #[schema(value_type = std::collections::HashMap<String, i64>)]
    pub total: Amounts,
    pub items: Vec<fees::Cost>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Forecast {
    pub from: NaiveDate,
    pub years: u32,
    pub reduced: bool,
    /// Calendar year → currency → amount.
    #[schema(value_type = std::collections::HashMap<String, std::collections::HashMap<String, i64>>)]
    pub by_year: BTreeMap<i32, Amounts>,
    /// Family root → currency → amount.
    #[schema(value_type = std::collections::HashMap<String, std::collections::HashMap<String, i64>>)]
    pub by_family: BTreeMap<AssetId, Amounts>,
    pub assets: Vec<AssetCost>,
    /// Currency code → amount in minor units.
    #[schema(value_type = std::collections::HashMap<String, i64>)]
    pub total: Amounts,
    /// Deadlines in the period whose official fee is not in the fee table, and why: not in the
    /// totals, listed so that nobody reads a total as complete when it is not.
    pub untabled: Vec<UntabledFee>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct UntabledFee {
    pub asset_id: AssetId,
    pub rule: &'static str,
    pub office: String,
    pub ordinal: u32,
    pub title: String,
    pub due: NaiveDate,
    pub reason: &'static str,
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ForecastQuery {
    pub years: Option<u32>,
    /// Use the reduced fee (small entity, CN reduction) where the office has one.
    pub reduced: Option<bool>,
    /// Only this asset's family.
    pub family: Option<String>,
}

/// The official fees falling due in the next `years` calendar years across the caller's
/// registry, per asset, family and year. Done and waived deadlines are not forecast.
pub async fn forecast(state: &AppState, user: &CurrentUser, years: u32, reduced: bool, family: Option<AssetId>) -> AppResult<Forecast> {
    let today = Utc::now().date_naive();
    let end = NaiveDate::from_ymd_opt(today.year() + years as i32, 1, 1).ok_or_else(|| AppError::internal("date out of range"))?;
    let mut conn = state.db.pool.acquire().await.map_err(licentia_db::DbError::from)?;
    // Every visible asset once: parents (for families and inherited filing dates) come from memory.
    let mut rows: Vec<AssetRow> = Vec::new();
    let mut filter = AssetFilter::default();
    loop {
        let page = assets::list(&mut conn, &filter, scope(user), 2000).await?;
        let Some(last) = page.last() else { break };
        filter.after = Some(Cursor::after(filter.sort, last));
        let n = page.len();
        rows.extend(page);
        if n < 2000 {
            break;
        }
    }
    let closed = licentia_db::deadlines::closed_marks(&mut conn).await?;
    drop(conn);
    let by_id: HashMap<AssetId, &AssetRow> = rows.iter().map(|r| (r.id, r)).collect();
    let root_of = |mut id: AssetId| {
        for _ in 0..64 {
            match by_id.get(&id).and_then(|r| r.parent_id).filter(|p| by_id.contains_key(p)) {
                Some(p) => id = p,
                None => break,
            }
        }
        id
    };
    let mut out = Forecast {
        from: today,
        years,
        reduced,
        by_year: BTreeMap::new(),
        by_family: BTreeMap::new(),
        assets: Vec::new(),
        total: BTreeMap::new(),
        untabled: Vec::new(),
    };
    for row in &rows {
        let root = root_of(row.id);
        if family.is_some_and(|f| f != root) {
            continue;
        }
        let Ok(valid) = licentia_domain::ip::asset::AssetInput::deserialize(row_input(row))
            .map_err(|_| ())
            .and_then(|i| licentia_domain::ip::asset::ValidAsset::parse(&i).map_err(|_| ()))
        else {
            continue;
        };
        let parent_filing = match (row.parent_id, valid.relation) {
            (Some(p), Some(rel)) if rel.inherits_filing_date() => by_id.get(&p).and_then(|p| p.filing_date),
            _ => None,
        };
        let basis = FeeBasis {
            claims: row.details.get("claims_count").and_then(Value::as_u64).unwrap_or(0).min(10_000) as u32,
            classes: row.details.get("nice_classes").and_then(Value::as_array).map_or(0, |a| a.len() as u32),
        };
        let due: Vec<deadlines::Deadline> = deadlines::compute(&valid.facts(parent_filing))
            .into_iter()
            .filter(|d| d.due >= today && d.due < end && !closed.contains(&(row.id, d.rule.to_owned(), d.ordinal as i32)))
            .collect();
        for d in &due {
            if let Some((_, reason)) = fees::UNTABLED.iter().find(|(id, _)| *id == d.rule) {
                out.untabled.push(UntabledFee {
                    asset_id: row.id,
                    rule: d.rule,
                    office: d.office.clone(),
                    ordinal: d.ordinal,
                    title: d.title.clone(),
                    due: d.due,
                    reason,
                });
            }
        }
        let items = fees::costs(&due, basis);
        if items.is_empty() {
            continue;
        }
        let mut total = Amounts::new();
        for c in &items {
            let amount = if reduced { c.fee.reduced.unwrap_or(c.fee.standard) } else { c.fee.standard };
            *total.entry(c.fee.currency).or_default() += amount;
            *out.by_year.entry(c.due.year()).or_default().entry(c.fee.currency).or_default() += amount;
            *out.by_family.entry(root).or_default().entry(c.fee.currency).or_default() += amount;
            *out.total.entry(c.fee.currency).or_default() += amount;
        }
        out.assets.push(AssetCost { asset_id: row.id, title: row.title.clone(), jurisdiction: row.jurisdiction.clone(), family: root, total, items });
    }
    Ok(out)
}

fn forecast_params(q: &ForecastQuery) -> AppResult<(u32, bool, Option<AssetId>)> {
    let years = match q.years {
        None => 10,
        Some(y) if (1..=30).contains(&y) => y,
        Some(_) => return Err(AppError::Validation { field: "years".into(), message: "must be between 1 and 30".into() }),
    };
    let family = q
        .family
        .as_deref()
        .map(|f| AssetId::parse(f.trim()).ok_or_else(|| AppError::Validation { field: "family".into(), message: "is not an asset id".into() }))
        .transpose()?;
    Ok((years, q.reduced.unwrap_or(false), family))
}

/// `GET /api/v1/forecast`
pub async fn forecast_api(state: web::Data<AppState>, ctx: RequestContext, user: CurrentUser, q: web::Query<ForecastQuery>) -> Reply<HttpResponse> {
    let (years, reduced, family) = forecast_params(&q)?;
    let f = forecast(&state, &user, years, reduced, family).await?;
    state.audit_alone(user.event(&ctx, "forecast.read", Outcome::Success).details(json!({ "years": years, "reduced": reduced }))).await?;
    Ok(HttpResponse::Ok().json(f))
}

/// Dashboard counts by dimension.
#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct Counts {
    pub total: i64,
    pub kind: Vec<(String, i64)>,
    pub status: Vec<(String, i64)>,
    pub jurisdiction: Vec<(String, i64)>,
}

pub async fn counts(state: &AppState, user: &CurrentUser) -> AppResult<Counts> {
    let mut conn = state.db.pool.acquire().await.map_err(licentia_db::DbError::from)?;
    let mut c = Counts::default();
    for (dim, key, n) in assets::counts(&mut conn, scope(user)).await? {
        match dim.as_str() {
            "kind" => {
                c.total += n;
                c.kind.push((key, n));
            }
            "status" => c.status.push((key, n)),
            _ => c.jurisdiction.push((key, n)),
        }
    }
    Ok(c)
}
