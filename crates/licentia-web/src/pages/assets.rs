//! Registry pages: the filterable list (htmx swaps the table without a reload; the same page works
//! with JavaScript off), an asset with its deadlines, and the next 90 days.

use actix_web::{HttpRequest, web};
use askama::Template;
use askama_web::WebTemplate;
use licentia_audit::Outcome;
use licentia_db::assets::AssetRow;
use licentia_domain::AssetId;
use licentia_domain::Permission;
use licentia_domain::ip::deadlines::Standing;
use licentia_domain::ip::fees::{self, FeeBasis};

use crate::api::assets::{AssetQuery, UpcomingDeadline, deadlines_of, page, upcoming};
use crate::auth::CurrentUser;
use crate::context::RequestContext;
use crate::error::Reply;
use crate::pages::Nav;
use crate::pages::portfolio::money;
use crate::state::AppState;

#[derive(Template, WebTemplate)]
#[template(path = "assets/list.html")]
pub struct AssetListPage {
    nav: Nav,
    q: AssetQuery,
    rows: Vec<AssetRow>,
    next: Option<String>,
    can_manage: bool,
}

impl AssetListPage {
    fn field<'a>(&self, v: &'a Option<String>) -> &'a str {
        v.as_deref().unwrap_or("")
    }
}

pub async fn list(state: web::Data<AppState>, ctx: RequestContext, user: CurrentUser, q: web::Query<AssetQuery>) -> Reply<AssetListPage> {
    let q = q.into_inner();
    let (rows, next) = page(&state, &user, &q).await?;
    let next = next.map(|c| {
        let mut nq = q.clone();
        nq.cursor = Some(c);
        serde_urlencoded::to_string(&nq).unwrap_or_default()
    });
    state.audit_alone(user.event(&ctx, "asset.listed", licentia_audit::Outcome::Success)).await?;
    Ok(AssetListPage { nav: Nav::for_user(&state, &user, "/assets"), q, rows, next, can_manage: user.role.allows(Permission::AssetManage) })
}

/// A fee line on the asset page.
pub struct FeeLine {
    pub due: chrono::NaiveDate,
    /// Where it is paid.
    pub office: String,
    pub title: String,
    pub standard: String,
    pub reduced: String,
    pub surcharge: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "assets/show.html")]
pub struct AssetPage {
    nav: Nav,
    a: AssetRow,
    details: String,
    deadlines: Vec<crate::api::assets::DeadlineView>,
    show_notes: bool,
    can_manage: bool,
    in_family: bool,
    fees: Option<Vec<FeeLine>>,
    flash: Option<(bool, String)>,
    attachments: Vec<licentia_db::artifacts::Artifact>,
    can_upload: bool,
    attach_kind: &'static str,
    attach_id: String,
    return_to: String,
    classifications: Vec<licentia_domain::export::Classification>,
    /// A model asset: its published versions and, for the licensor, their lineage.
    models: Option<ModelSection>,
    /// A granted European patent: the states where it is in force today, and how (national or
    /// unitary).
    in_force: Vec<(&'static str, &'static str)>,
}

pub struct ModelSection {
    versions: Vec<VersionLine>,
    lineage: Option<Vec<licentia_app::models::Lineage>>,
}

pub struct VersionLine {
    number: i32,
    sha: String,
    source: String,
    template: String,
    inputs: String,
    metric: String,
    created_at: chrono::DateTime<chrono::Utc>,
}

impl ModelSection {
    fn of(m: licentia_app::models::AssetModels) -> Self {
        let versions = m
            .versions
            .into_iter()
            .map(|v| {
                let metric = ["auc", "accuracy", "r2"]
                    .iter()
                    .find_map(|k| v.metrics[*k].as_f64().map(|x| format!("{k} {x:.3}")))
                    .unwrap_or_else(|| "not reported".to_owned());
                VersionLine {
                    number: v.number,
                    sha: v.weights_sha256.chars().take(16).collect(),
                    source: v.source,
                    template: v.template,
                    inputs: v.inputs.iter().map(|i| i.column.as_str()).collect::<Vec<_>>().join(", "),
                    metric,
                    created_at: v.created_at,
                }
            })
            .collect();
        Self { versions, lineage: m.lineage }
    }
}

