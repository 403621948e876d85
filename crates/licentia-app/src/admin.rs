//! Managing users and organisations, the use cases behind the admin pages and the JSON API. Each
//! function parses its input, changes the rows and writes the audit entry in one transaction.

use licentia_audit::Outcome;
use licentia_db::organisations::Organisation;
use licentia_db::users::User;
use licentia_db::{organisations, sessions, users};
use licentia_domain::{Email, OrgKind, OrgName, OrganisationId, Password, Role, UserId};
use serde::Deserialize;
use serde_json::json;

use crate::Actor;
use crate::error::{AppError, AppResult};
use crate::state::AppState;

/// A new user as submitted (JSON or form). Unknown fields are refused.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[schema(example = json!({"email": "ana@aurora.example", "display_name": "Ana Ruiz", "role": "manager", "organisation_id": "0193a6c2-7d1e-7c3a-9b1f-2f6a1c0e5d41", "password": "a long enough passphrase"}))]
#[serde(deny_unknown_fields)]
pub struct NewUserInput {
    pub email: String,
    pub display_name: Option<String>,
    pub role: String,
    pub organisation_id: String,
    pub password: String,
    #[serde(default)]
    pub csrf: Option<String>,
}

/// A change to a user: role and/or enabled state.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[schema(example = json!({"role": "auditor", "disabled": false}))]
#[serde(deny_unknown_fields)]
pub struct UserChange {
    pub role: Option<String>,
    pub disabled: Option<bool>,
    #[serde(default)]
    pub csrf: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[schema(example = json!({"name": "Borealis Robotics GmbH", "kind": "licensee"}))]
#[serde(deny_unknown_fields)]
pub struct NewOrgInput {
    pub name: String,
    pub kind: String,
    #[serde(default)]
    pub csrf: Option<String>,
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[schema(example = json!({"disabled": false, "country": "DE"}))]
#[serde(deny_unknown_fields)]
pub struct OrgChange {
    pub disabled: Option<bool>,
    /// Where the organisation is established, ISO 3166 alpha-2 (export control decides by it); an
    /// empty string clears it.
    pub country: Option<String>,
    /// The roles whose users must present a second factor after their password (all four may
    /// be named; an empty list requires none).
    pub second_factor_roles: Option<Vec<String>>,
    #[serde(default)]
    pub csrf: Option<String>,
}

fn display_name(raw: Option<&str>, email: &Email) -> AppResult<String> {
    let name = raw.map(str::trim).filter(|s| !s.is_empty()).unwrap_or_else(|| email.as_str().split('@').next().unwrap_or("user"));
    if name.chars().count() > 200 || name.chars().any(char::is_control) {
        return Err(AppError::Validation { field: "display_name".into(), message: "must be at most 200 characters without control characters".into() });
    }
    Ok(name.to_owned())
}

fn parse_org_id(raw: &str) -> AppResult<OrganisationId> {
    OrganisationId::parse(raw.trim()).ok_or_else(|| AppError::Validation { field: "organisation_id".into(), message: "is not an organisation id".into() })
}

/// Creates a user. The role must fit the organisation's kind (licensee users in licensee
/// organisations, everybody else in the licensor).
#[tracing::instrument(skip_all, fields(actor = %actor.user_id))]
pub async fn create_user(state: &AppState, actor: &Actor, input: NewUserInput) -> AppResult<User> {
    let email = Email::parse(&input.email)?;
    let role: Role = input.role.trim().parse()?;
    let password = Password::parse(&input.password)?;
    let name = display_name(input.display_name.as_deref(), &email)?;
    let org_id = parse_org_id(&input.organisation_id)?;
    let mut conn = state.db.pool.acquire().await.map_err(licentia_db::DbError::from)?;
    let org = match organisations::get_scoped(&mut conn, org_id, None).await {
        Ok(o) => o,
        Err(licentia_db::DbError::NotFound) => return Err(AppError::Validation { field: "organisation_id".into(), message: "no such organisation".into() }),
        Err(e) => return Err(e.into()),
    };
    drop(conn);
    if org.kind != role.required_org_kind() {
        return Err(AppError::Validation {
            field: "role".into(),
            message: format!("a {role} must belong to a {} organisation, and {} is a {}", role.required_org_kind(), org.name, org.kind),
        });
    }
    let hash = hash_password(state, password).await?;
    let mut tx = state.db.begin().await?;
    let id = users::insert(&mut tx, users::NewUser { organisation_id: org.id, email: &email, display_name: &name, password_hash: &hash, role }).await?;
    let event = actor.event("user.created", Outcome::Success).target("user", id).details(json!({ "email": email, "role": role, "organisation_id": org.id }));
    let seq = state.audit(&mut tx, event).await?;
    let user = users::get_scoped(&mut tx, id, None).await?;
    tx.commit().await.map_err(licentia_db::DbError::from)?;
    state.audited(seq).await;
    Ok(user)
}

pub async fn hash_password(state: &AppState, password: Password) -> AppResult<String> {
    let permit = state.argon2.acquire().await.map_err(AppError::internal)?;
    let hash = tokio::task::spawn_blocking(move || licentia_crypto::password::hash(password.expose()))
        .await
        .map_err(AppError::internal)?
        .map_err(AppError::internal)?;
    drop(permit);
    Ok(hash)
}

/// Changes a user's role or enabled state. Disabling revokes every session at once. Admins cannot
/// disable or demote themselves (the last admin would lock everybody out).
#[tracing::instrument(skip_all, fields(actor = %actor.user_id))]
pub async fn update_user(state: &AppState, actor: &Actor, id: UserId, change: UserChange) -> AppResult<User> {
    let role = change.role.as_deref().map(|r| r.trim().parse::<Role>()).transpose()?;
    if id == actor.user_id && (change.disabled == Some(true) || role.is_some_and(|r| r != actor.role)) {
        return Err(AppError::Conflict { message: "you cannot disable yourself or change your own role".into() });
    }
    let mut tx = state.db.begin().await?;
    let before = users::get_scoped(&mut tx, id, None).await?;
    let mut seqs = Vec::new();
    if let Some(role) = role
        && role != before.role
    {
        let org = organisations::get_scoped(&mut tx, before.organisation_id, None).await?;
        if org.kind != role.required_org_kind() {
            return Err(AppError::Validation { field: "role".into(), message: format!("a {role} must belong to a {} organisation", role.required_org_kind()) });
        }
        users::set_role(&mut tx, id, role).await?;
        // A session carries the role it was opened with: every credential dies with the old role.
        let revoked = sessions::revoke_all_for_user(&mut tx, id, None, "role changed").await?;
        let event = actor
            .event("user.role_changed", Outcome::Success)
            .target("user", id)
            .details(json!({ "from": before.role, "to": role, "sessions_revoked": revoked }));
        seqs.push(state.audit(&mut tx, event).await?);
    }
    if let Some(disabled) = change.disabled
        && disabled != before.disabled
    {
        users::set_disabled(&mut tx, id, disabled).await?;
        let revoked = if disabled { sessions::revoke_all_for_user(&mut tx, id, None, "user disabled").await? } else { 0 };
        let action = if disabled { "user.disabled" } else { "user.enabled" };
        let event = actor.event(action, Outcome::Success).target("user", id).details(json!({ "sessions_revoked": revoked }));
        seqs.push(state.audit(&mut tx, event).await?);
    }
    let after = users::get_scoped(&mut tx, id, None).await?;
    tx.commit().await.map_err(licentia_db::DbError::from)?;
    for seq in seqs {
        state.audited(seq).await;
    }
    Ok(after)
}

#[tracing::instrument(skip_all, fields(actor = %actor.user_id))]
pub async fn create_org(state: &AppState, actor: &Actor, input: NewOrgInput) -> AppResult<Organisation> {
    let name = OrgName::parse(&input.name)?;
    let kind: OrgKind = input.kind.trim().parse()?;
    let mut tx = state.db.begin().await?;
    let org = organisations::insert(&mut tx, &name, kind).await?;
    let event = actor.event("org.created", Outcome::Success).target("organisation", org.id).details(json!({ "name": org.name, "kind": kind }));
    let seq = state.audit(&mut tx, event).await?;
    tx.commit().await.map_err(licentia_db::DbError::from)?;
    state.audited(seq).await;
    Ok(org)
}

/// Disabling an organisation logs out every one of its users.
#[tracing::instrument(skip_all, fields(actor = %actor.user_id))]
pub async fn update_org(state: &AppState, actor: &Actor, id: OrganisationId, change: OrgChange) -> AppResult<Organisation> {
    let country = match change.country.as_deref().map(str::trim) {
        None => None,
        Some("") => Some(None),
        Some(c) => {
            let c = c.to_ascii_uppercase();
            if !licentia_domain::ip::jurisdiction::is_country(&c) {
                return Err(AppError::Validation { field: "country".into(), message: "must be an ISO 3166 alpha-2 country code such as DE".into() });
            }
            Some(Some(c))
        }
    };
    let second_factor_roles = match &change.second_factor_roles {
        None => None,
        Some(names) => {
            let mut roles = Vec::new();
            for n in names {
                let r: Role = n.trim().parse().map_err(|_| AppError::Validation {
                    field: "second_factor_roles".into(),
                    message: format!("{n:?} is not a role (admin, manager, auditor, licensee)"),
                })?;
                if !roles.contains(&r) {
                    roles.push(r);
                }
            }
            Some(roles)
        }
    };
    let mut tx = state.db.begin().await?;
    let before = organisations::get_scoped(&mut tx, id, None).await?;
    let mut org = before.clone();
    let mut last = None;
    if let Some(roles) = second_factor_roles {
        let names: Vec<String> = roles.iter().map(|r| r.as_str().to_owned()).collect();
        let (mut now, mut was) = (names.clone(), before.second_factor_roles.clone());
        now.sort();
        was.sort();
        if now != was {
            org = organisations::set_second_factor_roles(&mut tx, id, &roles).await?;
            let event = actor.event("org.second_factor_policy_set", Outcome::Success).target("organisation", id).details(json!({ "from": was, "to": now }));
            last = Some(state.audit(&mut tx, event).await?);
        }
    }
    if let Some(country) = country.filter(|c| *c != before.country) {
        org = organisations::set_country(&mut tx, id, country.as_deref()).await?;
        let event = actor.event("org.country_set", Outcome::Success).target("organisation", id).details(json!({ "from": before.country, "to": country }));
        last = Some(state.audit(&mut tx, event).await?);
    }
    if let Some(disabled) = change.disabled.filter(|d| *d != before.disabled) {
        if id == actor.organisation_id {
            return Err(AppError::Conflict { message: "you cannot disable your own organisation".into() });
        }
        org = organisations::set_disabled(&mut tx, id, disabled).await?;
        let revoked = if disabled { sessions::revoke_all_for_organisation(&mut tx, id, "organisation disabled").await? } else { 0 };
        let action = if disabled { "org.disabled" } else { "org.enabled" };
        let event = actor.event(action, Outcome::Success).target("organisation", id).details(json!({ "sessions_revoked": revoked }));
        last = Some(state.audit(&mut tx, event).await?);
    }
    let Some(seq) = last else { return Ok(before) };
    tx.commit().await.map_err(licentia_db::DbError::from)?;
    state.audited(seq).await;
    Ok(org)
}
