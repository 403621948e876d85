//! Agreements, the use cases: drafting (numbered versions rendered from the clause library and
//! the structured terms, each storing what it says), redlines, the workflow with four-eyes approval
//! and exclusivity checks, acceptance by both parties with the hash of the exact text, and sales
//! reports. Each use case takes the [`Actor`], owns its transaction and writes its audit entry in
//! it. Licensees reach only agreements shared with them, and only as of the shared version;
//! anything else answers exactly like a missing id.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, NaiveDate, Utc};
use licentia_audit::Outcome;
use licentia_db::agreements::{self as db, AgreementRow, NewAgreement, NewVersion, Scope, VersionRow};
use licentia_db::assets::{AssetRow, AssetScope};
use licentia_domain::agreement::clauses::{self, Context, Rendered};
use licentia_domain::agreement::{AgreementKind, Exclusivity, Status, Terms, TermsInput, diff};
use licentia_domain::ip::jurisdiction::is_country;
use licentia_domain::{AgreementId, AssetId, OrgKind, OrganisationId, Role, UserId};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::error::{AppError, AppResult};
use crate::state::AppState;
use crate::{Actor, notify, policy};

/// Serialises approvals so that two overlapping exclusive licences cannot both pass the check.
const APPROVAL_LOCK: i64 = 0x4c49_4345_4e43_4531;

pub fn bad(field: &str, message: impl Into<String>) -> AppError {
    AppError::Validation { field: field.into(), message: message.into() }
}

pub fn db_err(e: sqlx::Error) -> AppError {
    licentia_db::DbError::from(e).into()
}

pub async fn load(state: &AppState, actor: &Actor, id: AgreementId) -> AppResult<AgreementRow> {
    let mut conn = state.db.pool.acquire().await.map_err(db_err)?;
    match db::get(&mut conn, id, policy::agreement_scope(actor)).await {
        Ok(a) => Ok(a),
        Err(licentia_db::DbError::NotFound) => Err(state.not_found(actor, "agreement", &id.to_string()).await),
        Err(e) => Err(e.into()),
    }
}

async fn lock(tx: &mut licentia_db::PgConnection, state: &AppState, actor: &Actor, id: AgreementId) -> AppResult<AgreementRow> {
    match db::get_for_update(tx, id, policy::agreement_scope(actor)).await {
        Ok(a) => Ok(a),
        Err(licentia_db::DbError::NotFound) => Err(state.not_found(actor, "agreement", &id.to_string()).await),
        Err(e) => Err(e.into()),
    }
}

pub fn terms_of(v: &VersionRow) -> AppResult<Terms> {
    serde_json::from_value(v.terms.clone()).map_err(AppError::internal)
}

fn overrides_of(v: &VersionRow) -> BTreeMap<String, String> {
    serde_json::from_value(v.clauses.clone()).unwrap_or_default()
}

/// "title (number)" of an asset, as the prose names it.
pub fn asset_label(a: &AssetRow) -> String {
    match a.grant_number.as_ref().or(a.application_number.as_ref()) {
        Some(n) => format!("{} ({n})", a.title),
        None => a.title.clone(),
    }
}

pub async fn covered_assets(conn: &mut licentia_db::PgConnection, ids: &[AssetId]) -> AppResult<Vec<AssetRow>> {
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        out.push(licentia_db::assets::get(conn, *id, AssetScope::All).await?);
    }
    Ok(out)
}

fn parse_asset_ids(raw: &[String]) -> AppResult<Vec<AssetId>> {
    if raw.len() > 500 {
        return Err(bad("assets", "at most 500 assets per agreement"));
    }
    let set: BTreeSet<AssetId> =
        raw.iter().map(|s| AssetId::parse(s.trim()).ok_or_else(|| bad("assets", "each entry must be an asset id"))).collect::<Result<_, _>>()?;
    Ok(set.into_iter().collect())
}

fn check_title(title: &str) -> AppResult<String> {
    let t = title.trim();
    if t.is_empty() || t.chars().count() > 300 || t.chars().any(char::is_control) {
        return Err(bad("title", "must be 1 to 300 characters without control characters"));
    }
    Ok(t.to_owned())
}

fn check_comment(c: &str) -> AppResult<String> {
    if c.chars().count() > 2000 || c.chars().any(|ch| ch.is_control() && ch != '\n') {
        return Err(bad("comment", "must be at most 2000 characters without control characters"));
    }
    Ok(c.trim().to_owned())
}

fn check_overrides(o: &BTreeMap<String, String>) -> AppResult<()> {
    if o.len() > 50 {
        return Err(bad("clauses", "too many clauses"));
    }
    for (id, text) in o {
        clauses::check_override(id, text)?;
    }
    Ok(())
}

/// Everything the renderer needs for one version.
pub struct Draft {
    pub kind: AgreementKind,
    pub title: String,
    pub licensor: String,
    pub licensee: String,
    pub parent: Option<String>,
    /// The covered assets as they are now (for listing them beside the text).
    pub assets: Vec<AssetRow>,
    /// How the text names each of `assets`: frozen with a stored version, so that it re-renders
    /// to the very text whose hash was accepted even after an asset is renamed.
    pub labels: Vec<String>,
    pub terms: Terms,
    pub overrides: BTreeMap<String, String>,
}

