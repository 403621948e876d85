//! The account page: who am I, and changing my password (which logs out my other sessions).

use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use askama_web::WebTemplate;
use serde::Deserialize;

use crate::auth::CurrentUser;
use crate::context::RequestContext;
use crate::error::{AppError, Reply};
use crate::pages::{Nav, flash_from, see_other_with};
use crate::state::AppState;

#[derive(Template, WebTemplate)]
#[template(path = "account.html")]
pub struct AccountPage {
    nav: Nav,
    email: String,
    display_name: String,
    role: &'static str,
    flash: Option<(bool, String)>,
    prefs: licentia_app::notify::Preferences,
    zones: Vec<&'static str>,
}

pub async fn show(state: web::Data<AppState>, user: CurrentUser, req: HttpRequest) -> Reply<AccountPage> {
    let prefs = licentia_app::notify::preferences(&state, &user.actor()).await?;
    Ok(AccountPage {
        nav: Nav::for_user(&state, &user, "/account"),
        email: user.email.clone(),
        display_name: user.display_name.clone(),
        role: user.role.as_str(),
        flash: flash_from(req.query_string()),
        prefs,
        zones: licentia_domain::TimeZone::all().collect(),
    })
}

#[derive(Deserialize)]
pub struct PreferencesForm {
    /// Checkboxes: present ("on") when ticked, absent otherwise.
    notify_email: Option<String>,
    notify_digest: Option<String>,
    time_zone: String,
}

pub async fn set_preferences(state: web::Data<AppState>, ctx: RequestContext, user: CurrentUser, form: web::Form<PreferencesForm>) -> Reply<HttpResponse> {
    let f = form.into_inner();
    match licentia_app::notify::set_preferences(&state, &user.actor_in(&ctx), f.notify_email.is_some(), f.notify_digest.is_some(), &f.time_zone).await {
        Ok(()) => Ok(see_other_with("/account", true, "Preferences saved.")),
        Err(AppError::Validation { message, .. }) => Ok(see_other_with("/account", false, &message)),
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize)]
pub struct PasswordForm {
    current: String,
    new: String,
}

pub async fn change_password(state: web::Data<AppState>, ctx: RequestContext, user: CurrentUser, form: web::Form<PasswordForm>) -> Reply<HttpResponse> {
    match licentia_app::account::change_password(&state, &user.actor_in(&ctx), user.session_id, &form.current, &form.new).await {
        Ok(n) => Ok(see_other_with("/account", true, &format!("Password changed; {n} other session(s) logged out."))),
        Err(AppError::Validation { message, .. }) => Ok(see_other_with("/account", false, &message)),
        Err(e) => Err(e.into()),
    }
}
