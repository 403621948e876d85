//! The home page: an inbox of what waits for the caller (approvals, acceptances, overdue and
//! coming deadlines, finished runs), then what exists, as the caller's role may see it.

use actix_web::web;
use askama::Template;
use askama_web::WebTemplate;
use licentia_domain::Permission;

use crate::auth::CurrentUser;
use crate::context::RequestContext;
use crate::error::Reply;
use crate::pages::Nav;
use crate::state::AppState;

#[derive(Template, WebTemplate)]
#[template(path = "home.html")]
pub struct HomePage {
    nav: Nav,
    role: &'static str,
    organisation: String,
    organisation_id: String,
    organisations: usize,
    licensees: usize,
    users: Option<usize>,
    audit: Option<(i64, i64)>,
    inbox: Vec<licentia_app::inbox::Item>,
    /// Overdue first, then the next 30 days; `None` for roles that keep no docket.
    deadlines: Option<Vec<crate::api::assets::UpcomingDeadline>>,
}

impl HomePage {
    fn nothing_waits(&self) -> bool {
        self.inbox.is_empty() && self.deadlines.as_ref().is_none_or(Vec::is_empty)
    }

    fn section(&self, s: licentia_app::inbox::Section) -> Vec<&licentia_app::inbox::Item> {
        self.inbox.iter().filter(|i| i.section == s).collect()
    }
}

/// How many deadlines the home page lists (the Deadlines page has them all).
const HOME_DEADLINES: usize = 15;

pub async fn home(state: web::Data<AppState>, ctx: RequestContext, user: CurrentUser) -> Reply<HomePage> {
    let inbox = licentia_app::inbox::items(&state, &user.actor_in(&ctx)).await?;
    let deadlines = if user.role.allows(Permission::AssetManage) {
        let mut d = crate::api::assets::upcoming(&state, &user, 30).await?;
        d.truncate(HOME_DEADLINES);
        state
            .audit_alone(user.event(&ctx, "deadline.listed", licentia_audit::Outcome::Success).details(serde_json::json!({ "on": "home", "items": d.len() })))
            .await?;
        Some(d)
    } else {
        None
    };
    let mut conn = state.db.pool.acquire().await.map_err(licentia_db::DbError::from)?;
    let orgs = licentia_db::organisations::list_scoped(&mut conn, user.scope()).await?;
    let organisation = orgs.iter().find(|o| o.id == user.organisation_id).map(|o| o.name.clone()).unwrap_or_default();
    let users = if user.role.allows(Permission::UserRead) { Some(licentia_db::users::list(&mut conn, None).await?.len()) } else { None };
    let audit = if user.role.allows(Permission::AuditRead) {
        let seq = licentia_db::audit::last_entry(&mut conn).await?.map_or(0, |(seq, _)| seq);
        Some((seq, licentia_db::audit::latest_checkpoint_seq(&mut conn).await?))
    } else {
        None
    };
    Ok(HomePage {
        nav: Nav::for_user(&state, &user, "/"),
        role: user.role.as_str(),
        organisation,
        organisation_id: user.organisation_id.to_string(),
        organisations: orgs.len(),
        licensees: orgs.iter().filter(|o| o.kind == licentia_domain::OrgKind::Licensee).count(),
        users,
        audit,
        inbox,
        deadlines,
    })
}