impl Draft {
    /// A new draft naming its assets as they are now.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        kind: AgreementKind,
        title: String,
        licensor: String,
        licensee: String,
        parent: Option<String>,
        assets: Vec<AssetRow>,
        terms: Terms,
        overrides: BTreeMap<String, String>,
    ) -> Self {
        let labels = assets.iter().map(asset_label).collect();
        Draft { kind, title, licensor, licensee, parent, assets, labels, terms, overrides }
    }

    /// Replaces the covered assets, naming them as they are now.
    pub fn set_assets(&mut self, assets: Vec<AssetRow>) {
        self.labels = assets.iter().map(asset_label).collect();
        self.assets = assets;
    }

    pub fn render(&self) -> (Vec<Rendered>, String) {
        let ctx = Context {
            kind: self.kind,
            title: &self.title,
            licensor: &self.licensor,
            licensee: &self.licensee,
            assets: &self.labels,
            parent: self.parent.as_deref(),
            terms: &self.terms,
        };
        let rendered = clauses::render(&ctx, &self.overrides);
        let text = clauses::full_text(&ctx, &rendered);
        (rendered, text)
    }
}

fn sha256(text: &str) -> Vec<u8> {
    ring::digest::digest(&ring::digest::SHA256, text.as_bytes()).as_ref().to_vec()
}

/// Appends version `number` rendered from `draft`; returns its text hash.
async fn save_version(
    tx: &mut licentia_db::PgConnection,
    agreement: AgreementId,
    number: i32,
    draft: &Draft,
    author: UserId,
    comment: &str,
) -> AppResult<Vec<u8>> {
    let (_, text) = draft.render();
    let sha = sha256(&text);
    let terms = serde_json::to_value(&draft.terms).map_err(AppError::internal)?;
    let clauses = serde_json::to_value(&draft.overrides).map_err(AppError::internal)?;
    let asset_ids: Vec<AssetId> = draft.assets.iter().map(|r| r.id).collect();
    db::add_version(
        tx,
        &NewVersion {
            agreement_id: agreement,
            number,
            terms: &terms,
            clauses: &clauses,
            text: &text,
            text_sha256: &sha,
            author_id: author,
            comment,
            title: &draft.title,
            licensor_name: &draft.licensor,
            licensee_name: &draft.licensee,
            parent_title: draft.parent.as_deref(),
            asset_ids: &asset_ids,
            asset_labels: &draft.labels,
        },
        draft.terms.effective_date,
        draft.terms.end_date,
    )
    .await?;
    Ok(sha)
}

