//! Admin pages: users and organisations. Every post redirects back with a message (post/redirect/get).

use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use askama_web::WebTemplate;
use licentia_db::organisations::Organisation;
use licentia_db::users::User;
use licentia_domain::{OrganisationId, Permission, Role, UserId};
use serde::Deserialize;

use crate::auth::CurrentUser;
use crate::context::RequestContext;
use crate::error::Reply;
use crate::pages::{Nav, back, flash_from};
use crate::state::AppState;
use licentia_app::admin::{self as admin_ops, NewOrgInput, NewUserInput, OrgChange, UserChange};

#[derive(Template, WebTemplate)]
#[template(path = "admin/users.html")]
pub struct UsersPage {
    nav: Nav,
    users: Vec<User>,
    organisations: Vec<Organisation>,
    can_manage: bool,
    self_id: UserId,
    flash: Option<(bool, String)>,
}

pub async fn users(state: web::Data<AppState>, ctx: RequestContext, user: CurrentUser, req: HttpRequest) -> Reply<UsersPage> {
    let mut conn = state.db.pool.acquire().await.map_err(licentia_db::DbError::from)?;
    let list = licentia_db::users::list(&mut conn, user.scope()).await?;
    let organisations = licentia_db::organisations::list_scoped(&mut conn, user.scope()).await?;
    state.audit_alone(user.event(&ctx, "user.listed", licentia_audit::Outcome::Success)).await?;
    Ok(UsersPage {
        nav: Nav::for_user(&state, &user, "/admin/users"),
        users: list,
        organisations,
        can_manage: user.role.allows(Permission::UserManage),
        self_id: user.id,
        flash: flash_from(req.query_string()),
    })
}

/// Validation and conflict errors go back to the page as a message; anything else is an error page.
pub async fn create_user(state: web::Data<AppState>, ctx: RequestContext, user: CurrentUser, form: web::Form<NewUserInput>) -> Reply<HttpResponse> {
    let result = admin_ops::create_user(&state, &user.actor_in(&ctx), form.into_inner()).await.map(|u| format!("Created {}.", u.email));
    back("/admin/users", result)
}

pub async fn update_user(
    state: web::Data<AppState>,
    ctx: RequestContext,
    user: CurrentUser,
    id: web::Path<UserId>,
    form: web::Form<UserChange>,
) -> Reply<HttpResponse> {
    let id = id.into_inner();
    let result = admin_ops::update_user(&state, &user.actor_in(&ctx), id, form.into_inner()).await.map(|u| format!("Updated {}.", u.email));
    back("/admin/users", result)
}

#[derive(Template, WebTemplate)]
#[template(path = "admin/organisations.html")]
pub struct OrganisationsPage {
    nav: Nav,
    organisations: Vec<Organisation>,
    can_manage: bool,
    own: OrganisationId,
    flash: Option<(bool, String)>,
    roles: [&'static str; 4],
}

impl OrganisationsPage {
    fn requires(&self, o: &Organisation, role: &str) -> bool {
        o.second_factor_roles.iter().any(|r| r == role)
    }
}

pub async fn organisations(state: web::Data<AppState>, ctx: RequestContext, user: CurrentUser, req: HttpRequest) -> Reply<OrganisationsPage> {
    let mut conn = state.db.pool.acquire().await.map_err(licentia_db::DbError::from)?;
    let organisations = licentia_db::organisations::list_scoped(&mut conn, user.scope()).await?;
    state.audit_alone(user.event(&ctx, "org.listed", licentia_audit::Outcome::Success)).await?;
    Ok(OrganisationsPage {
        nav: Nav::for_user(&state, &user, "/admin/organisations"),
        organisations,
        can_manage: user.role.allows(Permission::OrgManage),
        own: user.organisation_id,
        flash: flash_from(req.query_string()),
        roles: Role::ALL.map(Role::as_str),
    })
}

/// The second-factor policy form: one checkbox per role (present when ticked).
#[derive(Deserialize)]
pub struct SecondFactorForm {
    admin: Option<String>,
    manager: Option<String>,
    auditor: Option<String>,
    licensee: Option<String>,
}

/// `POST /admin/organisations/{id}/second-factor`.
pub async fn update_second_factor(
    state: web::Data<AppState>,
    ctx: RequestContext,
    user: CurrentUser,
    id: web::Path<OrganisationId>,
    form: web::Form<SecondFactorForm>,
) -> Reply<HttpResponse> {
    let f = form.into_inner();
    let roles = [("admin", f.admin), ("manager", f.manager), ("auditor", f.auditor), ("licensee", f.licensee)]
        .into_iter()
        .filter_map(|(r, on)| on.map(|_| r.to_owned()))
        .collect();
    let change = OrgChange { second_factor_roles: Some(roles), ..OrgChange::default() };
    let result =
        admin_ops::update_org(&state, &user.actor_in(&ctx), id.into_inner(), change).await.map(|o| format!("Second-factor policy of {} saved.", o.name));
    back("/admin/organisations", result)
}

/// `POST /admin/users/{id}/password-reset`: force a reset (the user is e-mailed a link).
pub async fn force_reset(state: web::Data<AppState>, ctx: RequestContext, user: CurrentUser, id: web::Path<UserId>) -> Reply<HttpResponse> {
    let result = licentia_app::reset::force(&state, &user.actor_in(&ctx), id.into_inner())
        .await
        .map(|n| format!("Password reset: the user's password no longer works, {n} session(s) ended, and a link to choose a new one was e-mailed."));
    back("/admin/users", result)
}

pub async fn create_organisation(state: web::Data<AppState>, ctx: RequestContext, user: CurrentUser, form: web::Form<NewOrgInput>) -> Reply<HttpResponse> {
    let result = admin_ops::create_org(&state, &user.actor_in(&ctx), form.into_inner()).await.map(|o| format!("Created {}.", o.name));
    back("/admin/organisations", result)
}

pub async fn update_organisation(
    state: web::Data<AppState>,
    ctx: RequestContext,
    user: CurrentUser,
    id: web::Path<OrganisationId>,
    form: web::Form<OrgChange>,
) -> Reply<HttpResponse> {
    let id = id.into_inner();
    let result = admin_ops::update_org(&state, &user.actor_in(&ctx), id, form.into_inner()).await.map(|o| format!("Updated {}.", o.name));
    back("/admin/organisations", result)
}
