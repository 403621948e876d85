//! Second factors: authenticator apps (TOTP), recovery codes, passkeys, the ceremonies in
//! progress, and the pending logins that still owe their second step.

use chrono::{DateTime, Utc};
use licentia_domain::{OrganisationId, Role, UserId};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::DbError;

/// A user's authenticator app: the sealed secret and the last time step it was used in.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Totp {
    pub key_version: i32,
    pub sealed_secret: Vec<u8>,
    pub confirmed_at: Option<DateTime<Utc>>,
    pub last_step: Option<i64>,
}

pub async fn totp(conn: &mut PgConnection, user: UserId) -> Result<Option<Totp>, DbError> {
    Ok(sqlx::query_as("SELECT key_version, sealed_secret, confirmed_at, last_step FROM totp_credentials WHERE user_id = $1")
        .bind(user)
        .fetch_optional(conn)
        .await?)
}

/// Stores a new, unconfirmed secret, replacing an unconfirmed one; a confirmed app is never
/// replaced here (it must be removed first), so `false` means one is already in use.
pub async fn put_pending_totp(conn: &mut PgConnection, user: UserId, key_version: i32, sealed: &[u8]) -> Result<bool, DbError> {
    let done = sqlx::query(
        "INSERT INTO totp_credentials (user_id, key_version, sealed_secret) VALUES ($1, $2, $3)
         ON CONFLICT (user_id) DO UPDATE SET key_version = EXCLUDED.key_version, sealed_secret = EXCLUDED.sealed_secret,
             last_step = NULL, created_at = now(), updated_at = now()
         WHERE totp_credentials.confirmed_at IS NULL",
    )
    .bind(user)
    .bind(key_version)
    .bind(sealed)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Spends time step `step` of the user's app (and confirms the app if it was pending). `false`
/// when that step or a later one was already used: the code was used before, perhaps by a
/// concurrent request.
pub async fn accept_totp_step(conn: &mut PgConnection, user: UserId, step: i64) -> Result<bool, DbError> {
    let done = sqlx::query(
        "UPDATE totp_credentials SET last_step = $2, confirmed_at = coalesce(confirmed_at, now()), updated_at = now()
         WHERE user_id = $1 AND (last_step IS NULL OR last_step < $2)",
    )
    .bind(user)
    .bind(step)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn delete_totp(conn: &mut PgConnection, user: UserId) -> Result<bool, DbError> {
    Ok(sqlx::query("DELETE FROM totp_credentials WHERE user_id = $1").bind(user).execute(conn).await?.rows_affected() > 0)
}

/// TOTP secrets sealed under an older master key version (key rotation moves them).
pub async fn totp_needing_reseal(conn: &mut PgConnection, current: i32, limit: i64) -> Result<Vec<(UserId, i32, Vec<u8>)>, DbError> {
    Ok(sqlx::query_as(
        "SELECT user_id, key_version, sealed_secret FROM totp_credentials WHERE key_version < $1 ORDER BY user_id LIMIT $2 FOR UPDATE SKIP LOCKED",
    )
    .bind(current)
    .bind(limit)
    .fetch_all(conn)
    .await?)
}

pub async fn reseal_totp(conn: &mut PgConnection, user: UserId, version: i32, sealed: &[u8]) -> Result<(), DbError> {
    sqlx::query("UPDATE totp_credentials SET key_version = $2, sealed_secret = $3, updated_at = now() WHERE user_id = $1")
        .bind(user)
        .bind(version)
        .bind(sealed)
        .execute(conn)
        .await?;
    Ok(())
}

/// Sealed TOTP secrets per master key version.
pub async fn totp_count_by_key_version(conn: &mut PgConnection) -> Result<Vec<(i32, i64)>, DbError> {
    Ok(sqlx::query_as("SELECT key_version, count(*) FROM totp_credentials GROUP BY key_version").fetch_all(conn).await?)
}

/// Replaces the user's recovery codes with these digests.
pub async fn replace_recovery_codes(conn: &mut PgConnection, user: UserId, digests: &[[u8; 32]]) -> Result<(), DbError> {
    sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1").bind(user).execute(&mut *conn).await?;
    let rows: Vec<Vec<u8>> = digests.iter().map(|d| d.to_vec()).collect();
    sqlx::query("INSERT INTO recovery_codes (user_id, code_hash) SELECT $1, unnest($2::bytea[])").bind(user).bind(rows).execute(conn).await?;
    Ok(())
}

/// Spends one unused recovery code; `false` when no unused code has this digest.
pub async fn spend_recovery_code(conn: &mut PgConnection, user: UserId, digest: &[u8; 32]) -> Result<bool, DbError> {
    let done = sqlx::query("UPDATE recovery_codes SET used_at = now(), updated_at = now() WHERE user_id = $1 AND code_hash = $2 AND used_at IS NULL")
        .bind(user)
        .bind(digest.as_slice())
        .execute(conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn unused_recovery_codes(conn: &mut PgConnection, user: UserId) -> Result<i64, DbError> {
    Ok(sqlx::query_scalar("SELECT count(*) FROM recovery_codes WHERE user_id = $1 AND used_at IS NULL").bind(user).fetch_one(conn).await?)
}

pub async fn delete_recovery_codes(conn: &mut PgConnection, user: UserId) -> Result<(), DbError> {
    sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1").bind(user).execute(conn).await?;
    Ok(())
}

/// A passkey as listed to its owner (never the key material).
#[derive(Debug, Clone, serde::Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct PasskeySummary {
    pub id: Uuid,
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
}

pub async fn passkeys(conn: &mut PgConnection, user: UserId) -> Result<Vec<PasskeySummary>, DbError> {
    Ok(sqlx::query_as("SELECT id, name, created_at, last_used_at FROM passkeys WHERE user_id = $1 ORDER BY created_at").bind(user).fetch_all(conn).await?)
}

/// The stored credentials (webauthn-rs's JSON) of a user, with their row ids.
pub async fn passkey_credentials(conn: &mut PgConnection, user: UserId) -> Result<Vec<(Uuid, serde_json::Value)>, DbError> {
    Ok(sqlx::query_as("SELECT id, passkey FROM passkeys WHERE user_id = $1 ORDER BY created_at").bind(user).fetch_all(conn).await?)
}

pub async fn insert_passkey(conn: &mut PgConnection, user: UserId, credential_id: &[u8], name: &str, passkey: &serde_json::Value) -> Result<Uuid, DbError> {
    let id = Uuid::now_v7();
    sqlx::query("INSERT INTO passkeys (id, user_id, credential_id, name, passkey) VALUES ($1, $2, $3, $4, $5)")
        .bind(id)
        .bind(user)
        .bind(credential_id)
        .bind(name)
        .bind(passkey)
        .execute(conn)
        .await?;
    Ok(id)
}

/// Writes back a credential after a login (its signature counter and backup state).
pub async fn update_passkey(conn: &mut PgConnection, user: UserId, id: Uuid, passkey: &serde_json::Value) -> Result<(), DbError> {
    sqlx::query("UPDATE passkeys SET passkey = $3, last_used_at = now(), updated_at = now() WHERE id = $2 AND user_id = $1")
        .bind(user)
        .bind(id)
        .bind(passkey)
        .execute(conn)
        .await?;
    Ok(())
}

/// Removes one of the user's passkeys; `false` for an id that is not theirs.
pub async fn delete_passkey(conn: &mut PgConnection, user: UserId, id: Uuid) -> Result<bool, DbError> {
    Ok(sqlx::query("DELETE FROM passkeys WHERE id = $2 AND user_id = $1").bind(user).bind(id).execute(conn).await?.rows_affected() > 0)
}

pub async fn put_passkey_registration(conn: &mut PgConnection, user: UserId, ceremony: &serde_json::Value, expires_at: DateTime<Utc>) -> Result<(), DbError> {
    sqlx::query(
        "INSERT INTO passkey_registrations (user_id, ceremony, expires_at) VALUES ($1, $2, $3)
         ON CONFLICT (user_id) DO UPDATE SET ceremony = EXCLUDED.ceremony, expires_at = EXCLUDED.expires_at, updated_at = now()",
    )
    .bind(user)
    .bind(ceremony)
    .bind(expires_at)
    .execute(conn)
    .await?;
    Ok(())
}

/// Takes (deletes and returns) the user's registration ceremony if it has not expired: a
/// ceremony answers once.
pub async fn take_passkey_registration(conn: &mut PgConnection, user: UserId) -> Result<Option<serde_json::Value>, DbError> {
    Ok(sqlx::query_scalar("DELETE FROM passkey_registrations WHERE user_id = $1 AND expires_at > now() RETURNING ceremony")
        .bind(user)
        .fetch_optional(conn)
        .await?)
}

/// Which second factors a user has (confirmed).
#[derive(Debug, Clone, Copy, Default)]
pub struct Enrolled {
    pub totp: bool,
    pub passkeys: i64,
    pub recovery_codes: i64,
}

impl Enrolled {
    /// Recovery codes alone are not a factor: they stand in for a lost one.
    pub fn any(&self) -> bool {
        self.totp || self.passkeys > 0
    }
}

pub async fn enrolled(conn: &mut PgConnection, user: UserId) -> Result<Enrolled, DbError> {
    let (totp, passkeys, recovery_codes): (bool, i64, i64) = sqlx::query_as(
        "SELECT EXISTS (SELECT 1 FROM totp_credentials WHERE user_id = $1 AND confirmed_at IS NOT NULL),
                (SELECT count(*) FROM passkeys WHERE user_id = $1),
                (SELECT count(*) FROM recovery_codes WHERE user_id = $1 AND used_at IS NULL)",
    )
    .bind(user)
    .fetch_one(conn)
    .await?;
    Ok(Enrolled { totp, passkeys, recovery_codes })
}

/// Whether the user's organisation requires a second factor of their role.
pub async fn required_for(conn: &mut PgConnection, user: UserId) -> Result<bool, DbError> {
    Ok(sqlx::query_scalar("SELECT u.role = ANY (o.second_factor_roles) FROM users u JOIN organisations o ON o.id = u.organisation_id WHERE u.id = $1")
        .bind(user)
        .fetch_optional(conn)
        .await?
        .unwrap_or(false))
}

/// A pending login (a right password that still owes its second step, or must enrol one).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Challenge {
    pub user_id: UserId,
    pub organisation_id: OrganisationId,
    pub role: Role,
    pub email: String,
    pub kind: String,
    pub purpose: String,
    pub attempts: i32,
    pub ceremony: Option<serde_json::Value>,
}

pub async fn insert_challenge(
    conn: &mut PgConnection,
    token_hash: &[u8; 32],
    user: UserId,
    kind: &str,
    purpose: &str,
    expires_at: DateTime<Utc>,
) -> Result<(), DbError> {
    sqlx::query("INSERT INTO login_challenges (token_hash, user_id, kind, purpose, expires_at) VALUES ($1, $2, $3, $4, $5)")
        .bind(token_hash.as_slice())
        .bind(user)
        .bind(kind)
        .bind(purpose)
        .bind(expires_at)
        .execute(conn)
        .await?;
    Ok(())
}

/// The live challenge with this token, its user still enabled.
pub async fn challenge(conn: &mut PgConnection, token_hash: &[u8; 32]) -> Result<Option<Challenge>, DbError> {
    Ok(sqlx::query_as(
        "SELECT c.user_id, u.organisation_id, u.role, u.email, c.kind, c.purpose, c.attempts, c.ceremony
         FROM login_challenges c JOIN users u ON u.id = c.user_id JOIN organisations o ON o.id = u.organisation_id
         WHERE c.token_hash = $1 AND c.expires_at > now() AND NOT u.disabled AND NOT o.disabled",
    )
    .bind(token_hash.as_slice())
    .fetch_optional(conn)
    .await?)
}

/// Counts a failed try; returns the tries so far.
pub async fn count_challenge_failure(conn: &mut PgConnection, token_hash: &[u8; 32]) -> Result<i32, DbError> {
    Ok(sqlx::query_scalar("UPDATE login_challenges SET attempts = attempts + 1, updated_at = now() WHERE token_hash = $1 RETURNING attempts")
        .bind(token_hash.as_slice())
        .fetch_optional(conn)
        .await?
        .unwrap_or(i32::MAX))
}

pub async fn set_challenge_ceremony(conn: &mut PgConnection, token_hash: &[u8; 32], ceremony: Option<&serde_json::Value>) -> Result<(), DbError> {
    sqlx::query("UPDATE login_challenges SET ceremony = $2, updated_at = now() WHERE token_hash = $1")
        .bind(token_hash.as_slice())
        .bind(ceremony)
        .execute(conn)
        .await?;
    Ok(())
}

/// Ends a challenge (completed, or out of tries); `false` when it was already gone, which makes
/// completing a challenge single-use even under concurrent requests.
pub async fn delete_challenge(conn: &mut PgConnection, token_hash: &[u8; 32]) -> Result<bool, DbError> {
    Ok(sqlx::query("DELETE FROM login_challenges WHERE token_hash = $1").bind(token_hash.as_slice()).execute(conn).await?.rows_affected() > 0)
}

/// Ends every pending login of a user (their password was reset).
pub async fn delete_challenges_for(conn: &mut PgConnection, user: UserId) -> Result<u64, DbError> {
    Ok(sqlx::query("DELETE FROM login_challenges WHERE user_id = $1").bind(user).execute(conn).await?.rows_affected())
}

/// Forget expired challenges and ceremonies (housekeeping).
pub async fn prune(conn: &mut PgConnection) -> Result<u64, DbError> {
    let a = sqlx::query("DELETE FROM login_challenges WHERE expires_at < now()").execute(&mut *conn).await?.rows_affected();
    let b = sqlx::query("DELETE FROM passkey_registrations WHERE expires_at < now()").execute(conn).await?.rows_affected();
    Ok(a + b)
}
