//! Second factors on a user's own account: an authenticator app (TOTP, RFC 6238), passkeys
//! (WebAuthn through webauthn-rs) and recovery codes; and the checks login's second step runs
//! (`check`). Logged-in management is here; the pending login that calls `check` is in
//! [`crate::account`].
//!
//! Rules: a factor is only counted once proved (a TOTP app after its first code, a passkey after
//! its registration ceremony); recovery codes are issued with the first factor and stand in for a
//! lost one, never alone; removing a factor needs the current password, and removing the last
//! one is refused while the organisation's policy requires a second factor of the user's role.

use chrono::Utc;
use licentia_audit::Outcome;
use licentia_crypto::totp::{self, TotpSecret};
use licentia_db::factors::{self as db, PasskeySummary};
use licentia_db::{DbError, PgConnection};
use licentia_domain::UserId;
use serde_json::json;
use uuid::Uuid;
use webauthn_rs::prelude::{
    CreationChallengeResponse, Passkey, PasskeyAuthentication, PasskeyRegistration, PublicKeyCredential, RegisterPublicKeyCredential, RequestChallengeResponse,
    Url, Webauthn, WebauthnBuilder,
};

use crate::Actor;
use crate::credentials;
use crate::error::{AppError, AppResult, bad};
use crate::state::AppState;

/// How long a WebAuthn ceremony may take between its two requests (WebAuthn's recommended
/// authenticator timeout is five minutes).
const CEREMONY_MINUTES: i64 = 5;
/// The name authenticator apps list the account under.
const ISSUER: &str = "Licentia";

/// A user's second factors, as their account page shows them.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct Summary {
    /// An authenticator app is set up and confirmed.
    pub totp: bool,
    pub passkeys: Vec<PasskeySummary>,
    /// Unused recovery codes left.
    pub recovery_codes_left: i64,
    /// The organisation requires a second factor of the user's role.
    pub required: bool,
    /// Whether this installation can register passkeys (its public address is a host name).
    pub passkeys_available: bool,
}

/// What enrolling an authenticator app shows once: the secret, as text and as the URI its QR code
/// encodes.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct TotpEnrolment {
    /// Base32 (RFC 4648), for typing into the app.
    pub secret: String,
    /// `otpauth://totp/...`, what the QR code holds.
    pub otpauth_uri: String,
}

/// What proves a pending login.
#[derive(Debug, Clone)]
pub enum Proof {
    Totp(String),
    RecoveryCode(String),
    /// The browser's `PublicKeyCredential` (WebAuthn assertion) as JSON.
    Passkey(serde_json::Value),
}

impl Proof {
    pub fn method(&self) -> &'static str {
        match self {
            Proof::Totp(_) => "totp",
            Proof::RecoveryCode(_) => "recovery_code",
            Proof::Passkey(_) => "passkey",
        }
    }
}

/// The relying party: this installation's public address. WebAuthn binds credentials to a host
/// name (an IP address cannot be a relying-party id), so an installation reached by IP has no
/// passkeys.
pub(crate) fn webauthn(state: &AppState) -> AppResult<Webauthn> {
    let unavailable = || AppError::Refused {
        code: "passkeys_unavailable",
        message: "passkeys need this installation's public address (LICENTIA_PUBLIC_URL) to be a host name, not an IP address".into(),
        details: json!({ "public_url": state.settings.public_url }),
    };
    let origin = Url::parse(&state.settings.public_url).map_err(|_| unavailable())?;
    let rp_id = origin.domain().ok_or_else(unavailable)?.to_owned();
    WebauthnBuilder::new(&rp_id, &origin).and_then(|b| b.rp_name("Licentia").allow_any_port(true).build()).map_err(|e| {
        tracing::warn!(error = %e, "WebAuthn relying party refused");
        unavailable()
    })
}

fn to_json<T: serde::Serialize>(v: &T) -> AppResult<serde_json::Value> {
    serde_json::to_value(v).map_err(AppError::internal)
}