/// Inserts an agreement with its covered assets and version 1 (the demo seed uses this; requests
/// go through [`create`], which validates first). Returns the text hash.
pub async fn insert_with_first_version(
    tx: &mut licentia_db::PgConnection,
    a: &NewAgreement<'_>,
    asset_ids: &[AssetId],
    draft: &Draft,
    comment: &str,
) -> AppResult<Vec<u8>> {
    db::insert(tx, a).await?;
    db::set_assets(tx, a.id, asset_ids).await?;
    save_version(tx, a.id, 1, draft, a.created_by, comment).await
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[schema(example = json!({"kind": "non_exclusive_licence", "title": "Vision model licence", "licensee_id": "0193a6c2-7d1e-7c3a-9b1f-2f6a1c0e5d41", "assets": [], "terms": {"territory": ["DE", "FR"], "fields": ["industrial inspection"], "effective_date": "2027-01-01", "end_date": "2029-12-31", "currency": "EUR", "upfront_fee": 2500000, "royalty_bp": 350, "reporting": "quarterly"}, "comment": "First draft"}))]
#[serde(deny_unknown_fields)]
pub struct NewAgreementInput {
    pub kind: String,
    pub title: String,
    pub licensee_id: String,
    pub parent_id: Option<String>,
    #[serde(default)]
    pub assets: Vec<String>,
    pub terms: TermsInput,
    #[serde(default)]
    pub clauses: BTreeMap<String, String>,
    #[serde(default)]
    pub comment: String,
}

#[tracing::instrument(skip_all, fields(actor = %actor.user_id))]
pub async fn create(state: &AppState, actor: &Actor, i: NewAgreementInput) -> AppResult<AgreementId> {
    let kind: AgreementKind = i.kind.trim().parse()?;
    let title = check_title(&i.title)?;
    let terms = i.terms.parse()?;
    check_overrides(&i.clauses)?;
    let comment = check_comment(&i.comment)?;
    let asset_ids = parse_asset_ids(&i.assets)?;
    if kind.grants_rights() && asset_ids.is_empty() {
        return Err(bad("assets", "a licence or assignment covers at least one asset"));
    }
    let licensee_id = OrganisationId::parse(i.licensee_id.trim()).ok_or_else(|| bad("licensee_id", "is not an organisation id"))?;
    let mut tx = state.db.begin().await?;
    let licensee = match licentia_db::organisations::get_scoped(&mut tx, licensee_id, None).await {
        Ok(o) if o.kind == OrgKind::Licensee && !o.disabled => o,
        Ok(_) => return Err(bad("licensee_id", "must be an enabled licensee organisation")),
        Err(licentia_db::DbError::NotFound) => return Err(bad("licensee_id", "no such organisation")),
        Err(e) => return Err(e.into()),
    };
    let licensor = licentia_db::organisations::get_scoped(&mut tx, actor.organisation_id, None).await?;
    let parent = match (kind, i.parent_id.as_deref().map(str::trim).filter(|p| !p.is_empty())) {
        (AgreementKind::Sublicence, None) => return Err(bad("parent_id", "a sublicence names its head licence")),
        (AgreementKind::Sublicence, Some(p)) => {
            let pid = AgreementId::parse(p).ok_or_else(|| bad("parent_id", "is not an agreement id"))?;
            let parent = db::get(&mut tx, pid, Scope::All).await.map_err(|_| bad("parent_id", "no such agreement"))?;
            let pv = db::version(&mut tx, pid, parent.executed_version.unwrap_or(parent.current_version), None).await?;
            if !matches!(parent.status, Status::Executed | Status::Active) || !terms_of(&pv)?.sublicensing {
                return Err(bad("parent_id", "the head licence must be executed and allow sublicensing"));
            }
            Some(parent)
        }
        (_, Some(_)) => return Err(bad("parent_id", "only a sublicence has a head licence")),
        (_, None) => None,
    };
    let assets = covered_assets(&mut tx, &asset_ids).await.map_err(|e| match e {
        AppError::NotFound => bad("assets", "no such asset"),
        other => other,
    })?;
    let id = AgreementId::new();
    db::insert(
        &mut tx,
        &NewAgreement {
            id,
            licensor_id: actor.organisation_id,
            licensee_id,
            parent_id: parent.as_ref().map(|p| p.id),
            kind,
            title: &title,
            created_by: actor.user_id,
        },
    )
    .await?;
    db::set_assets(&mut tx, id, &asset_ids).await?;
    let draft = Draft::new(kind, title, licensor.name.to_string(), licensee.name.to_string(), parent.map(|p| p.title), assets, terms, i.clauses);
    let sha = save_version(&mut tx, id, 1, &draft, actor.user_id, &comment).await?;
    let event = actor
        .event("agreement.created", Outcome::Success)
        .target("agreement", id)
        .details(json!({ "kind": kind.as_str(), "title": draft.title, "licensee": licensee.id, "version": 1, "text_sha256": hex::encode(&sha) }));
    let seq = state.audit(&mut tx, event).await?;
    tx.commit().await.map_err(db_err)?;
    state.audited(seq).await;
    Ok(id)
}

/// The agreement as a caller sees it: the row, the visible version's text and clauses, covered
/// assets, acceptances and what the workflow allows next.
pub async fn detail_json(conn: &mut licentia_db::PgConnection, actor: &Actor, a: &AgreementRow) -> AppResult<AgreementDetail> {
    let n = policy::visible_version(actor, a);
    let v = db::version(conn, a.id, n, policy::readable_max(actor, a)).await?;
    let draft = draft_of(conn, a, &v).await?;
    let (rendered, _) = draft.render();
    let acceptances = db::acceptances(conn, a.id).await?;
    Ok(AgreementDetail {
        id: a.id,
        kind: a.kind,
        title: a.title.clone(),
        status: a.status,
        licensor: PartyRef { id: a.licensor_id, name: a.licensor_name.clone() },
        licensee: PartyRef { id: a.licensee_id, name: a.licensee_name.clone() },
        parent_id: a.parent_id,
        current_version: a.current_version,
        shared_version: a.shared_version,
        executed_version: a.executed_version,
        executed_at: a.executed_at,
        approved_version: a.approved_version,
        allowed_transitions: a.status.next().to_vec(),
        version: VersionDetail {
            number: v.number,
            author: v.author_name.clone(),
            comment: v.comment.clone(),
            created_at: v.created_at,
            text_sha256: hex::encode(&v.text_sha256),
            text: v.text.clone(),
            terms: v.terms.clone(),
            clauses: rendered,
        },
        assets: draft
            .assets
            .iter()
            .map(|r| CoveredAsset {
                id: r.id,
                title: r.title.clone(),
                kind: r.kind,
                jurisdiction: r.jurisdiction.clone(),
                number: r.grant_number.clone().or_else(|| r.application_number.clone()),
            })
            .collect(),
        acceptances,
        saved_version: None,
    })
}

/// An agreement as the API shows it: the version the caller may see, with its rendered clauses.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AgreementDetail {
    pub id: AgreementId,
    pub kind: AgreementKind,
    pub title: String,
    pub status: Status,
    pub licensor: PartyRef,
    pub licensee: PartyRef,
    pub parent_id: Option<AgreementId>,
    pub current_version: i32,
    /// The version shown to the licensee (0: none yet).
    pub shared_version: i32,
    pub executed_version: Option<i32>,
    pub executed_at: Option<DateTime<Utc>>,
    pub approved_version: Option<i32>,
    /// Where the workflow may go from here.
    pub allowed_transitions: Vec<Status>,
    pub version: VersionDetail,
    pub assets: Vec<CoveredAsset>,
    pub acceptances: Vec<licentia_db::agreements::Acceptance>,
    /// Only in the answer to saving a version: its number.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub saved_version: Option<i32>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PartyRef {
    pub id: OrganisationId,
    pub name: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct VersionDetail {
    pub number: i32,
    pub author: String,
    pub comment: String,
    pub created_at: DateTime<Utc>,
    /// SHA-256 of the text, hex.
    pub text_sha256: String,
    pub text: String,
    /// The financial and legal terms of this version.
    #[schema(value_type = Object)]
    pub terms: Value,
    pub clauses: Vec<Rendered>,
}

/// An asset an agreement covers.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CoveredAsset {
    pub id: AssetId,
    pub title: String,
    pub kind: licentia_domain::ip::AssetKind,
    pub jurisdiction: Option<String>,
    /// The grant or registration number, else the application number.
    pub number: Option<String>,
}

