//! The IP registry's use cases: registering, changing and deleting assets, their deadlines (rule
//! driven, marked, or entered by hand), each in one transaction with its audit entry. The web face
//! parses, calls one of these and renders.

use chrono::{NaiveDate, Utc};
use licentia_audit::Outcome;
use licentia_db::assets::{self, AssetRow, AssetScope};
use licentia_domain::AssetId;
use licentia_domain::ip::asset::{AssetInput, ValidAsset};
use licentia_domain::ip::deadlines::{self, Deadline};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::Actor;
use crate::error::{AppError, AppResult};
use crate::state::AppState;

fn bad(field: &str, message: impl Into<String>) -> AppError {
    AppError::Validation { field: field.into(), message: message.into() }
}

/// Rebuilds the input form of a stored row (for partial updates and deadline computation).
pub fn row_input(row: &AssetRow) -> Value {
    let mut v = json!({
        "kind": row.kind,
        "status": row.status,
        "title": row.title,
        "jurisdiction": row.jurisdiction,
        "application_number": row.application_number,
        "publication_number": row.publication_number,
        "grant_number": row.grant_number,
        "priority_date": row.priority_date,
        "filing_date": row.filing_date,
        "publication_date": row.publication_date,
        "grant_date": row.grant_date,
        "parent_id": row.parent_id,
        "owners": row.owners,
        "tags": row.tags,
        "internal_notes": row.internal_notes,
    });
    if let (Some(o), Some(d)) = (v.as_object_mut(), row.details.as_object()) {
        for (k, val) in d {
            if !val.is_null() {
                o.insert(k.clone(), val.clone());
            }
        }
    }
    v
}

pub fn parse_input(v: Value) -> AppResult<ValidAsset> {
    let input: AssetInput = serde_json::from_value(v).map_err(|e| bad("body", e.to_string()))?;
    Ok(ValidAsset::parse(&input)?)
}

/// An asset the actor may see (licensees: those covered by an agreement version shared with
/// them); anything else is a 404, audited as a probe.
pub async fn load(state: &AppState, actor: &Actor, id: AssetId) -> AppResult<AssetRow> {
    let mut conn = state.db.pool.acquire().await.map_err(licentia_db::DbError::from)?;
    match assets::get(&mut conn, id, crate::policy::asset_scope(actor)).await {
        Ok(r) => Ok(r),
        Err(licentia_db::DbError::NotFound) => {
            drop(conn);
            Err(state.not_found(actor, "asset", &id.to_string()).await)
        }
        Err(e) => Err(e.into()),
    }
}

/// A row for a new asset.
pub fn new_row(org: licentia_domain::OrganisationId, a: &ValidAsset) -> AssetRow {
    to_row(AssetId::new(), org, a)
}

pub fn to_row(id: AssetId, org: licentia_domain::OrganisationId, a: &ValidAsset) -> AssetRow {
    let mut details = a.details.clone();
    if let Some(o) = details.as_object_mut() {
        o.insert("pct".into(), json!(a.pct));
        o.insert("relation".into(), json!(a.relation.map(|r| r.as_str())));
    }
    AssetRow {
        id,
        organisation_id: org,
        kind: a.kind,
        status: a.status,
        title: a.title.clone(),
        jurisdiction: a.jurisdiction.as_ref().map(|j| j.as_str().to_owned()),
        application_number: a.application_number.clone(),
        publication_number: a.publication_number.clone(),
        grant_number: a.grant_number.clone(),
        priority_date: a.dates.priority,
        filing_date: a.dates.filing,
        publication_date: a.dates.publication,
        grant_date: a.dates.grant,
        expiry_date: a.expiry,
        parent_id: a.parent_id,
        owners: a.owners.clone(),
        tags: a.tags.clone(),
        details,
        internal_notes: a.internal_notes.clone(),
        created_at: Utc::now(),
        updated_at: Utc::now(),
    }
}

/// A computed deadline with what people did about it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DeadlineView {
    #[serde(flatten)]
    pub deadline: Deadline,
    /// `done`, `waived` or `missed`; `None` while open.
    pub state: Option<String>,
    /// Where it stands today: open, in grace, overdue (past every last day and not marked), or
    /// as marked.
    pub standing: deadlines::Standing,
    pub note: String,
}

