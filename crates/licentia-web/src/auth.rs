//! Authentication: who is calling (bearer token or session cookie), logging in, and the session
//! cookie itself.

use actix_web::cookie::{Cookie, SameSite, time::Duration as CookieDuration};
use actix_web::http::header;
use actix_web::{FromRequest, HttpMessage, HttpRequest};
use licentia_audit::{AuditEvent, Outcome};
use licentia_db::sessions;
use licentia_domain::{OrganisationId, Role, SessionId, UserId};

use crate::context::RequestContext;
use crate::error::AppError;
use crate::state::AppState;

/// The session cookie. `__Host-` makes the browser insist on Secure, Path=/ and no Domain.
pub const SESSION_COOKIE: &str = "__Host-licentia";
/// A random pre-session value that the login form's CSRF token is bound to.
pub const PRE_COOKIE: &str = "__Host-licentia-pre";

/// The authenticated caller, placed in the request by the authorisation middleware.
#[derive(Debug, Clone)]
pub struct CurrentUser {
    pub id: UserId,
    pub organisation_id: OrganisationId,
    pub role: Role,
    pub email: String,
    pub display_name: String,
    /// Timestamps are shown in this zone (the user's preference; UTC by default).
    pub time_zone: licentia_domain::TimeZone,
    pub session_id: SessionId,
    /// Authenticated by the browser cookie (so state changes need a CSRF token) or a bearer token.
    pub via_cookie: bool,
}

impl CurrentUser {
    /// The caller as the use cases and the policy know it.
    pub fn actor(&self) -> licentia_app::Actor {
        licentia_app::Actor::new(self.id, self.organisation_id, self.role).labelled(self.email.clone(), licentia_app::actor::Origin::default())
    }

    /// The caller with the request's origin, for use cases that write audit entries.
    pub fn actor_in(&self, ctx: &RequestContext) -> licentia_app::Actor {
        licentia_app::Actor::new(self.id, self.organisation_id, self.role).labelled(self.email.clone(), ctx.origin())
    }

    /// The organisation filter for queries: `None` for roles that see every organisation.
    pub fn scope(&self) -> Option<OrganisationId> {
        if self.role.sees_all_organisations() { None } else { Some(self.organisation_id) }
    }

    /// An audit event with this user as the actor and the request's context.
    pub fn event(&self, ctx: &RequestContext, action: &'static str, outcome: Outcome) -> AuditEvent {
        ctx.stamp(AuditEvent::new(action, outcome).actor(Some(self.id.as_uuid()), Some(self.email.clone()), Some(self.organisation_id.as_uuid())))
    }
}

impl FromRequest for CurrentUser {
    type Error = actix_web::Error;
    type Future = std::future::Ready<Result<Self, Self::Error>>;
    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        std::future::ready(req.extensions().get::<CurrentUser>().cloned().ok_or_else(|| crate::error::HttpError(AppError::Unauthorized).into()))
    }
}

/// The credential a request presents.
pub enum Credential {
    Bearer(String),
    Cookie(String),
    None,
}

pub fn credential(req: &HttpRequest) -> Credential {
    if let Some(v) = req.headers().get(header::AUTHORIZATION) {
        return match v.to_str().ok().and_then(|s| s.strip_prefix("Bearer ")) {
            Some(t) => Credential::Bearer(t.trim().to_owned()),
            // A malformed Authorization header is a bearer attempt that fails, never a fall-back
            // to the cookie.
            None => Credential::Bearer(String::new()),
        };
    }
    match req.cookie(SESSION_COOKIE) {
        Some(c) => Credential::Cookie(c.value().to_owned()),
        None => Credential::None,
    }
}

/// Verifies a token and checks that its session is live. Every failure is the same 401.
pub async fn authenticate(state: &AppState, token: &str, via_cookie: bool) -> Result<CurrentUser, AppError> {
    let claims = state.jwt.verify(token).map_err(|e| {
        tracing::info!(error = %e, "token refused");
        AppError::Unauthorized
    })?;
    let mut conn = state.db.pool.acquire().await.map_err(licentia_db::DbError::from)?;
    let live = sessions::live(&mut conn, claims.jti).await?.ok_or(AppError::Unauthorized)?;
    if live.user_id != claims.sub {
        return Err(AppError::Unauthorized);
    }
    Ok(CurrentUser {
        id: live.user_id,
        organisation_id: live.organisation_id,
        // The database is authoritative: a role change applies to existing sessions at once.
        role: live.role,
        email: live.email,
        display_name: live.display_name,
        // A zone the tz database no longer knows reads as UTC rather than locking the user out.
        time_zone: licentia_domain::TimeZone::parse(&live.time_zone).unwrap_or_default(),
        session_id: live.session_id,
        via_cookie,
    })
}

pub use licentia_app::account::Issued;

/// Checks a password login and opens a session (the use case decides; this passes the request's
/// origin).
pub async fn login(state: &AppState, ctx: &RequestContext, email_raw: &str, password: &str, kind: &'static str) -> Result<Issued, AppError> {
    licentia_app::account::login(state, &ctx.origin(), email_raw, password, kind).await
}

/// Revokes the caller's session (logout), audited.
pub async fn logout(state: &AppState, ctx: &RequestContext, user: &CurrentUser) -> Result<(), AppError> {
    licentia_app::account::logout(state, &user.actor_in(ctx), user.session_id).await
}

pub fn session_cookie(token: &str, ttl: chrono::Duration) -> Cookie<'static> {
    Cookie::build(SESSION_COOKIE, token.to_owned())
        .path("/")
        .secure(true)
        .http_only(true)
        .same_site(SameSite::Strict)
        .max_age(CookieDuration::seconds(ttl.num_seconds()))
        .finish()
}

pub fn expired_session_cookie() -> Cookie<'static> {
    let mut c = Cookie::build(SESSION_COOKIE, "").path("/").secure(true).http_only(true).same_site(SameSite::Strict).finish();
    c.make_removal();
    c
}

pub fn pre_cookie(value: &str) -> Cookie<'static> {
    Cookie::build(PRE_COOKIE, value.to_owned()).path("/").secure(true).http_only(true).same_site(SameSite::Strict).finish()
}

/// The CSRF token for a logged-in browser session.
pub fn csrf_for_session(state: &AppState, session: licentia_domain::SessionId) -> String {
    state.csrf.token_for(&session.to_string())
}

/// The CSRF token for the login form, bound to the pre-session cookie.
pub fn csrf_for_pre(state: &AppState, pre: &str) -> String {
    state.csrf.token_for(&format!("pre:{pre}"))
}

/// A foreign or missing object: audited as a denied probe by the use-case layer, answered 404.
pub async fn not_found(state: &AppState, ctx: &RequestContext, user: &CurrentUser, kind: &'static str, id: &str) -> AppError {
    state.not_found(&user.actor_in(ctx), kind, id).await
}
