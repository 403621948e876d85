//! Browser pages: one askama struct per template, rendered through askama_web.

pub mod account;
pub mod admin;
pub mod agreements;
pub mod assets;
pub mod audit;
pub mod home;
pub mod login;
pub mod organisation;
pub mod portfolio;
pub mod training;

use licentia_domain::Permission;

use crate::auth::CurrentUser;
use crate::state::AppState;

/// The layout's navigation: who is logged in, the links their role may follow, the CSRF token for
/// the logout button and htmx requests.
pub struct Nav {
    pub user: Option<NavUser>,
    pub links: Vec<NavLink>,
    pub csrf: String,
    pub current: &'static str,
    pub version: &'static str,
}

pub struct NavUser {
    pub display_name: String,
    pub email: String,
    pub role: &'static str,
}

pub struct NavLink {
    pub href: &'static str,
    pub label: &'static str,
}

impl Nav {
    pub fn anonymous() -> Self {
        Self { user: None, links: Vec::new(), csrf: String::new(), current: "", version: crate::static_files::VERSION }
    }

    pub fn for_user(state: &AppState, user: &CurrentUser, current: &'static str) -> Self {
        let candidates = [
            ("/", "Home", Permission::SelfService),
            ("/portfolio", "Portfolio", Permission::AssetRead),
            ("/assets", "Registry", Permission::AssetRead),
            ("/deadlines", "Deadlines", Permission::AssetRead),
            ("/agreements", "Agreements", Permission::AgreementRead),
            ("/revenue", "Revenue", Permission::StatementRead),
            ("/training", "Training", Permission::RunRead),
            ("/admin/organisations", "Organisations", Permission::OrgManage),
            ("/admin/users", "Users", Permission::UserRead),
            ("/audit", "Audit log", Permission::AuditRead),
            ("/account", "Account", Permission::SelfService),
        ];
        let links = candidates
            .into_iter()
            .filter(|(href, _, p)| user.role.allows(*p) || (*href == "/admin/organisations" && user.role.allows(Permission::UserRead)))
            .map(|(href, label, _)| NavLink { href, label })
            .collect();
        Self {
            user: Some(NavUser { display_name: user.display_name.clone(), email: user.email.clone(), role: user.role.as_str() }),
            links,
            csrf: crate::routes::csrf_for_session(state, user.session_id),
            current,
            version: crate::static_files::VERSION,
        }
    }
}

/// A one-line message shown above a page after a form post (passed in the redirect's query).
pub fn flash_from(query: &str) -> Option<(bool, String)> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query).ok()?;
    let ok = pairs.iter().find(|(k, _)| k == "ok").map(|(_, v)| (true, v.clone()));
    let bad = pairs.iter().find(|(k, _)| k == "error").map(|(_, v)| (false, v.clone()));
    ok.or(bad).map(|(good, text)| (good, text.chars().take(300).collect()))
}

/// A redirect after a successful (or refused) form post: post/redirect/get.
pub fn see_other(location: &str) -> actix_web::HttpResponse {
    actix_web::HttpResponse::SeeOther().insert_header((actix_web::http::header::LOCATION, location.to_owned())).finish()
}

pub fn see_other_with(path: &str, ok: bool, message: &str) -> actix_web::HttpResponse {
    let key = if ok { "ok" } else { "error" };
    let q = serde_urlencoded::to_string([(key, message)]).unwrap_or_default();
    see_other(&format!("{path}?{q}"))
}

/// Post/redirect/get for a form: success and the user's own mistakes (422, 409) come back to
/// `path` as a one-line message; anything else is an error page.
pub fn back(path: &str, result: crate::error::AppResult<String>) -> crate::error::Reply<actix_web::HttpResponse> {
    use crate::error::AppError;
    match result {
        Ok(msg) => Ok(see_other_with(path, true, &msg)),
        Err(AppError::Validation { field, message }) => Ok(see_other_with(path, false, &format!("{field}: {message}"))),
        Err(AppError::Conflict { message }) => Ok(see_other_with(path, false, &message)),
        Err(e) => Err(e.into()),
    }
}