fn unix_now() -> i64 {
    Utc::now().timestamp()
}

pub async fn summary(state: &AppState, actor: &Actor) -> AppResult<Summary> {
    let mut conn = state.db.pool.acquire().await.map_err(DbError::from)?;
    let enrolled = db::enrolled(&mut conn, actor.user_id).await?;
    Ok(Summary {
        totp: enrolled.totp,
        passkeys: db::passkeys(&mut conn, actor.user_id).await?,
        recovery_codes_left: enrolled.recovery_codes,
        required: db::required_for(&mut conn, actor.user_id).await?,
        passkeys_available: webauthn(state).is_ok(),
    })
}

/// A new, unconfirmed authenticator-app secret for `user` (replacing an unconfirmed one); 409
/// while a confirmed app is in use (remove it first).
pub(crate) async fn begin_totp_for(state: &AppState, conn: &mut PgConnection, user: UserId, account: &str) -> AppResult<TotpEnrolment> {
    let secret = TotpSecret::generate().map_err(|_| AppError::internal("no randomness"))?;
    let (version, sealed) = secret.seal(&state.keyring, user.as_uuid().as_bytes()).map_err(AppError::internal)?;
    let version = i32::try_from(version).map_err(AppError::internal)?;
    if !db::put_pending_totp(conn, user, version, &sealed).await? {
        return Err(AppError::Conflict { message: "an authenticator app is already set up; remove it before adding another".into() });
    }
    Ok(TotpEnrolment { secret: secret.base32(), otpauth_uri: secret.otpauth_uri(ISSUER, account) })
}

/// The unconfirmed secret being enrolled, shown again (after a wrong first code).
pub(crate) async fn pending_totp_for(state: &AppState, conn: &mut PgConnection, user: UserId, account: &str) -> AppResult<Option<TotpEnrolment>> {
    let Some(row) = db::totp(conn, user).await?.filter(|r| r.confirmed_at.is_none()) else { return Ok(None) };
    let version = u32::try_from(row.key_version).map_err(AppError::internal)?;
    let secret = TotpSecret::unseal(&state.keyring, version, user.as_uuid().as_bytes(), &row.sealed_secret).map_err(|_| AppError::Integrity)?;
    Ok(Some(TotpEnrolment { secret: secret.base32(), otpauth_uri: secret.otpauth_uri(ISSUER, account) }))
}

/// Starts enrolling an authenticator app from the account page.
pub async fn begin_totp(state: &AppState, actor: &Actor) -> AppResult<TotpEnrolment> {
    let mut tx = state.db.begin().await?;
    let enrolment = begin_totp_for(state, &mut tx, actor.user_id, &actor.label).await?;
    let seq = state.audit(&mut tx, actor.event("auth.totp_enrolment_started", Outcome::Success).target("user", actor.user_id)).await?;
    tx.commit().await.map_err(DbError::from)?;
    state.audited(seq).await;
    Ok(enrolment)
}

/// Checks `code` against the user's app (`pending`: the unconfirmed one being enrolled) and
/// spends its time step. `false` for a wrong code, a code from outside one step of now, or a
/// step already used.
async fn spend_totp(state: &AppState, conn: &mut PgConnection, user: UserId, code: &str, pending: bool) -> AppResult<bool> {
    let Some(row) = db::totp(conn, user).await? else { return Ok(false) };
    if row.confirmed_at.is_some() == pending {
        return Ok(false);
    }
    let version = u32::try_from(row.key_version).map_err(AppError::internal)?;
    let secret = TotpSecret::unseal(&state.keyring, version, user.as_uuid().as_bytes(), &row.sealed_secret).map_err(|_| AppError::Integrity)?;
    match secret.verify(code, unix_now(), row.last_step) {
        Some(step) => Ok(db::accept_totp_step(conn, user, step).await?),
        None => Ok(false),
    }
}