/// Rebuilds the renderer's input for a stored version from what the version itself holds (its
/// title, parties, assets and their labels), never from the agreement's current draft; the text it
/// renders is checked against the stored hash, so what is shown is what was accepted.
pub async fn draft_of(conn: &mut licentia_db::PgConnection, a: &AgreementRow, v: &VersionRow) -> AppResult<Draft> {
    let assets = covered_assets(conn, &v.asset_ids).await?;
    let draft = Draft {
        kind: a.kind,
        title: v.title.clone(),
        licensor: v.licensor_name.clone(),
        licensee: v.licensee_name.clone(),
        parent: v.parent_title.clone(),
        assets,
        labels: v.asset_labels.clone(),
        terms: terms_of(v)?,
        overrides: overrides_of(v),
    };
    Ok(draft)
}

/// A stored version as a document to print: its own title and parties, and clauses whose text is
/// exactly the stored text (SHA-256 `sha`). Should the clause library's wording ever change so that
/// a version no longer re-renders to its stored text, the stored text is shown as it is: a printout
/// never shows words other than those accepted.
pub struct Document {
    pub title: String,
    pub kind_label: &'static str,
    pub licensor: String,
    pub licensee: String,
    pub number: i32,
    pub sha: String,
    pub clauses: Vec<(String, String)>,
}

