//! Authentication: who is calling (bearer token or session cookie), logging in, and the session
//! cookie itself.

use actix_web::cookie::{Cookie, SameSite, time::Duration as CookieDuration};
use actix_web::http::header;
use actix_web::{FromRequest, HttpMessage, HttpRequest};
use chrono::Utc;
use licentia_audit::{AuditEvent, Outcome};
use licentia_db::{logins, sessions, users};
use licentia_domain::{Email, OrganisationId, Role, SessionId, UserId};
use serde_json::json;

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
        let origin = licentia_app::actor::Origin { ip: Some(ctx.ip.clone()), user_agent: ctx.user_agent.clone(), request_id: Some(ctx.request_id.clone()) };
        licentia_app::Actor::new(self.id, self.organisation_id, self.role).labelled(self.email.clone(), origin)
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
        session_id: live.session_id,
        via_cookie,
    })
}

/// A successful login: the token and when it expires.
pub struct Issued {
    pub token: String,
    pub expires_at: chrono::DateTime<Utc>,
    pub session_id: SessionId,
}

/// Checks a password login and opens a session. Throttled attempts are refused before the
/// password is looked at; unknown users cost a dummy argon2 verification.
pub async fn login(state: &AppState, ctx: &RequestContext, email_raw: &str, password: &str, kind: &'static str) -> Result<Issued, AppError> {
    let now = Utc::now();
    // The throttling key is stored as text: control characters (NUL above all) are dropped so that
    // hostile input is just another failed login, never a database error.
    let key = email_raw.trim().to_lowercase().chars().filter(|c| !c.is_control()).take(320).collect::<String>();
    let policy = &state.settings.throttle;
    let mut conn = state.db.pool.acquire().await.map_err(licentia_db::DbError::from)?;
    let recent = logins::recent(&mut conn, &key, &ctx.ip, now, policy.account_window, policy.ip_window).await?;
    if let Some(wait) = policy.check(&recent, now) {
        logins::record_throttled(&mut conn, &key, &ctx.ip, now).await?;
        drop(conn);
        state.metrics.logins_throttled.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        state.audit_alone(ctx.stamp(AuditEvent::new("auth.throttled", Outcome::Denied).details(json!({ "email": key })))).await?;
        return Err(AppError::TooManyRequests { retry_after_secs: wait.num_seconds().max(1) });
    }
    let creds = match Email::parse(&key) {
        Ok(email) => users::credentials_by_email(&mut conn, &email).await?,
        Err(_) => None,
    };
    drop(conn);

    // Bounded concurrency for the expensive part; the permit is held only while hashing.
    let permit = state.argon2.acquire().await.map_err(AppError::internal)?;
    let stored = creds.as_ref().map(|c| c.password_hash.clone());
    let candidate = password.to_owned();
    let password_ok = tokio::task::spawn_blocking(move || match stored {
        Some(phc) => licentia_crypto::password::verify(&phc, &candidate),
        None => {
            licentia_crypto::password::verify_dummy(&candidate);
            false
        }
    })
    .await
    .map_err(AppError::internal)?;
    drop(permit);

    let mut tx = state.db.begin().await?;
    match creds.filter(|c| password_ok && !c.disabled && !c.organisation_disabled) {
        Some(c) => {
            let session_id = SessionId::new();
            let claims = state.jwt.claims(c.id, c.organisation_id, c.role, session_id, now, state.settings.token_ttl);
            let token = state.jwt.issue(&claims).map_err(AppError::internal)?;
            sessions::insert(
                &mut tx,
                sessions::NewSession {
                    id: session_id,
                    user_id: c.id,
                    kind,
                    expires_at: claims.expires_at(),
                    ip: Some(&ctx.ip),
                    user_agent: ctx.user_agent.as_deref(),
                },
            )
            .await?;
            logins::record(&mut tx, &key, &ctx.ip, true, now).await?;
            let event = ctx
                .stamp(AuditEvent::new("auth.login", Outcome::Success))
                .actor(Some(c.id.as_uuid()), Some(key.clone()), Some(c.organisation_id.as_uuid()))
                .target("session", session_id)
                .details(json!({ "kind": kind }));
            let seq = state.audit(&mut tx, event).await?;
            tx.commit().await.map_err(licentia_db::DbError::from)?;
            state.audited(seq).await;
            state.metrics.logins_ok.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            Ok(Issued { token, expires_at: claims.expires_at(), session_id })
        }
        None => {
            logins::record(&mut tx, &key, &ctx.ip, false, now).await?;
            let event = ctx.stamp(AuditEvent::new("auth.login_failed", Outcome::Failure)).details(json!({ "email": key, "kind": kind }));
            let seq = state.audit(&mut tx, event).await?;
            tx.commit().await.map_err(licentia_db::DbError::from)?;
            state.audited(seq).await;
            state.metrics.logins_failed.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            Err(AppError::InvalidCredentials)
        }
    }
}

/// Revokes the caller's session (logout), audited.
pub async fn logout(state: &AppState, ctx: &RequestContext, user: &CurrentUser) -> Result<(), AppError> {
    let mut tx = state.db.begin().await?;
    sessions::revoke(&mut tx, user.session_id, "logout").await?;
    let seq = state.audit(&mut tx, user.event(ctx, "auth.logout", Outcome::Success).target("session", user.session_id)).await?;
    tx.commit().await.map_err(licentia_db::DbError::from)?;
    state.audited(seq).await;
    Ok(())
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