/// Ten new recovery codes (replacing any), returned for showing once; stored as SHA-256.
pub(crate) async fn issue_recovery_codes(conn: &mut PgConnection, user: UserId) -> AppResult<Vec<String>> {
    let codes = totp::recovery_codes().map_err(|_| AppError::internal("no randomness"))?;
    let digests: Vec<[u8; 32]> = codes.iter().map(|c| totp::recovery_digest(c)).collect();
    db::replace_recovery_codes(conn, user, &digests).await?;
    Ok(codes)
}

/// The codes to show after a first factor was confirmed: new ones when the user had none left.
async fn recovery_codes_after_first_factor(conn: &mut PgConnection, user: UserId) -> AppResult<Option<Vec<String>>> {
    if db::enrolled(conn, user).await?.recovery_codes > 0 { Ok(None) } else { Ok(Some(issue_recovery_codes(conn, user).await?)) }
}

/// Confirms the app being enrolled with its first code (422 `code` when wrong). Returns the
/// recovery codes when these are issued now (the user had none).
pub(crate) async fn confirm_totp_for(state: &AppState, conn: &mut PgConnection, user: UserId, code: &str) -> AppResult<Option<Vec<String>>> {
    if !spend_totp(state, conn, user, code, true).await? {
        return Err(bad("code", "the code does not match; check the app's clock and enter the current code"));
    }
    recovery_codes_after_first_factor(conn, user).await
}

pub async fn confirm_totp(state: &AppState, actor: &Actor, code: &str) -> AppResult<Option<Vec<String>>> {
    let mut tx = state.db.begin().await?;
    let codes = confirm_totp_for(state, &mut tx, actor.user_id, code).await;
    let codes = match codes {
        Ok(c) => c,
        Err(e) => {
            drop(tx);
            state.audit_alone(actor.event("auth.totp_enrolment_failed", Outcome::Failure).target("user", actor.user_id)).await?;
            return Err(e);
        }
    };
    let event = actor.event("auth.totp_enrolled", Outcome::Success).target("user", actor.user_id).details(json!({ "recovery_codes_issued": codes.is_some() }));
    let seq = state.audit(&mut tx, event).await?;
    tx.commit().await.map_err(DbError::from)?;
    state.audited(seq).await;
    Ok(codes)
}

/// Refuses to remove the user's last factor while their role requires one.
async fn ensure_not_last_required(conn: &mut PgConnection, user: UserId, removing_totp: bool) -> AppResult<()> {
    let e = db::enrolled(conn, user).await?;
    let remaining = i64::from(e.totp && !removing_totp) + e.passkeys - i64::from(!removing_totp);
    if remaining <= 0 && db::required_for(conn, user).await? {
        return Err(AppError::Conflict { message: "your organisation requires a second factor for your role; add another before removing this one".into() });
    }
    Ok(())
}

/// Removes the authenticator app (the current password is checked first).
pub async fn remove_totp(state: &AppState, actor: &Actor, password: &str) -> AppResult<()> {
    credentials::recheck_password(state, actor, password, "auth.totp_remove", None).await?;
    let mut tx = state.db.begin().await?;
    ensure_not_last_required(&mut tx, actor.user_id, true).await?;
    if !db::delete_totp(&mut tx, actor.user_id).await? {
        return Err(AppError::NotFound);
    }
    if !db::enrolled(&mut tx, actor.user_id).await?.any() {
        db::delete_recovery_codes(&mut tx, actor.user_id).await?;
    }
    let seq = state.audit(&mut tx, actor.event("auth.totp_removed", Outcome::Success).target("user", actor.user_id)).await?;
    tx.commit().await.map_err(DbError::from)?;
    state.audited(seq).await;
    Ok(())
}