pub async fn document_of(conn: &mut licentia_db::PgConnection, a: &AgreementRow, v: &VersionRow) -> AppResult<Document> {
    let draft = draft_of(conn, a, v).await?;
    let (rendered, text) = draft.render();
    let clauses = if sha256(&text) == v.text_sha256 {
        rendered.into_iter().map(|c| (format!("{}. {}", c.number, c.heading), c.text)).collect()
    } else {
        tracing::warn!(agreement = %a.id, version = v.number, "stored version does not re-render to its text; printing the stored text");
        vec![("Text".to_owned(), v.text.clone())]
    };
    Ok(Document {
        title: v.title.clone(),
        kind_label: draft.kind.label(),
        licensor: v.licensor_name.clone(),
        licensee: v.licensee_name.clone(),
        number: v.number,
        sha: hex::encode(&v.text_sha256),
        clauses,
    })
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[schema(example = json!({"terms": {"territory": ["DE", "FR", "IT"], "currency": "EUR", "royalty_bp": 300, "reporting": "quarterly"}, "comment": "Italy added, royalty 3 %"}))]
#[serde(deny_unknown_fields)]
pub struct VersionInput {
    pub title: Option<String>,
    pub assets: Option<Vec<String>>,
    pub terms: Option<TermsInput>,
    /// Clause rewordings; `null` or absent keeps the current ones, `{}` restores the library text.
    pub clauses: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub comment: String,
}

#[tracing::instrument(skip_all, fields(actor = %actor.user_id))]
pub async fn save(state: &AppState, actor: &Actor, id: AgreementId, i: VersionInput) -> AppResult<(i32, Vec<u8>)> {
    let comment = check_comment(&i.comment)?;
    let new_title = i.title.as_deref().map(check_title).transpose()?;
    let new_terms = i.terms.as_ref().map(TermsInput::parse).transpose()?;
    if let Some(o) = &i.clauses {
        check_overrides(o)?;
    }
    let new_assets = i.assets.as_deref().map(parse_asset_ids).transpose()?;
    let mut tx = state.db.begin().await?;
    let a = lock(&mut tx, state, actor, id).await?;
    let status = a.status;
    if status != Status::Draft {
        // Executed (and approved, reviewed) versions are frozen: send it back to draft first,
        // which an executed agreement can never be.
        return Err(AppError::Conflict { message: format!("versions can only be saved while the agreement is a draft; it is {}", status.as_str()) });
    }
    let current = db::version(&mut tx, a.id, a.current_version, None).await?;
    let mut draft = draft_of(&mut tx, &a, &current).await?;
    // A new version names the parties, the head licence and the assets as they are now.
    draft.licensor = a.licensor_name.clone();
    draft.licensee = a.licensee_name.clone();
    if let Some(p) = a.parent_id {
        draft.parent = Some(db::get(&mut tx, p, Scope::All).await?.title);
    }
    let current_assets = std::mem::take(&mut draft.assets);
    draft.set_assets(current_assets);
    if let Some(t) = new_title {
        db::set_title(&mut tx, a.id, &t).await?;
        draft.title = t;
    }
    if let Some(t) = new_terms {
        draft.terms = t;
    }
    if let Some(o) = i.clauses {
        draft.overrides = o;
    }
    if let Some(ids) = new_assets {
        if draft.kind.grants_rights() && ids.is_empty() {
            return Err(bad("assets", "a licence or assignment covers at least one asset"));
        }
        draft.set_assets(covered_assets(&mut tx, &ids).await.map_err(|e| match e {
            AppError::NotFound => bad("assets", "no such asset"),
            other => other,
        })?);
        db::set_assets(&mut tx, a.id, &ids).await?;
    }
    let number = a.current_version + 1;
    let sha = save_version(&mut tx, a.id, number, &draft, actor.user_id, &comment).await?;
    let event = actor
        .event("agreement.version_saved", Outcome::Success)
        .target("agreement", a.id)
        .details(json!({ "version": number, "text_sha256": hex::encode(&sha), "comment": comment }));
    let seq = state.audit(&mut tx, event).await?;
    tx.commit().await.map_err(db_err)?;
    state.audited(seq).await;
    Ok((number, sha))
}

pub async fn load_version(state: &AppState, actor: &Actor, a: &AgreementRow, n: &str) -> AppResult<VersionRow> {
    let Ok(n) = n.trim().parse::<i32>() else { return Err(state.not_found(actor, "agreement_version", n).await) };
    let mut conn = state.db.pool.acquire().await.map_err(db_err)?;
    match db::version(&mut conn, a.id, n, policy::readable_max(actor, a)).await {
        Ok(v) => Ok(v),
        Err(licentia_db::DbError::NotFound) => Err(state.not_found(actor, "agreement_version", &format!("{}/{n}", a.id)).await),
        Err(e) => Err(e.into()),
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Redline {
    pub from: i32,
    pub to: i32,
    pub text: Vec<diff::Piece>,
    pub terms: Vec<String>,
}

pub async fn redline(state: &AppState, actor: &Actor, a: &AgreementRow, from: &str, to: &str) -> AppResult<Redline> {
    let old = load_version(state, actor, a, from).await?;
    let new = load_version(state, actor, a, to).await?;
    Ok(Redline { from: old.number, to: new.number, text: diff::words(&old.text, &new.text), terms: diff::terms(&terms_of(&old)?, &terms_of(&new)?) })
}

fn invalid(from: Status, to: &str) -> AppError {
    AppError::InvalidTransition {
        from: from.as_str().into(),
        to: to.chars().take(40).collect(),
        allowed: from.next().iter().map(|s| s.as_str().to_owned()).collect(),
    }
}

#[tracing::instrument(skip_all, fields(actor = %actor.user_id))]
pub async fn transition(state: &AppState, actor: &Actor, id: AgreementId, to_raw: &str, comment: &str) -> AppResult<Status> {
    let comment = check_comment(comment)?;
    let mut tx = state.db.begin().await?;
    let a = lock(&mut tx, state, actor, id).await?;
    let from = a.status;
    let Ok(to) = to_raw.trim().parse::<Status>() else { return Err(invalid(from, to_raw)) };
    if !from.can_move_to(to) || matches!(to, Status::Approved | Status::Executed) {
        if from.can_move_to(to) {
            let how = if to == Status::Approved {
                "approve it through /approve (another manager than the author)"
            } else {
                "it is executed when both parties have accepted"
            };
            return Err(AppError::Conflict { message: format!("cannot move to {} with a bare transition: {how}", to.as_str()) });
        }
        return Err(invalid(from, to_raw));
    }
    let today = Utc::now().date_naive();
    let mut shared = None;
    match to {
        Status::InReview => shared = Some(a.current_version),
        Status::Draft => {
            db::set_approved(&mut tx, a.id, None, None).await?;
            db::clear_acceptances(&mut tx, a.id).await?;
        }
        Status::Active if a.effective_date.is_some_and(|d| d > today) => {
            return Err(AppError::Conflict {
                message: format!("the agreement takes effect on {}", a.effective_date.map(|d| d.to_string()).unwrap_or_default()),
            });
        }
        Status::Expired if a.end_date.is_none_or(|d| d >= today) => {
            return Err(AppError::Conflict { message: "the agreement has not reached its end date; terminate it instead".into() });
        }
        _ => {}
    }
    db::set_status(&mut tx, a.id, to, shared).await?;
    let event = actor
        .event("agreement.transition", Outcome::Success)
        .target("agreement", a.id)
        .details(json!({ "from": from.as_str(), "to": to.as_str(), "version": a.current_version, "comment": comment }));
    let seq = state.audit(&mut tx, event).await?;
    let mut mail = notify::Queued::default();
    if to == Status::InReview {
        let author = db::version(&mut tx, a.id, a.current_version, None).await?.author_id;
        mail = notify::queue(&mut tx, state, notify::Event::Submitted { agreement: &a, version: a.current_version, author }).await?;
    }
    tx.commit().await.map_err(db_err)?;
    state.audited(seq).await;
    state.notified(mail);
    Ok(to)
}

#[tracing::instrument(skip_all, fields(actor = %actor.user_id))]
pub async fn approve(state: &AppState, actor: &Actor, id: AgreementId) -> AppResult<()> {
    let mut tx = state.db.begin().await?;
    licentia_db::pool::advisory_xact_lock(&mut tx, APPROVAL_LOCK).await?;
    let a = lock(&mut tx, state, actor, id).await?;
    let from = a.status;
    if !from.can_move_to(Status::Approved) {
        return Err(invalid(from, "approved"));
    }
    let v = db::version(&mut tx, a.id, a.current_version, None).await?;
    if v.author_id == actor.user_id {
        let event =
            actor.event("agreement.approval_refused", Outcome::Denied).target("agreement", a.id).details(json!({ "version": v.number, "reason": "four_eyes" }));
        let seq = state.audit(&mut tx, event).await?;
        tx.commit().await.map_err(db_err)?;
        state.audited(seq).await;
        return Err(AppError::FourEyes);
    }
    let kind = a.kind;
    let terms = terms_of(&v)?;
    if kind.grants_rights() {
        let assets = db::asset_ids(&mut tx, a.id).await?;
        for (other_id, title, other_kind, other_terms) in db::binding_on_assets(&mut tx, a.id, &assets).await? {
            let Ok(other_kind) = other_kind.parse::<AgreementKind>() else { continue };
            if !other_kind.grants_rights() {
                continue;
            }
            let exclusive_here = kind.exclusivity() != Exclusivity::NonExclusive;
            let exclusive_there = other_kind.exclusivity() != Exclusivity::NonExclusive;
            if !(exclusive_here || exclusive_there) {
                continue;
            }
            let Ok(other_terms) = serde_json::from_value::<Terms>(other_terms) else { continue };
            if terms.overlaps(&other_terms) {
                let reason = format!(
                    "both cover the same asset in an overlapping territory ({} / {}), field and term, and {} is {}",
                    terms.territory.describe(),
                    other_terms.territory.describe(),
                    if exclusive_there { "the other" } else { "this one" },
                    if exclusive_there { other_kind.as_str() } else { kind.as_str() },
                );
                return Err(AppError::ExclusivityConflict { id: other_id, title, reason });
            }
        }
    }
    // Export control: every classified asset against the licensee's country and the territory,
    // each restriction cured only by a permit recorded on the agreement (licentia_domain::export).
    let export = crate::export::report_in(&mut tx, &a, &terms, Utc::now().date_naive()).await?;
    if let Some(refusal) = crate::export::refusal(&export) {
        let blocking = export.blocking();
        let event = actor.event("agreement.approval_refused", Outcome::Denied).target("agreement", a.id).details(json!({
            "version": v.number,
            "reason": "export_control",
            "rule": blocking.map(|c| c.finding.rule),
            "asset": blocking.map(|c| c.asset),
            "country": blocking.map(|c| c.finding.country.clone()),
        }));
        let seq = state.audit(&mut tx, event).await?;
        tx.commit().await.map_err(db_err)?;
        state.audited(seq).await;
        return Err(refusal);
    }
    let cured: Vec<serde_json::Value> =
        export.checks.iter().map(|c| json!({ "asset": c.asset, "rule": c.finding.rule, "country": c.finding.country, "permit": c.permit })).collect();
    db::set_approved(&mut tx, a.id, Some(actor.user_id), Some(v.number)).await?;
    db::set_status(&mut tx, a.id, Status::Approved, Some(v.number)).await?;
    let event = actor
        .event("agreement.approved", Outcome::Success)
        .target("agreement", a.id)
        .details(json!({ "version": v.number, "author": v.author_id, "export_permits_relied_on": cured }));
    let seq = state.audit(&mut tx, event).await?;
    let mail = notify::queue(&mut tx, state, notify::Event::Approved { agreement: &a, version: v.number, approver: actor.user_id }).await?;
    tx.commit().await.map_err(db_err)?;
    state.audited(seq).await;
    state.notified(mail);
    Ok(())
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[schema(example = json!({"text_sha256": "9f2c4e0b7d1a5c3e8f6b2d4a1c9e7f5b3d1a8c6e4f2b0d9c7a5e3f1b8d6c4a2e"}))]
#[serde(deny_unknown_fields)]
pub struct AcceptInput {
    /// The hash of the text the user read; refused if the text changed since.
    pub text_sha256: Option<String>,
    pub csrf: Option<String>,
}

#[tracing::instrument(skip_all, fields(actor = %actor.user_id))]
pub async fn accept(state: &AppState, actor: &Actor, id: AgreementId, seen: Option<&str>) -> AppResult<Status> {
    let mut tx = state.db.begin().await?;
    let a = lock(&mut tx, state, actor, id).await?;
    let from = a.status;
    if from != Status::Approved {
        return Err(invalid(from, "executed"));
    }
    let n = a.approved_version.unwrap_or(a.current_version);
    let v = db::version(&mut tx, a.id, n, None).await?;
    if let Some(seen) = seen
        && !seen.trim().eq_ignore_ascii_case(&hex::encode(&v.text_sha256))
    {
        return Err(AppError::Conflict { message: format!("the text changed: version {n} has a different SHA-256 than the one you accepted") });
    }
    let party = if actor.role == Role::Licensee { "licensee" } else { "licensor" };
    db::accept(&mut tx, a.id, party, n, &v.text_sha256, actor.user_id).await?;
    let event = actor
        .event("agreement.accepted", Outcome::Success)
        .target("agreement", a.id)
        .details(json!({ "party": party, "version": n, "text_sha256": hex::encode(&v.text_sha256) }));
    let mut seq = state.audit(&mut tx, event).await?;
    let accepted = db::acceptances(&mut tx, a.id).await?;
    let both = ["licensor", "licensee"].iter().all(|p| accepted.iter().any(|x| x.party == *p && x.version == n && x.text_sha256 == v.text_sha256));
    let mut status = from;
    let mut mail = notify::Queued::default();
    if both {
        db::set_executed(&mut tx, a.id, n).await?;
        let mut details = json!({ "version": n, "text_sha256": hex::encode(&v.text_sha256) });
        if a.kind == AgreementKind::Assignment {
            details["assets_assigned"] = json!(db::assign_assets(&mut tx, a.id, &a.licensee_name).await?);
        }
        // The executed document, kept as an encrypted artifact both parties can read (it belongs
        // to the licensee's organisation; the licensor side reads every organisation's).
        let pdf = version_pdf(&mut tx, &a, &v, &accepted).await?;
        let artifact = crate::artifacts::store_bytes(
            state,
            Some(actor.user_id),
            a.licensee_id,
            "agreement",
            a.id.into(),
            &format!("agreement-{}-v{n}-executed.pdf", a.id),
            "application/pdf",
            &pdf,
        )
        .await?;
        licentia_db::artifacts::insert(&mut tx, &artifact).await?;
        details["pdf_artifact"] = json!(artifact.id);
        details["pdf_sha256"] = json!(hex::encode(&artifact.sha256));
        seq = state.audit(&mut tx, actor.event("agreement.executed", Outcome::Success).target("agreement", a.id).details(details)).await?;
        status = Status::Executed;
        mail = notify::queue(&mut tx, state, notify::Event::Executed { agreement: &a, version: n }).await?;
    }
    tx.commit().await.map_err(db_err)?;
    state.audited(seq).await;
    state.notified(mail);
    Ok(status)
}

#[tracing::instrument(skip_all, fields(actor = %actor.user_id))]
pub async fn request_changes(state: &AppState, actor: &Actor, id: AgreementId, comment: &str) -> AppResult<()> {
    let comment = check_comment(comment)?;
    if comment.is_empty() {
        return Err(bad("comment", "say what should change"));
    }
    let mut tx = state.db.begin().await?;
    let a = lock(&mut tx, state, actor, id).await?;
    let from = a.status;
    // Under review, or approved but not yet signed by both: the licensee may still send it back.
    if !matches!(from, Status::InReview | Status::Approved) {
        return Err(invalid(from, "draft"));
    }
    db::set_status(&mut tx, a.id, Status::Draft, None).await?;
    db::set_approved(&mut tx, a.id, None, None).await?;
    db::clear_acceptances(&mut tx, a.id).await?;
    let event = actor
        .event("agreement.changes_requested", Outcome::Success)
        .target("agreement", a.id)
        .details(json!({ "version": a.shared_version, "comment": comment }));
    let seq = state.audit(&mut tx, event).await?;
    let mail = notify::queue(&mut tx, state, notify::Event::ChangesRequested { agreement: &a, by: actor.user_id, comment: &comment }).await?;
    tx.commit().await.map_err(db_err)?;
    state.audited(seq).await;
    state.notified(mail);
    Ok(())
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SalesLineInput {
    pub period_start: String,
    pub period_end: String,
    pub country: String,
    pub net_sales: i64,
    #[serde(default)]
    pub sublicence_revenue: i64,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[schema(example = json!({"lines": [{"period_start": "2027-01-01", "period_end": "2027-03-31", "country": "DE", "net_sales": 12000000}]}))]
#[serde(deny_unknown_fields)]
pub struct SalesInput {
    pub lines: Vec<SalesLineInput>,
}

#[tracing::instrument(skip_all, fields(actor = %actor.user_id))]
pub async fn report_sales(state: &AppState, actor: &Actor, a: &AgreementRow, lines: &[SalesLineInput]) -> AppResult<usize> {
    if !matches!(a.status, Status::Executed | Status::Active) {
        return Err(AppError::Conflict { message: format!("sales are reported under an executed or active agreement; this one is {}", a.status) });
    }
    if lines.is_empty() || lines.len() > 1000 {
        return Err(bad("lines", "send 1 to 1000 lines"));
    }
    let mut rows = Vec::with_capacity(lines.len());
    for (i, l) in lines.iter().enumerate() {
        let d =
            |raw: &str, f: &str| NaiveDate::parse_from_str(raw.trim(), "%Y-%m-%d").map_err(|_| bad(&format!("lines[{i}].{f}"), "must be a date YYYY-MM-DD"));
        let (start, end) = (d(&l.period_start, "period_start")?, d(&l.period_end, "period_end")?);
        if end < start {
            return Err(bad(&format!("lines[{i}].period_end"), "is before the period start"));
        }
        let country = l.country.trim().to_ascii_uppercase();
        if !is_country(&country) {
            return Err(bad(&format!("lines[{i}].country"), "must be an ISO 3166 country code"));
        }
        for (f, v) in [("net_sales", l.net_sales), ("sublicence_revenue", l.sublicence_revenue)] {
            if !(0..=1_000_000_000_000_000).contains(&v) {
                return Err(bad(&format!("lines[{i}].{f}"), "must be between 0 and 10^15 minor units"));
            }
        }
        rows.push((start, end, country, l.net_sales, l.sublicence_revenue));
    }
    let mut tx = state.db.begin().await?;
    db::add_sales(&mut tx, a.id, &rows, actor.user_id).await.map_err(|e| match e {
        licentia_db::DbError::Conflict { .. } => AppError::Conflict { message: "sales for one of these periods and countries were already reported".into() },
        other => other.into(),
    })?;
    let total: i64 = rows.iter().map(|r| r.3).sum();
    let event = actor.event("sales.reported", Outcome::Success).target("agreement", a.id).details(json!({ "lines": rows.len(), "net_sales_total": total }));
    let seq = state.audit(&mut tx, event).await?;
    tx.commit().await.map_err(db_err)?;
    state.audited(seq).await;
    Ok(rows.len())
}

/// A period name → its first and last day.
pub fn parse_period(p: &str) -> Option<(NaiveDate, NaiveDate)> {
    let p = p.trim();
    let (year, rest) = p.split_once('-').map_or((p, None), |(y, r)| (y, Some(r)));
    let year: i32 = year.parse().ok().filter(|y| (1900..=2200).contains(y))?;
    let (m1, m2) = match rest {
        None => (1, 12),
        Some(q @ ("Q1" | "Q2" | "Q3" | "Q4")) => {
            let q: u32 = q[1..].parse().ok()?;
            (3 * q - 2, 3 * q)
        }
        Some("H1") => (1, 6),
        Some("H2") => (7, 12),
        Some(m) => {
            let m: u32 = m.parse().ok().filter(|m| (1..=12).contains(m))?;
            (m, m)
        }
    };
    let from = NaiveDate::from_ymd_opt(year, m1, 1)?;
    let after = if m2 == 12 { NaiveDate::from_ymd_opt(year + 1, 1, 1)? } else { NaiveDate::from_ymd_opt(year, m2 + 1, 1)? };
    Some((from, after.pred_opt()?))
}

/// The PDF of a version: the rendered clauses, the text's SHA-256, and the acceptances of it.
pub async fn version_pdf(conn: &mut licentia_db::PgConnection, a: &AgreementRow, v: &VersionRow, accepted: &[db::Acceptance]) -> AppResult<Vec<u8>> {
    use crate::pdf::Block;
    let doc = document_of(conn, a, v).await?;
    let mut blocks =
        vec![Block::Title(doc.title.clone()), Block::Small(format!("{} · version {} · {} and {}", doc.kind_label, v.number, doc.licensor, doc.licensee))];
    for (heading, text) in &doc.clauses {
        blocks.push(Block::Heading(heading.clone()));
        blocks.push(Block::Para(text.clone()));
    }
    blocks.push(Block::Heading("Text fingerprint".into()));
    blocks.push(Block::Small(format!("SHA-256 of the text of version {}: {}", v.number, hex::encode(&v.text_sha256))));
    for x in accepted.iter().filter(|x| x.version == v.number) {
        blocks.push(Block::Small(format!(
            "Accepted for the {} by {} on {} (SHA-256 {}).",
            x.party,
            x.user_name,
            x.accepted_at.format("%Y-%m-%d %H:%M UTC"),
            hex::encode(&x.text_sha256)
        )));
    }
    let name = format!("agreement-version-{}.txt", v.number);
    let attachment = crate::pdf::Attachment {
        name: &name,
        description: "The text of record of this version: its SHA-256 is the fingerprint above",
        bytes: v.text.as_bytes(),
    };
    Ok(crate::pdf::render(&doc.title, &format!("{} v{}", doc.title, v.number), &blocks, Some(attachment)))
}