/// The rule-driven deadlines of a stored asset (divisionals and national phase entries count from
/// the parent's filing date), without marks or manual ones: what fees attach to.
pub async fn rule_deadlines(conn: &mut licentia_db::PgConnection, row: &AssetRow) -> AppResult<(ValidAsset, Vec<Deadline>)> {
    let valid = parse_input(row_input(row))?;
    let parent_filing = match (row.parent_id, valid.relation) {
        (Some(p), Some(rel)) if rel.inherits_filing_date() => assets::get(conn, p, AssetScope::All).await.ok().and_then(|p| p.filing_date),
        _ => None,
    };
    let computed = deadlines::compute(&valid.facts(parent_filing));
    Ok((valid, computed))
}

/// Every deadline of a stored asset: the rules' and the manual ones (rule `manual`), with marks.
/// The deadlines of an asset as `actor` may see them: licensees get the statutory ones only, with
/// their state but without the licensor's notes or hand-entered deadlines.
pub async fn deadlines_of(conn: &mut licentia_db::PgConnection, row: &AssetRow, actor: &Actor) -> AppResult<Vec<DeadlineView>> {
    let internal = crate::policy::sees_internal_notes(actor);
    let (_, mut computed) = rule_deadlines(conn, row).await?;
    let manual = if internal { licentia_db::deadlines::manual(conn, row.id).await? } else { Vec::new() };
    for m in manual {
        computed.push(Deadline {
            rule: deadlines::MANUAL,
            office: row.jurisdiction.clone().unwrap_or_default(),
            ordinal: m.ordinal.max(0) as u32,
            title: m.title,
            due: m.due,
            last_day: m.due,
            opens: None,
            grace_ends: None,
            grace_last_day: None,
            surcharge: deadlines::Surcharge::None,
            source: "entered by hand",
        });
    }
    computed.sort_by_key(|d| (d.due, d.rule, d.ordinal));
    let marks = licentia_db::deadlines::marks(conn, row.id).await?;
    let today = Utc::now().date_naive();
    Ok(computed
        .into_iter()
        .map(|d| {
            let mark = marks.iter().find(|m| m.rule == d.rule && m.ordinal == d.ordinal as i32);
            let note = if internal { mark.map(|m| m.note.clone()).unwrap_or_default() } else { String::new() };
            let standing = deadlines::standing(&d, mark.map(|m| m.state.as_str()), today);
            DeadlineView { state: mark.map(|m| m.state.clone()), standing, note, deadline: d }
        })
        .collect())
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[schema(example = json!({"rule": "us-maintenance", "ordinal": 1, "state": "done", "note": "Paid on 2027-03-02, receipt 4711"}))]
#[serde(deny_unknown_fields)]
pub struct MarkInput {
    pub rule: String,
    pub ordinal: u32,
    /// `done`, `waived` or `missed`.
    pub state: String,
    #[serde(default)]
    pub note: String,
}

/// Marks one of the asset's computed deadlines done, waived or missed (the licensor's staff), and
/// returns the asset's deadlines after the change.
pub async fn mark_deadline(state: &AppState, actor: &Actor, row: &AssetRow, m: MarkInput) -> AppResult<Vec<DeadlineView>> {
    if !["done", "waived", "missed"].contains(&m.state.as_str()) {
        return Err(bad("state", "must be done, waived or missed"));
    }
    if m.note.chars().count() > 2000 {
        return Err(bad("note", "must be at most 2000 characters"));
    }
    let mut tx = state.db.begin().await?;
    let known = deadlines_of(&mut tx, row, actor).await?;
    if !known.iter().any(|d| d.deadline.rule == m.rule && d.deadline.ordinal == m.ordinal) {
        return Err(bad("rule", "this asset has no such deadline"));
    }
    licentia_db::deadlines::set_mark(&mut tx, row.id, &m.rule, m.ordinal as i32, &m.state, m.note.trim(), actor.user_id).await?;
    let event =
        actor.event("deadline.marked", Outcome::Success).target("asset", row.id).details(json!({ "rule": m.rule, "ordinal": m.ordinal, "state": m.state }));
    let seq = state.audit(&mut tx, event).await?;
    let after = deadlines_of(&mut tx, row, actor).await?;
    tx.commit().await.map_err(licentia_db::DbError::from)?;
    state.audited(seq).await;
    Ok(after)
}

/// A deadline entered by hand.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[schema(example = json!({"title": "Reply to the office action", "due": "2027-04-30", "note": "Examiner cites D1"}))]
#[serde(deny_unknown_fields)]
pub struct ManualInput {
    pub title: String,
    /// YYYY-MM-DD.
    pub due: String,
    #[serde(default)]
    pub note: String,
    /// Ignored: the browser form's CSRF token.
    pub csrf: Option<String>,
}

/// Adds a deadline no rule knows (an office action, an option date) to an asset: listed, marked
/// and fed to calendars like the others.
pub async fn add_manual(state: &AppState, actor: &Actor, row: &AssetRow, m: ManualInput) -> AppResult<licentia_db::deadlines::ManualDeadline> {
    let title = m.title.trim();
    if title.is_empty() || title.chars().count() > 200 || title.chars().any(char::is_control) {
        return Err(bad("title", "must be 1 to 200 characters without control characters"));
    }
    let due = NaiveDate::parse_from_str(m.due.trim(), "%Y-%m-%d").map_err(|_| bad("due", "must be a date YYYY-MM-DD"))?;
    if m.note.chars().count() > 2000 || m.note.contains('\0') {
        return Err(bad("note", "must be at most 2000 characters"));
    }
    let mut tx = state.db.begin().await?;
    let added = licentia_db::deadlines::add_manual(&mut tx, row.id, title, due, m.note.trim(), actor.user_id).await.map_err(|e| match e {
        licentia_db::DbError::Conflict { .. } => {
            AppError::Conflict { message: "another deadline was added to this asset at the same moment; try again".into() }
        }
        other => other.into(),
    })?;
    let event = actor
        .event("deadline.added", Outcome::Success)
        .target("asset", row.id)
        .details(json!({ "ordinal": added.ordinal, "title": added.title, "due": added.due }));
    let seq = state.audit(&mut tx, event).await?;
    tx.commit().await.map_err(licentia_db::DbError::from)?;
    state.audited(seq).await;
    Ok(added)
}

/// Every problem of an asset input, for a form that shows them all at once: the parser stops at
/// the first, so each field at fault is set aside and the rest parsed again (one message per
/// field; a missing required field ends the search, since setting it aside changes nothing).
pub fn problems(input: &Value) -> Vec<(String, String)> {
    let mut v = input.clone();
    let mut found: Vec<(String, String)> = Vec::new();
    while found.len() < 40 {
        let Err(AppError::Validation { field, message }) = parse_input(v.clone()) else { break };
        if found.iter().any(|(f, _)| *f == field) {
            break;
        }
        let set_aside = v.as_object_mut().and_then(|o| o.remove(&field)).is_some_and(|old| !old.is_null());
        found.push((field, message));
        if !set_aside {
            break;
        }
    }
    found
}

/// Deletes a deadline entered by hand (and its mark), audited.
pub async fn delete_manual(state: &AppState, actor: &Actor, row: &AssetRow, ordinal: u32) -> AppResult<licentia_db::deadlines::ManualDeadline> {
    let mut tx = state.db.begin().await?;
    let gone = match licentia_db::deadlines::delete_manual(&mut tx, row.id, ordinal as i32).await {
        Ok(d) => d,
        Err(licentia_db::DbError::NotFound) => return Err(bad("ordinal", "this asset has no such deadline entered by hand")),
        Err(e) => return Err(e.into()),
    };
    let event =
        actor.event("deadline.deleted", Outcome::Success).target("asset", row.id).details(json!({ "ordinal": ordinal, "title": gone.title, "due": gone.due }));
    let seq = state.audit(&mut tx, event).await?;
    tx.commit().await.map_err(licentia_db::DbError::from)?;
    state.audited(seq).await;
    Ok(gone)
}

/// Registers a new asset of the actor's organisation.
pub async fn create(state: &AppState, actor: &Actor, input: Value) -> AppResult<AssetRow> {
    let valid = parse_input(input)?;
    let mut tx = state.db.begin().await?;
    check_parent(&mut tx, &valid, None).await?;
    let row = assets::upsert(&mut tx, &to_row(AssetId::new(), actor.organisation_id, &valid), Some(actor.user_id)).await?;
    let event = actor.event("asset.created", Outcome::Success).target("asset", row.id).details(json!({ "kind": row.kind, "title": row.title }));
    let seq = state.audit(&mut tx, event).await?;
    tx.commit().await.map_err(licentia_db::DbError::from)?;
    state.audited(seq).await;
    Ok(row)
}

/// Partial update: the given fields over the stored ones, then the whole asset validated again.
/// The kind cannot change.
pub async fn update(state: &AppState, actor: &Actor, current: &AssetRow, body: Value) -> AppResult<AssetRow> {
    let Value::Object(patch) = body else { return Err(bad("body", "must be a JSON object")) };
    if patch.get("kind").is_some_and(|k| k.as_str() != Some(current.kind.as_str())) {
        return Err(bad("kind", "cannot be changed; create a new asset"));
    }
    let mut merged = row_input(current);
    if let Some(o) = merged.as_object_mut() {
        for (k, v) in &patch {
            o.insert(k.clone(), v.clone());
        }
    }
    let valid = parse_input(merged)?;
    let mut tx = state.db.begin().await?;
    check_parent(&mut tx, &valid, Some(current.id)).await?;
    let mut row = to_row(current.id, current.organisation_id, &valid);
    row.created_at = current.created_at;
    let row = assets::upsert(&mut tx, &row, None).await?;
    let changed: Vec<&String> = patch.keys().filter(|k| k.as_str() != "csrf").collect();
    let event = actor.event("asset.updated", Outcome::Success).target("asset", row.id).details(json!({ "fields": changed }));
    let seq = state.audit(&mut tx, event).await?;
    tx.commit().await.map_err(licentia_db::DbError::from)?;
    state.audited(seq).await;
    Ok(row)
}

/// Registers every asset of an import in one transaction (all or none), one audit entry.
pub async fn import(state: &AppState, actor: &Actor, valid: &[ValidAsset]) -> AppResult<usize> {
    let mut tx = state.db.begin().await?;
    for a in valid {
        assets::upsert(&mut tx, &new_row(actor.organisation_id, a), Some(actor.user_id)).await?;
    }
    let event = actor.event("asset.imported", Outcome::Success).details(json!({ "rows": valid.len() }));
    let seq = state.audit(&mut tx, event).await?;
    tx.commit().await.map_err(licentia_db::DbError::from)?;
    state.audited(seq).await;
    Ok(valid.len())
}

/// Deletes an asset no other asset names as its parent.
pub async fn delete(state: &AppState, actor: &Actor, current: &AssetRow) -> AppResult<()> {
    let mut tx = state.db.begin().await?;
    assets::delete(&mut tx, current.id).await?;
    let event = actor.event("asset.deleted", Outcome::Success).target("asset", current.id).details(json!({ "title": current.title }));
    let seq = state.audit(&mut tx, event).await?;
    tx.commit().await.map_err(licentia_db::DbError::from)?;
    state.audited(seq).await;
    Ok(())
}

/// The parent must exist, be a patent-like filing, and not sit below the asset itself (a family
/// is a tree).
async fn check_parent(conn: &mut licentia_db::PgConnection, a: &ValidAsset, own_id: Option<AssetId>) -> AppResult<()> {
    if let Some(p) = a.parent_id {
        if Some(p) == own_id {
            return Err(bad("parent_id", "an asset cannot be its own parent"));
        }
        match assets::get(conn, p, AssetScope::All).await {
            Ok(parent) if !parent.kind.is_patent_like() => {
                return Err(bad("parent_id", "must be a patent, utility model or design"));
            }
            Ok(_) => {}
            Err(licentia_db::DbError::NotFound) => return Err(bad("parent_id", "no such asset")),
            Err(e) => return Err(e.into()),
        }
        if let Some(own) = own_id
            && assets::ancestors(conn, p).await?.contains(&own)
        {
            return Err(bad("parent_id", "would make the family a cycle: that asset descends from this one"));
        }
    }
    Ok(())
}