/// New recovery codes (the old ones stop working); only for a user with a factor.
pub async fn regenerate_recovery_codes(state: &AppState, actor: &Actor) -> AppResult<Vec<String>> {
    let mut tx = state.db.begin().await?;
    if !db::enrolled(&mut tx, actor.user_id).await?.any() {
        return Err(AppError::Conflict { message: "recovery codes stand in for a second factor: set one up first".into() });
    }
    let codes = issue_recovery_codes(&mut tx, actor.user_id).await?;
    let seq = state.audit(&mut tx, actor.event("auth.recovery_codes_issued", Outcome::Success).target("user", actor.user_id)).await?;
    tx.commit().await.map_err(DbError::from)?;
    state.audited(seq).await;
    Ok(codes)
}

/// Starts registering a passkey: the options the browser passes to `navigator.credentials.create`.
pub async fn begin_passkey(state: &AppState, actor: &Actor) -> AppResult<CreationChallengeResponse> {
    let wa = webauthn(state)?;
    let mut tx = state.db.begin().await?;
    let existing = stored_passkeys(&mut tx, actor.user_id).await?;
    let exclude = existing.iter().map(|(_, pk)| pk.cred_id().clone()).collect::<Vec<_>>();
    let (ccr, registration) = wa.start_passkey_registration(actor.user_id.as_uuid(), &actor.label, &actor.label, Some(exclude)).map_err(AppError::internal)?;
    db::put_passkey_registration(&mut tx, actor.user_id, &to_json(&registration)?, Utc::now() + chrono::Duration::minutes(CEREMONY_MINUTES)).await?;
    let seq = state.audit(&mut tx, actor.event("auth.passkey_registration_started", Outcome::Success).target("user", actor.user_id)).await?;
    tx.commit().await.map_err(DbError::from)?;
    state.audited(seq).await;
    Ok(ccr)
}

/// Finishes the registration with the browser's answer; returns the passkey's id and the
/// recovery codes when these are issued now.
pub async fn finish_passkey(state: &AppState, actor: &Actor, name: &str, credential: serde_json::Value) -> AppResult<(Uuid, Option<Vec<String>>)> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(bad("name", "must be 1 to 100 characters without control characters"));
    }
    let wa = webauthn(state)?;
    let response: RegisterPublicKeyCredential =
        serde_json::from_value(credential).map_err(|e| bad("credential", format!("is not a WebAuthn registration: {e}")))?;
    let mut tx = state.db.begin().await?;
    let ceremony = db::take_passkey_registration(&mut tx, actor.user_id)
        .await?
        .ok_or_else(|| AppError::Conflict { message: "no passkey registration is in progress (it lasts five minutes); start again".into() })?;
    let registration: PasskeyRegistration = serde_json::from_value(ceremony).map_err(AppError::internal)?;
    let passkey = match wa.finish_passkey_registration(&response, &registration) {
        Ok(pk) => pk,
        Err(e) => {
            // The ceremony is spent either way (taken above): commit that, then record the failure.
            tx.commit().await.map_err(DbError::from)?;
            state.audit_alone(actor.event("auth.passkey_registration_failed", Outcome::Failure).details(json!({ "reason": e.to_string() }))).await?;
            return Err(bad("credential", format!("the authenticator's answer was not accepted: {e}")));
        }
    };
    let id = db::insert_passkey(&mut tx, actor.user_id, passkey.cred_id().as_ref(), name, &to_json(&passkey)?).await?;
    let codes = recovery_codes_after_first_factor(&mut tx, actor.user_id).await?;
    let event = actor
        .event("auth.passkey_registered", Outcome::Success)
        .target("passkey", id)
        .details(json!({ "name": name, "recovery_codes_issued": codes.is_some() }));
    let seq = state.audit(&mut tx, event).await?;
    tx.commit().await.map_err(DbError::from)?;
    state.audited(seq).await;
    Ok((id, codes))
}

