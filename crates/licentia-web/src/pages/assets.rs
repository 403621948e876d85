//! Registry pages: the filterable list (htmx swaps the table without a reload; the same page works
//! with JavaScript off), an asset with its deadlines, and the next 90 days.

use actix_web::web;
use askama::Template;
use askama_web::WebTemplate;
use licentia_db::assets::AssetRow;
use licentia_domain::Role;
use licentia_audit::Outcome;

use crate::assets::{AssetQuery, UpcomingDeadline, deadlines_of, page, upcoming};
use crate::auth::CurrentUser;
use crate::context::RequestContext;
use crate::error::AppResult;
use crate::pages::Nav;
use crate::state::AppState;

#[derive(Template, WebTemplate)]
#[template(path = "assets/list.html")]
pub struct AssetListPage {
    nav: Nav,
    q: AssetQuery,
    rows: Vec<AssetRow>,
    next: Option<String>,
}

impl AssetListPage {
    fn field<'a>(&self, v: &'a Option<String>) -> &'a str {
        v.as_deref().unwrap_or("")
    }
}

pub async fn list(state: web::Data<AppState>, user: CurrentUser, q: web::Query<AssetQuery>) -> AppResult<AssetListPage> {
    let q = q.into_inner();
    let (rows, next) = page(&state, &user, &q).await?;
    let next = next.map(|c| {
        let mut nq = q.clone();
        nq.cursor = Some(c);
        serde_urlencoded::to_string(&nq).unwrap_or_default()
    });
    Ok(AssetListPage { nav: Nav::for_user(&state, &user, "/assets"), q, rows, next })
}

#[derive(Template, WebTemplate)]
#[template(path = "assets/show.html")]
pub struct AssetPage {
    nav: Nav,
    a: AssetRow,
    details: String,
    deadlines: Vec<crate::assets::DeadlineView>,
    show_notes: bool,
}

pub async fn show(state: web::Data<AppState>, ctx: RequestContext, user: CurrentUser, id: web::Path<String>) -> AppResult<AssetPage> {
    let a = crate::assets::load_for_page(&state, &ctx, &user, &id).await?;
    let mut conn = state.db.pool.acquire().await.map_err(licentia_db::DbError::from)?;
    let deadlines = deadlines_of(&mut conn, &a).await?;
    drop(conn);
    state.audit_alone(user.event(&ctx, "asset.read", Outcome::Success).target("asset", a.id)).await?;
    Ok(AssetPage {
        nav: Nav::for_user(&state, &user, "/assets"),
        details: serde_json::to_string_pretty(&a.details).unwrap_or_default(),
        show_notes: user.role != Role::Licensee,
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

pub async fn deadlines(state: web::Data<AppState>, user: CurrentUser) -> AppResult<DeadlinesPage> {
    let items = upcoming(&state, &user, 90).await?;
    Ok(DeadlinesPage { nav: Nav::for_user(&state, &user, "/deadlines"), days: 90, items })
}