pub async fn show(state: web::Data<AppState>, ctx: RequestContext, user: CurrentUser, req: HttpRequest, id: web::Path<AssetId>) -> Reply<AssetPage> {
    let a = crate::api::assets::load_for_page(&state, &ctx, &user, *id).await?;
    let mut conn = state.db.pool.acquire().await.map_err(licentia_db::DbError::from)?;
    let deadlines = deadlines_of(&mut conn, &a, &user.actor()).await?;
    let fees = if user.role.allows(Permission::CostRead) {
        let (_, rule_deadlines) = crate::api::assets::rule_deadlines(&mut conn, &a).await?;
        let basis = FeeBasis {
            claims: a.details.get("claims_count").and_then(serde_json::Value::as_u64).unwrap_or(0).min(10_000) as u32,
            classes: a.details.get("nice_classes").and_then(serde_json::Value::as_array).map_or(0, |c| c.len() as u32),
        };
        let today = chrono::Utc::now().date_naive();
        let upcoming: Vec<_> = rule_deadlines.into_iter().filter(|d| d.due >= today).collect();
        Some(
            fees::costs(&upcoming, basis)
                .into_iter()
                .map(|c| FeeLine {
                    due: c.due,
                    office: c.office,
                    title: c.title,
                    standard: money(c.fee.currency, c.fee.standard),
                    reduced: c.fee.reduced.map(|r| money(c.fee.currency, r)).unwrap_or_default(),
                    surcharge: c.fee.surcharge.map(|s| money(c.fee.currency, s)).unwrap_or_else(|| "not tabled".to_owned()),
                })
                .collect(),
        )
    } else {
        None
    };
    // Attachments to registry assets are licensor-internal (scoped to the asset's organisation).
    let attachments = licentia_db::artifacts::list_scoped(&mut conn, user.scope(), Some(("asset", a.id.into())), 200).await?;
    drop(conn);
    let classifications = licentia_app::export::classifications_of(&state, a.id).await?;
    let models = if a.kind == licentia_domain::ip::AssetKind::Model {
        Some(ModelSection::of(licentia_app::models::list(&state, &user.actor_in(&ctx), a.id).await?))
    } else {
        None
    };
    state.audit_alone(user.event(&ctx, "asset.read", Outcome::Success).target("asset", a.id)).await?;
    let can_manage = user.role.allows(Permission::AssetManage);
    let in_force = match (a.status, a.grant_date) {
        (licentia_domain::ip::AssetStatus::Granted, Some(grant)) => {
            licentia_domain::ip::european::in_force(&crate::api::portfolio::validations_of(&a), grant, chrono::Utc::now().date_naive())
        }
        _ => Vec::new(),
    };
    Ok(AssetPage {
        in_force,
        nav: Nav::for_user(&state, &user, "/assets"),
        details: serde_json::to_string_pretty(&a.details).unwrap_or_default(),
        show_notes: licentia_app::policy::sees_internal_notes(&user.actor()),
        can_manage,
        in_family: a.parent_id.is_some() || a.kind.is_patent_like(),
        fees,
        flash: crate::pages::flash_from(req.query_string()),
        attachments,
        can_upload: can_manage,
        attach_kind: "asset",
        attach_id: a.id.to_string(),
        return_to: format!("/assets/{}", a.id),
        classifications,
        models,
        deadlines,
        a,
    })
}

#[derive(Template, WebTemplate)]
#[template(path = "assets/deadlines.html")]
pub struct DeadlinesPage {
    nav: Nav,
    days: i64,
    items: Vec<UpcomingDeadline>,
}

pub async fn deadlines(state: web::Data<AppState>, ctx: RequestContext, user: CurrentUser) -> Reply<DeadlinesPage> {
    let items = upcoming(&state, &user, 90).await?;
    state.audit_alone(user.event(&ctx, "deadline.listed", licentia_audit::Outcome::Success)).await?;
    Ok(DeadlinesPage { nav: Nav::for_user(&state, &user, "/deadlines"), days: 90, items })
}