/// Removes one of the actor's passkeys (the current password is checked first); another user's
/// passkey is a 404.
pub async fn remove_passkey(state: &AppState, actor: &Actor, id: Uuid, password: &str) -> AppResult<()> {
    credentials::recheck_password(state, actor, password, "auth.passkey_remove", None).await?;
    let mut tx = state.db.begin().await?;
    if !db::passkeys(&mut tx, actor.user_id).await?.iter().any(|p| p.id == id) {
        drop(tx);
        return Err(state.not_found(actor, "passkey", &id.to_string()).await);
    }
    ensure_not_last_required(&mut tx, actor.user_id, false).await?;
    db::delete_passkey(&mut tx, actor.user_id, id).await?;
    if !db::enrolled(&mut tx, actor.user_id).await?.any() {
        db::delete_recovery_codes(&mut tx, actor.user_id).await?;
    }
    let seq = state.audit(&mut tx, actor.event("auth.passkey_removed", Outcome::Success).target("passkey", id)).await?;
    tx.commit().await.map_err(DbError::from)?;
    state.audited(seq).await;
    Ok(())
}

async fn stored_passkeys(conn: &mut PgConnection, user: UserId) -> AppResult<Vec<(Uuid, Passkey)>> {
    db::passkey_credentials(conn, user)
        .await?
        .into_iter()
        .map(|(id, v)| serde_json::from_value::<Passkey>(v).map(|pk| (id, pk)).map_err(AppError::internal))
        .collect()
}

/// The methods a pending login of `user` can be completed with.
pub(crate) async fn methods(state: &AppState, conn: &mut PgConnection, user: UserId) -> AppResult<Vec<&'static str>> {
    let e = db::enrolled(conn, user).await?;
    let mut m = Vec::new();
    if e.totp {
        m.push("totp");
    }
    if e.passkeys > 0 && webauthn(state).is_ok() {
        m.push("passkey");
    }
    if e.recovery_codes > 0 {
        m.push("recovery_code");
    }
    Ok(m)
}

/// The options for `navigator.credentials.get` that a pending login answers with a passkey, and
/// the ceremony state to keep with the login (server side).
pub(crate) async fn passkey_options(state: &AppState, conn: &mut PgConnection, user: UserId) -> AppResult<(RequestChallengeResponse, serde_json::Value)> {
    let wa = webauthn(state)?;
    let keys: Vec<Passkey> = stored_passkeys(conn, user).await?.into_iter().map(|(_, pk)| pk).collect();
    if keys.is_empty() {
        return Err(AppError::Conflict { message: "this account has no passkey".into() });
    }
    let (rcr, ceremony) = wa.start_passkey_authentication(&keys).map_err(AppError::internal)?;
    Ok((rcr, to_json(&ceremony)?))
}

/// Checks a proof for `user`'s pending login, spending what it uses (the TOTP step, the recovery
/// code) in `conn`'s transaction; `ceremony` is the passkey ceremony the login started. `false`
/// for a proof that does not hold.
pub(crate) async fn check(state: &AppState, conn: &mut PgConnection, user: UserId, proof: &Proof, ceremony: Option<&serde_json::Value>) -> AppResult<bool> {
    match proof {
        Proof::Totp(code) => spend_totp(state, conn, user, code, false).await,
        Proof::RecoveryCode(code) => Ok(db::spend_recovery_code(conn, user, &totp::recovery_digest(code)).await?),
        Proof::Passkey(answer) => {
            let (Some(ceremony), Ok(wa)) = (ceremony, webauthn(state)) else { return Ok(false) };
            let Ok(answer) = serde_json::from_value::<PublicKeyCredential>(answer.clone()) else { return Ok(false) };
            let ceremony: PasskeyAuthentication = serde_json::from_value(ceremony.clone()).map_err(AppError::internal)?;
            let Ok(result) = wa.finish_passkey_authentication(&answer, &ceremony) else { return Ok(false) };
            // The signature counter and backup state are written back, so a cloned
            // authenticator replaying an old counter is refused next time.
            for (id, mut pk) in stored_passkeys(conn, user).await? {
                if pk.update_credential(&result).is_some() {
                    db::update_passkey(conn, user, id, &to_json(&pk)?).await?;
                    return Ok(true);
                }
            }
            Ok(false)
        }
    }
}
