//! Agreement pages: the list with a drafting form, an agreement (its text, versions, workflow
//! buttons for what the viewer may do, the editor for drafts, the licensee's sales form), the
//! redline between two versions, a printable version, statements and the revenue chart. The
//! licensee portal is these same pages, scoped.

use std::collections::BTreeMap;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, Responder as _, web};
use askama::Template;
use askama_web::WebTemplate;
use chrono::{Datelike as _, Utc};
use licentia_db::agreements::{self as db, Acceptance, AgreementRow, VersionRow};
use licentia_db::assets::{AssetFilter, AssetRow, AssetScope};
use licentia_db::organisations::Organisation;
use licentia_domain::AgreementId;
use licentia_domain::agreement::clauses::{LIBRARY, Rendered};
use licentia_domain::agreement::diff::{Op, Piece};
use licentia_domain::agreement::statement::Statement;
use licentia_domain::agreement::{AgreementKind, MilestoneInput, Reporting, Status, Terms, TermsInput, money};
use licentia_domain::{OrgKind, Permission, Role};

use crate::api::agreements::{self as api, NewAgreementInput, SalesLineInput, StatementQuery, VersionInput};
use crate::auth::CurrentUser;
use crate::context::RequestContext;
use crate::error::{AppError, AppResult, Reply};
use crate::pages::{Nav, back, flash_from};
use crate::state::AppState;

type Pairs = Vec<(String, String)>;

fn field<'a>(p: &'a Pairs, name: &str) -> &'a str {
    p.iter().find(|(k, _)| k == name).map_or("", |(_, v)| v.as_str())
}

/// The terms as the form shows and submits them: amounts in major units, rates in percent.
#[derive(Debug, Clone, Default)]
pub struct TermsForm {
    pub territory: String,
    pub excluded: String,
    pub fields: String,
    pub effective_date: String,
    pub end_date: String,
    pub renewal_years: String,
    pub currency: String,
    pub upfront_fee: String,
    pub royalty_percent: String,
    pub fee_per_run: String,
    pub fee_per_1000_compute_units: String,
    pub fee_per_1000_predictions: String,
    pub fee_per_fine_tuning_run: String,
    pub minimum_annual_royalty: String,
    pub sublicensing: bool,
    pub sublicence_share_percent: String,
    pub patent_cost_share_percent: String,
    pub reporting: String,
    /// One per line: `name; YYYY-MM-DD; amount`.
    pub milestones: String,
    /// After a refused submission: (input name, message) for each field at fault.
    pub problems: Vec<(String, String)>,
}

fn zero_decimal(currency: &str) -> bool {
    matches!(currency, "JPY" | "KRW")
}

/// Minor units → the form's plain major-unit text.
fn plain(minor: i64, currency: &str) -> String {
    if minor == 0 {
        return String::new();
    }
    if zero_decimal(currency) { minor.to_string() } else { format!("{}.{:02}", minor / 100, minor % 100) }
}

fn plain_percent(bp: u32) -> String {
    if bp == 0 {
        return String::new();
    }
    let s = format!("{}.{:02}", bp / 100, bp % 100);
    s.trim_end_matches('0').trim_end_matches('.').to_owned()
}

/// `"1,234.5"` → minor units; at most the currency's decimals; digits only.
fn parse_amount(field: &str, raw: &str, currency: &str) -> AppResult<Option<i64>> {
    let s: String = raw.trim().chars().filter(|c| *c != ',' && *c != ' ' && *c != '_').collect();
    if s.is_empty() {
        return Ok(None);
    }
    let bad = || AppError::Validation { field: field.into(), message: "must be an amount like 1234.56".into() };
    let (whole, frac) = s.split_once('.').unwrap_or((&s, ""));
    let decimals = if zero_decimal(currency) { 0 } else { 2 };
    if whole.is_empty() || whole.len() > 15 || !whole.chars().all(|c| c.is_ascii_digit()) || frac.len() > decimals || !frac.chars().all(|c| c.is_ascii_digit())
    {
        return Err(bad());
    }
    let whole: i64 = whole.parse().map_err(|_| bad())?;
    let mut cents: i64 = if frac.is_empty() { 0 } else { frac.parse().map_err(|_| bad())? };
    if frac.len() == 1 {
        cents *= 10;
    }
    Ok(Some(if decimals == 0 { whole } else { whole * 100 + cents }))
}

/// `"3.25"` (percent) → 325 basis points.
fn parse_percent(field: &str, raw: &str) -> AppResult<Option<i64>> {
    let s = raw.trim().trim_end_matches('%').trim();
    if s.is_empty() {
        return Ok(None);
    }
    let bad = || AppError::Validation { field: field.into(), message: "must be a percentage like 3.5".into() };
    let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
    if whole.is_empty() || whole.len() > 3 || !whole.chars().all(|c| c.is_ascii_digit()) || frac.len() > 2 || !frac.chars().all(|c| c.is_ascii_digit()) {
        return Err(bad());
    }
    let w: i64 = whole.parse().map_err(|_| bad())?;
    let f: i64 = if frac.is_empty() { 0 } else { frac.parse::<i64>().map_err(|_| bad())? * if frac.len() == 1 { 10 } else { 1 } };
    Ok(Some(w * 100 + f))
}

fn list(raw: &str) -> Vec<String> {
    raw.split([',', ';', '\n']).map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect()
}

/// The terms' fields as the error, the form and the person name them: (field in errors, input
/// name, label on the form).
const TERM_FIELDS: &[(&str, &str, &str)] = &[
    ("territory", "territory", "Territory"),
    ("excluded", "excluded", "Excluded"),
    ("fields", "fields", "Fields of use"),
    ("effective_date", "effective_date", "Effective date"),
    ("end_date", "end_date", "End date"),
    ("renewal_years", "renewal_years", "Renews for (years)"),
    ("currency", "currency", "Currency"),
    ("upfront_fee", "upfront_fee", "Upfront fee"),
    ("royalty_bp", "royalty_percent", "Royalty (%)"),
    ("fee_per_run", "fee_per_run", "Fee per training run"),
    ("fee_per_1000_compute_units", "fee_per_1000_compute_units", "Fee per 1,000 compute units"),
    ("fee_per_1000_predictions", "fee_per_1000_predictions", "Fee per 1,000 predictions"),
    ("fee_per_fine_tuning_run", "fee_per_fine_tuning_run", "Fee per fine-tuning run"),
    ("minimum_annual_royalty", "minimum_annual_royalty", "Minimum annual royalty"),
    ("sublicence_share_bp", "sublicence_share_percent", "Sublicence revenue share (%)"),
    ("patent_cost_share_bp", "patent_cost_share_percent", "Patent cost share (%)"),
    ("reporting", "reporting", "Reporting"),
    ("milestones", "milestones", "Milestones"),
];

/// A refused form's message in the form's words: `Royalty (%): must be a percentage like 3.5`
/// rather than `royalty_bp: …`; every problem of the terms at once where there are several.
fn form_error(form: &mut TermsForm, field: &str, message: &str) -> String {
    form.problems = form.find_problems();
    if form.problems.is_empty() {
        let label = TERM_FIELDS.iter().find(|(f, _, _)| *f == field.trim_start_matches("terms.")).map_or(field, |(_, _, l)| *l);
        return format!("{label}: {message}");
    }
    let listed: Vec<String> = form
        .problems
        .iter()
        .map(|(input, m)| format!("{}: {m}", TERM_FIELDS.iter().find(|(_, i, _)| i == input).map_or(input.as_str(), |(_, _, l)| *l)))
        .collect();
    match listed.len() {
        1 => listed.join(""),
        n => format!("{n} problems in the terms. {}", listed.join("; ")),
    }
}

impl TermsForm {
    /// The message beside an input, if the last submission had a problem there.
    pub fn problem(&self, input: &str) -> Option<&str> {
        self.problems.iter().find(|(i, _)| i == input).map(|(_, m)| m.as_str())
    }

    /// Every problem of the terms at once, by input name: parses the form (and the terms), sets
    /// the field at fault aside (blank, or a neutral value where one is required), and parses
    /// again, until the rest parses. Bounded by the number of fields.
    pub fn find_problems(&self) -> Vec<(String, String)> {
        let mut form = self.clone();
        let mut out: Vec<(String, String)> = Vec::new();
        for _ in 0..=TERM_FIELDS.len() {
            let failed = match form.to_input() {
                Ok(input) => input.parse().err().map(|e| (e.field.to_owned(), e.message)),
                Err(AppError::Validation { field, message }) => Some((field, message)),
                Err(_) => None,
            };
            let Some((field, message)) = failed else { break };
            let Some((_, input, _)) = TERM_FIELDS.iter().find(|(f, _, _)| *f == field.trim_start_matches("terms.")) else { break };
            if out.iter().any(|(i, _)| i == input) {
                break;
            }
            // The form asks for percent, the terms keep basis points: say it in the form's unit.
            let message = if input.ends_with("_percent") { message.replace("10000 basis points (100 %)", "100 %") } else { message };
            out.push(((*input).to_owned(), message));
            form.set_aside(input);
        }
        out
    }

    fn set_aside(&mut self, input: &str) {
        match input {
            "territory" => self.territory = "worldwide".into(),
            "excluded" => self.excluded.clear(),
            "fields" => self.fields.clear(),
            "effective_date" => self.effective_date = "2000-01-01".into(),
            "end_date" => {
                self.end_date.clear();
                self.renewal_years.clear();
            }
            "renewal_years" => self.renewal_years.clear(),
            "currency" => self.currency = "EUR".into(),
            "upfront_fee" => self.upfront_fee.clear(),
            "royalty_percent" => self.royalty_percent.clear(),
            "fee_per_run" => self.fee_per_run.clear(),
            "fee_per_1000_compute_units" => self.fee_per_1000_compute_units.clear(),
            "fee_per_1000_predictions" => self.fee_per_1000_predictions.clear(),
            "fee_per_fine_tuning_run" => self.fee_per_fine_tuning_run.clear(),
            "minimum_annual_royalty" => self.minimum_annual_royalty.clear(),
            "sublicence_share_percent" => self.sublicence_share_percent.clear(),
            "patent_cost_share_percent" => self.patent_cost_share_percent.clear(),
            "reporting" => self.reporting.clear(),
            "milestones" => self.milestones.clear(),
            _ => {}
        }
    }

    pub fn from_pairs(p: &Pairs) -> Self {
        Self {
            territory: field(p, "territory").into(),
            excluded: field(p, "excluded").into(),
            fields: field(p, "fields").into(),
            effective_date: field(p, "effective_date").into(),
            end_date: field(p, "end_date").into(),
            renewal_years: field(p, "renewal_years").into(),
            currency: field(p, "currency").into(),
            upfront_fee: field(p, "upfront_fee").into(),
            royalty_percent: field(p, "royalty_percent").into(),
            fee_per_run: field(p, "fee_per_run").into(),
            fee_per_1000_compute_units: field(p, "fee_per_1000_compute_units").into(),
            fee_per_1000_predictions: field(p, "fee_per_1000_predictions").into(),
            fee_per_fine_tuning_run: field(p, "fee_per_fine_tuning_run").into(),
            minimum_annual_royalty: field(p, "minimum_annual_royalty").into(),
            sublicensing: !field(p, "sublicensing").is_empty(),
            sublicence_share_percent: field(p, "sublicence_share_percent").into(),
            patent_cost_share_percent: field(p, "patent_cost_share_percent").into(),
            reporting: field(p, "reporting").into(),
            milestones: field(p, "milestones").into(),
            problems: Vec::new(),
        }
    }

    pub fn from_terms(t: &Terms) -> Self {
        let c = t.currency.as_str();
        Self {
            territory: if t.territory.worldwide { "worldwide".into() } else { t.territory.countries.iter().cloned().collect::<Vec<_>>().join(", ") },
            excluded: t.territory.excluded.iter().cloned().collect::<Vec<_>>().join(", "),
            fields: t.fields.iter().cloned().collect::<Vec<_>>().join(", "),
            effective_date: t.effective_date.to_string(),
            end_date: t.end_date.map(|d| d.to_string()).unwrap_or_default(),
            renewal_years: if t.renewal_years > 0 { t.renewal_years.to_string() } else { String::new() },
            currency: t.currency.clone(),
            upfront_fee: plain(t.upfront_fee, c),
            royalty_percent: plain_percent(t.royalty_bp),
            fee_per_run: plain(t.fee_per_run, c),
            fee_per_1000_compute_units: plain(t.fee_per_1000_compute_units, c),
            fee_per_1000_predictions: plain(t.fee_per_1000_predictions, c),
            fee_per_fine_tuning_run: plain(t.fee_per_fine_tuning_run, c),
            minimum_annual_royalty: plain(t.minimum_annual_royalty, c),
            sublicensing: t.sublicensing,
            sublicence_share_percent: plain_percent(t.sublicence_share_bp),
            patent_cost_share_percent: plain_percent(t.patent_cost_share_bp),
            reporting: match t.reporting {
                Reporting::Quarterly => "quarterly",
                Reporting::SemiAnnual => "semi_annual",
                Reporting::Annual => "annual",
            }
            .into(),
            milestones: t.milestones.iter().map(|m| format!("{}; {}; {}", m.name, m.due, plain(m.amount, c))).collect::<Vec<_>>().join("\n"),
            problems: Vec::new(),
        }
    }

    pub fn to_input(&self) -> AppResult<TermsInput> {
        let currency = if self.currency.trim().is_empty() { "EUR".to_owned() } else { self.currency.trim().to_ascii_uppercase() };
        let worldwide = self.territory.trim().eq_ignore_ascii_case("worldwide");
        let renewal_years = match self.renewal_years.trim() {
            "" => None,
            r => Some(r.parse::<i64>().map_err(|_| AppError::Validation { field: "renewal_years".into(), message: "must be a number of years".into() })?),
        };
        let milestones = self
            .milestones
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(|l| {
                let parts: Vec<&str> = l.split(';').map(str::trim).collect();
                let [name, due, amount] = parts.as_slice() else {
                    return Err(AppError::Validation { field: "milestones".into(), message: "one per line: name; YYYY-MM-DD; amount".into() });
                };
                Ok(MilestoneInput { name: (*name).to_owned(), due: (*due).to_owned(), amount: parse_amount("milestones", amount, &currency)?.unwrap_or(0) })
            })
            .collect::<AppResult<Vec<_>>>()?;
        Ok(TermsInput {
            territory: if worldwide { Vec::new() } else { list(&self.territory) },
            worldwide,
            excluded: list(&self.excluded),
            fields: list(&self.fields),
            sublicensing: self.sublicensing,
            effective_date: Some(self.effective_date.clone()),
            end_date: Some(self.end_date.clone()),
            renewal_years,
            upfront_fee: parse_amount("upfront_fee", &self.upfront_fee, &currency)?,
            royalty_bp: parse_percent("royalty_bp", &self.royalty_percent)?,
            fee_per_run: parse_amount("fee_per_run", &self.fee_per_run, &currency)?,
            fee_per_1000_compute_units: parse_amount("fee_per_1000_compute_units", &self.fee_per_1000_compute_units, &currency)?,
            fee_per_1000_predictions: parse_amount("fee_per_1000_predictions", &self.fee_per_1000_predictions, &currency)?,
            fee_per_fine_tuning_run: parse_amount("fee_per_fine_tuning_run", &self.fee_per_fine_tuning_run, &currency)?,
            minimum_annual_royalty: parse_amount("minimum_annual_royalty", &self.minimum_annual_royalty, &currency)?,
            milestones,
            sublicence_share_bp: parse_percent("sublicence_share_bp", &self.sublicence_share_percent)?,
            patent_cost_share_bp: parse_percent("patent_cost_share_bp", &self.patent_cost_share_percent)?,
            reporting: Some(if self.reporting.trim().is_empty() { "quarterly".into() } else { self.reporting.trim().to_owned() }),
            currency: Some(currency),
        })
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "agreements/list.html")]
pub struct ListPage {
    nav: Nav,
    rows: Vec<AgreementRow>,
    can_draft: bool,
    licensees: Vec<Organisation>,
    assets: Vec<AssetRow>,
    kinds: Vec<&'static str>,
    form: TermsForm,
    new_kind: String,
    new_title: String,
    new_licensee: String,
    new_assets: Vec<String>,
    error: Option<String>,
    flash: Option<(bool, String)>,
    status: String,
}

impl ListPage {
    fn selected(&self, id: &licentia_domain::AssetId) -> bool {
        self.new_assets.iter().any(|a| a == &id.to_string())
    }
}

#[derive(Debug, serde::Deserialize)]
pub struct ListQuery {
    pub status: Option<String>,
}

async fn list_page(state: &AppState, user: &CurrentUser, status: Option<String>, flash: Option<(bool, String)>) -> AppResult<ListPage> {
    let mut conn = state.db.pool.acquire().await.map_err(licentia_db::DbError::from)?;
    let st = status.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(|s| s.parse::<Status>()).transpose()?;
    let rows = db::list(&mut conn, api::scope(user), st.map(Status::as_str), 500).await?;
    let can_draft = user.role.allows(Permission::AgreementDraft);
    let (licensees, assets) = if can_draft {
        let orgs = licentia_db::organisations::list_scoped(&mut conn, None).await?;
        let assets = licentia_db::assets::list(&mut conn, &AssetFilter::default(), AssetScope::All, 300).await?;
        (orgs.into_iter().filter(|o| o.kind == OrgKind::Licensee && !o.disabled).collect(), assets)
    } else {
        (Vec::new(), Vec::new())
    };
    Ok(ListPage {
        nav: Nav::for_user(state, user, "/agreements"),
        rows,
        can_draft,
        licensees,
        assets,
        kinds: AgreementKind::ALL.iter().map(|k| k.as_str()).collect(),
        form: TermsForm { currency: "EUR".into(), reporting: "quarterly".into(), ..Default::default() },
        new_kind: "non_exclusive_licence".into(),
        new_title: String::new(),
        new_licensee: String::new(),
        new_assets: Vec::new(),
        error: None,
        flash,
        status: status.unwrap_or_default(),
    })
}

pub async fn list_html(state: web::Data<AppState>, ctx: RequestContext, user: CurrentUser, req: HttpRequest, q: web::Query<ListQuery>) -> Reply<ListPage> {
    let page = list_page(&state, &user, q.into_inner().status, flash_from(req.query_string())).await?;
    state.audit_alone(user.event(&ctx, "agreement.listed", licentia_audit::Outcome::Success)).await?;
    Ok(page)
}

/// `POST /agreements`: the drafting form; a mistake comes back with the form as it was typed.
pub async fn create_html(state: web::Data<AppState>, ctx: RequestContext, user: CurrentUser, req: HttpRequest, form: web::Form<Pairs>) -> Reply<HttpResponse> {
    let p = form.into_inner();
    let terms_form = TermsForm::from_pairs(&p);
    let assets: Vec<String> = p.iter().filter(|(k, _)| k == "assets").map(|(_, v)| v.clone()).collect();
    let result = async {
        let input = NewAgreementInput {
            kind: field(&p, "kind").to_owned(),
            title: field(&p, "title").to_owned(),
            licensee_id: field(&p, "licensee_id").to_owned(),
            parent_id: Some(field(&p, "parent_id").to_owned()),
            assets: assets.clone(),
            terms: terms_form.to_input()?,
            clauses: BTreeMap::new(),
            comment: field(&p, "comment").to_owned(),
        };
        licentia_app::agreements::create(&state, &user.actor_in(&ctx), input).await
    }
    .await;
    match result {
        Ok(id) => Ok(crate::pages::see_other_with(&format!("/agreements/{id}"), true, "Draft saved as version 1.")),
        Err(AppError::Validation { field: f, message }) => {
            let mut page = list_page(&state, &user, None, None).await?;
            let mut terms_form = terms_form;
            page.error = Some(form_error(&mut terms_form, &f, &message));
            page.form = terms_form;
            page.new_kind = field(&p, "kind").to_owned();
            page.new_title = field(&p, "title").to_owned();
            page.new_licensee = field(&p, "licensee_id").to_owned();
            page.new_assets = assets;
            Ok(page.customize().with_status(StatusCode::UNPROCESSABLE_ENTITY).respond_to(&req).map_into_boxed_body())
        }
        Err(e) => Err(e.into()),
    }
}

/// A clause in the editor: the library text with its variables, or the saved rewording.
pub struct EditableClause {
    pub id: &'static str,
    pub heading: &'static str,
    pub text: String,
    pub edited: bool,
}

pub struct VersionLine {
    pub number: i32,
    pub author: String,
    pub comment: String,
    pub at: String,
    pub sha: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "agreements/show.html")]
pub struct ShowPage {
    nav: Nav,
    a: AgreementRow,
    kind_label: &'static str,
    version: i32,
    author: String,
    sha: String,
    clauses: Vec<Rendered>,
    assets: Vec<AssetRow>,
    versions: Vec<VersionLine>,
    acceptances: Vec<Acceptance>,
    allowed: Vec<&'static str>,
    can_draft: bool,
    can_approve: bool,
    awaiting_other: bool,
    /// Training licences under this agreement, and whether this user may issue one.
    licences: Vec<licentia_db::training::Licence>,
    can_license: bool,
    templates: Vec<&'static str>,
    /// Published versions of the agreement's models a licence may grant.
    grantable: Vec<licentia_app::models::VersionView>,
    can_accept: bool,
    can_respond: bool,
    can_report: bool,
    is_draft: bool,
    form: TermsForm,
    editable: Vec<EditableClause>,
    error: Option<String>,
    flash: Option<(bool, String)>,
    pdf_artifact: Option<licentia_domain::ArtifactId>,
    export: licentia_app::export::ExportReport,
}

async fn show_page(state: &AppState, user: &CurrentUser, a: AgreementRow, flash: Option<(bool, String)>) -> AppResult<ShowPage> {
    let mut conn = state.db.pool.acquire().await.map_err(licentia_db::DbError::from)?;
    let n = api::visible_version(user, &a);
    let v: VersionRow = db::version(&mut conn, a.id, n, api::readable_max(user, &a)).await?;
    let draft = api::draft_of(&mut conn, &a, &v).await?;
    let (clauses, _) = draft.render();
    let versions = db::versions(&mut conn, a.id, api::readable_max(user, &a))
        .await?
        .into_iter()
        .rev()
        .map(|v| VersionLine {
            number: v.number,
            author: v.author_name,
            comment: v.comment,
            at: user.time_zone.timestamp(v.created_at),
            sha: hex::encode(&v.text_sha256),
        })
        .collect();
    let acceptances = db::acceptances(&mut conn, a.id).await?;
    let status = a.status;
    let scope = (user.role == Role::Licensee).then_some(user.organisation_id);
    let licences = if user.role.allows(Permission::LicenceRead) {
        licentia_db::training::licences(&mut conn, scope).await?.into_iter().filter(|l| l.agreement_id == a.id).collect()
    } else {
        Vec::new()
    };
    let party_accepted = acceptances.iter().any(|x| x.party == if user.role == Role::Licensee { "licensee" } else { "licensor" });
    let pdf_artifact = licentia_db::artifacts::list_scoped(&mut conn, user.scope(), Some(("agreement", a.id.into())), 10).await?.first().map(|x| x.id);
    let editable = LIBRARY
        .iter()
        .map(|c| match draft.overrides.get(c.id) {
            Some(t) => EditableClause { id: c.id, heading: c.heading, text: t.clone(), edited: true },
            None => EditableClause { id: c.id, heading: c.heading, text: c.text.to_owned(), edited: false },
        })
        .collect();
    drop(conn);
    let export = licentia_app::export::check(state, &user.actor(), &a).await?;
    let can_license = user.role.allows(Permission::LicenceManage) && matches!(status, Status::Executed | Status::Active);
    let grantable = if can_license { licentia_app::models::grantable(state, &user.actor(), a.id).await? } else { Vec::new() };
    Ok(ShowPage {
        export,
        nav: Nav::for_user(state, user, "/agreements"),
        kind_label: draft.kind.label(),
        version: v.number,
        author: v.author_name.clone(),
        sha: hex::encode(&v.text_sha256),
        clauses,
        assets: draft.assets.clone(),
        versions,
        acceptances,
        allowed: status.next().iter().map(|s| s.as_str()).filter(|s| *s != "approved" && *s != "executed").collect(),
        can_draft: user.role.allows(Permission::AgreementDraft),
        // Four eyes: the author of the version under review is not offered the approval (the
        // server would refuse it); the page says who must approve instead.
        can_approve: user.role.allows(Permission::AgreementApprove) && status == Status::InReview && v.author_id != user.id,
        awaiting_other: user.role.allows(Permission::AgreementApprove) && status == Status::InReview && v.author_id == user.id,
        licences,
        can_license,
        templates: licentia_train::Template::ALL.iter().map(|t| t.as_str()).collect(),
        grantable,
        can_accept: user.role.allows(Permission::AgreementAccept) && status == Status::Approved && !party_accepted,
        can_respond: user.role.allows(Permission::AgreementRespond) && matches!(status, Status::InReview | Status::Approved),
        can_report: user.role.allows(Permission::SalesReport) && matches!(status, Status::Executed | Status::Active),
        is_draft: status == Status::Draft,
        form: TermsForm::from_terms(&draft.terms),
        editable,
        error: None,
        flash,
        pdf_artifact,
        a,
    })
}

pub async fn show_html(state: web::Data<AppState>, ctx: RequestContext, user: CurrentUser, req: HttpRequest, id: web::Path<AgreementId>) -> Reply<ShowPage> {
    let a = licentia_app::agreements::load(&state, &user.actor_in(&ctx), *id).await?;
    state.audit_alone(user.event(&ctx, "agreement.read", licentia_audit::Outcome::Success).target("agreement", a.id)).await?;
    Ok(show_page(&state, &user, a, flash_from(req.query_string())).await?)
}

/// `POST /agreements/{id}/versions`: the editor. Clause texts equal to the library's are not
/// stored as rewordings.
pub async fn save_html(
    state: web::Data<AppState>,
    ctx: RequestContext,
    user: CurrentUser,
    req: HttpRequest,
    id: web::Path<AgreementId>,
    form: web::Form<Pairs>,
) -> Reply<HttpResponse> {
    let actor = user.actor_in(&ctx);
    let a = licentia_app::agreements::load(&state, &actor, *id).await?;
    let p = form.into_inner();
    let terms_form = TermsForm::from_pairs(&p);
    let mut overrides = BTreeMap::new();
    for c in LIBRARY {
        let submitted = field(&p, &format!("clause.{}", c.id)).replace("\r\n", "\n");
        if !submitted.trim().is_empty() && submitted.trim() != c.text {
            overrides.insert(c.id.to_owned(), submitted.trim().to_owned());
        }
    }
    let result = async {
        let input = VersionInput {
            title: None,
            assets: None,
            terms: Some(terms_form.to_input()?),
            clauses: Some(overrides.clone()),
            comment: field(&p, "comment").to_owned(),
        };
        licentia_app::agreements::save(&state, &actor, a.id, input).await
    }
    .await;
    match result {
        Ok((n, _)) => Ok(crate::pages::see_other_with(&format!("/agreements/{}", a.id), true, &format!("Saved version {n}."))),
        Err(AppError::Validation { field: f, message }) => {
            let mut page = show_page(&state, &user, a, None).await?;
            let mut terms_form = terms_form;
            page.error = Some(form_error(&mut terms_form, &f, &message));
            page.form = terms_form;
            for e in &mut page.editable {
                if let Some(t) = overrides.get(e.id) {
                    e.text = t.clone();
                    e.edited = true;
                }
            }
            Ok(page.customize().with_status(StatusCode::UNPROCESSABLE_ENTITY).respond_to(&req).map_into_boxed_body())
        }
        Err(e) => back(&format!("/agreements/{}", a.id), Err(e)),
    }
}

fn workflow_back(id: AgreementId, result: AppResult<String>) -> Reply<HttpResponse> {
    let path = format!("/agreements/{id}");
    match result {
        Err(e @ (AppError::InvalidTransition { .. } | AppError::ExclusivityConflict { .. } | AppError::FourEyes | AppError::Refused { .. })) => {
            Ok(crate::pages::see_other_with(&path, false, &e.to_string()))
        }
        other => back(&path, other),
    }
}

pub async fn transition_html(
    state: web::Data<AppState>,
    ctx: RequestContext,
    user: CurrentUser,
    id: web::Path<AgreementId>,
    form: web::Form<Pairs>,
) -> Reply<HttpResponse> {
    let actor = user.actor_in(&ctx);
    let a = licentia_app::agreements::load(&state, &actor, *id).await?;
    let p = form.into_inner();
    let r = licentia_app::agreements::transition(&state, &actor, a.id, field(&p, "to"), field(&p, "comment"))
        .await
        .map(|s| format!("Now {}.", s.as_str().replace('_', " ")));
    workflow_back(a.id, r)
}

pub async fn approve_html(state: web::Data<AppState>, ctx: RequestContext, user: CurrentUser, id: web::Path<AgreementId>) -> Reply<HttpResponse> {
    let actor = user.actor_in(&ctx);
    let a = licentia_app::agreements::load(&state, &actor, *id).await?;
    let r = licentia_app::agreements::approve(&state, &actor, a.id).await.map(|()| "Approved.".to_owned());
    workflow_back(a.id, r)
}

/// `POST /agreements/{id}/export-permits`: the permit form (countries and asset ids separated by
/// commas or spaces).
pub async fn add_permit_html(
    state: web::Data<AppState>,
    ctx: RequestContext,
    user: CurrentUser,
    id: web::Path<AgreementId>,
    form: web::Form<Pairs>,
) -> Reply<HttpResponse> {
    let actor = user.actor_in(&ctx);
    let a = licentia_app::agreements::load(&state, &actor, *id).await?;
    let p = form.into_inner();
    let list = |name: &str| field(&p, name).split([',', ' ', ';']).map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect::<Vec<_>>();
    let assets = list("assets").iter().map(|s| s.parse()).collect::<Result<Vec<_>, _>>();
    let result = match assets {
        Err(_) => Err(AppError::Validation { field: "assets".into(), message: "each asset is an id of an asset this agreement covers".into() }),
        Ok(assets) => {
            let input = licentia_domain::export::PermitInput {
                reference: field(&p, "reference").to_owned(),
                authority: field(&p, "authority").to_owned(),
                countries: list("countries"),
                assets,
                valid_from: field(&p, "valid_from").to_owned(),
                valid_until: field(&p, "valid_until").to_owned(),
                csrf: None,
            };
            licentia_app::export::add_permit(&state, &actor, &a, &input).await.map(|r| format!("Permit {} recorded.", r.permit.reference))
        }
    };
    back(&format!("/agreements/{}", a.id), result)
}

pub async fn accept_html(
    state: web::Data<AppState>,
    ctx: RequestContext,
    user: CurrentUser,
    id: web::Path<AgreementId>,
    form: web::Form<Pairs>,
) -> Reply<HttpResponse> {
    let actor = user.actor_in(&ctx);
    let a = licentia_app::agreements::load(&state, &actor, *id).await?;
    let p = form.into_inner();
    let sha = field(&p, "text_sha256");
    let r = licentia_app::agreements::accept(&state, &actor, a.id, (!sha.is_empty()).then_some(sha)).await.map(|s| {
        if s == Status::Executed {
            "Accepted: both parties have signed, the agreement is executed.".to_owned()
        } else {
            "Accepted; waiting for the other party.".to_owned()
        }
    });
    workflow_back(a.id, r)
}

pub async fn request_changes_html(
    state: web::Data<AppState>,
    ctx: RequestContext,
    user: CurrentUser,
    id: web::Path<AgreementId>,
    form: web::Form<Pairs>,
) -> Reply<HttpResponse> {
    let actor = user.actor_in(&ctx);
    let a = licentia_app::agreements::load(&state, &actor, *id).await?;
    let p = form.into_inner();
    let r = licentia_app::agreements::request_changes(&state, &actor, a.id, field(&p, "comment")).await.map(|()| "Sent back with your comments.".to_owned());
    workflow_back(a.id, r)
}

pub async fn sales_html(
    state: web::Data<AppState>,
    ctx: RequestContext,
    user: CurrentUser,
    id: web::Path<AgreementId>,
    form: web::Form<Pairs>,
) -> Reply<HttpResponse> {
    let actor = user.actor_in(&ctx);
    let a = licentia_app::agreements::load(&state, &actor, *id).await?;
    let p = form.into_inner();
    let r = async {
        // Amounts are typed in the agreement's currency.
        let mut conn = state.db.pool.acquire().await.map_err(licentia_db::DbError::from)?;
        let v = db::version(&mut conn, a.id, a.executed_version.unwrap_or(a.current_version), None).await?;
        drop(conn);
        let currency = v.terms.get("currency").and_then(serde_json::Value::as_str).unwrap_or("EUR").to_owned();
        let line = SalesLineInput {
            period_start: field(&p, "period_start").into(),
            period_end: field(&p, "period_end").into(),
            country: field(&p, "country").into(),
            net_sales: parse_amount("net_sales", field(&p, "net_sales"), &currency)?.unwrap_or(0),
            sublicence_revenue: parse_amount("sublicence_revenue", field(&p, "sublicence_revenue"), &currency)?.unwrap_or(0),
        };
        licentia_app::agreements::report_sales(&state, &actor, &a, &[line]).await
    }
    .await
    .map(|_| "Sales reported.".to_owned());
    workflow_back(a.id, r)
}

/// `POST /agreements/{id}/licences`: the agreement page's form that issues a training licence
/// under an executed agreement (templates, validity, quotas).
pub async fn issue_licence_html(
    state: web::Data<AppState>,
    ctx: RequestContext,
    user: CurrentUser,
    id: web::Path<AgreementId>,
    form: web::Form<Pairs>,
) -> Reply<HttpResponse> {
    let actor = user.actor_in(&ctx);
    let a = licentia_app::agreements::load(&state, &actor, *id).await?;
    let p = form.into_inner();
    let r = async {
        let until = field(&p, "valid_until");
        let valid_until = chrono::NaiveDate::parse_from_str(until, "%Y-%m-%d")
            .map_err(|_| AppError::Validation { field: "valid_until".into(), message: "a date, YYYY-MM-DD".into() })?
            .and_hms_opt(23, 59, 59)
            .map(|d| d.and_utc())
            .ok_or_else(|| AppError::internal("end of day"))?;
        let quota = |name: &str| -> AppResult<Option<i64>> {
            let v = field(&p, name).replace([',', ' ', '_'], "");
            if v.is_empty() {
                return Ok(None);
            }
            v.parse::<i64>().map(Some).map_err(|_| AppError::Validation { field: name.into(), message: "a whole number, or empty for no limit".into() })
        };
        let input = crate::api::training::LicenceInput {
            agreement_id: a.id.to_string(),
            templates: p.iter().filter(|(k, _)| k == "templates").map(|(_, v)| v.clone()).collect(),
            valid_from: None,
            valid_until,
            quota_runs: quota("quota_runs")?,
            quota_compute_units: quota("quota_compute_units")?,
            quota_prediction_rows: quota("quota_prediction_rows")?,
            reset_period: Some(field(&p, "reset_period").to_owned()).filter(|v| !v.is_empty()),
            overage: None,
            overage_percent: None,
            allow_model_download: field(&p, "allow_model_download") == "on",
            max_concurrent_runs: quota("max_concurrent_runs")?.map(|n| i32::try_from(n).unwrap_or(i32::MAX)),
            failed_runs_billed: field(&p, "failed_runs_billed") == "on",
            model_versions: p.iter().filter(|(k, _)| k == "model_versions").map(|(_, v)| v.clone()).collect(),
        };
        licentia_app::training::create_licence(&state, &actor, input).await
    }
    .await
    .map(|_| "Training licence issued.".to_owned());
    workflow_back(a.id, r)
}

#[derive(Template, WebTemplate)]
#[template(path = "agreements/diff.html")]
pub struct DiffPage {
    nav: Nav,
    a: AgreementRow,
    from: i32,
    to: i32,
    pieces: Vec<Piece>,
    terms: Vec<String>,
}

impl DiffPage {
    fn is_ins(&self, p: &Piece) -> bool {
        p.op == Op::Insert
    }
    fn is_del(&self, p: &Piece) -> bool {
        p.op == Op::Delete
    }
}

pub async fn diff_html(
    state: web::Data<AppState>,
    ctx: RequestContext,
    user: CurrentUser,
    id: web::Path<AgreementId>,
    q: web::Query<api::DiffQuery>,
) -> Reply<DiffPage> {
    let actor = user.actor_in(&ctx);
    let a = licentia_app::agreements::load(&state, &actor, *id).await?;
    let r = licentia_app::agreements::redline(&state, &actor, &a, &q.from, &q.to).await?;
    state.audit_alone(user.event(&ctx, "agreement.diff_read", licentia_audit::Outcome::Success).target("agreement", a.id)).await?;
    Ok(DiffPage { nav: Nav::for_user(&state, &user, "/agreements"), a, from: r.from, to: r.to, pieces: r.text, terms: r.terms })
}

#[derive(Template, WebTemplate)]
#[template(path = "agreements/print.html")]
pub struct PrintPage {
    doc: api::Document,
    acceptances: Vec<Acceptance>,
}

pub async fn print_html(state: web::Data<AppState>, ctx: RequestContext, user: CurrentUser, path: web::Path<(AgreementId, String)>) -> Reply<PrintPage> {
    let (id, n) = path.into_inner();
    let actor = user.actor_in(&ctx);
    let a = licentia_app::agreements::load(&state, &actor, id).await?;
    let v = licentia_app::agreements::load_version(&state, &actor, &a, &n).await?;
    let mut conn = state.db.pool.acquire().await.map_err(licentia_db::DbError::from)?;
    let doc = api::document_of(&mut conn, &a, &v).await?;
    let acceptances = db::acceptances(&mut conn, a.id).await?.into_iter().filter(|x| x.version == v.number).collect();
    drop(conn);
    state
        .audit_alone(
            user.event(&ctx, "agreement.printed", licentia_audit::Outcome::Success)
                .target("agreement", a.id)
                .details(serde_json::json!({ "version": v.number })),
        )
        .await?;
    Ok(PrintPage { doc, acceptances })
}

#[derive(Template, WebTemplate)]
#[template(path = "agreements/statement.html")]
pub struct StatementPage {
    nav: Nav,
    a: AgreementRow,
    st: Statement,
    period: String,
    csv_link: String,
}

impl StatementPage {
    fn m(&self, minor: &i64) -> String {
        money(&self.st.currency, *minor)
    }

    /// What a line's rate applies to, read as what it is: an amount of money, a count, or
    /// nothing for a one-off payment.
    fn basis(&self, l: &licentia_domain::agreement::statement::Line) -> String {
        use licentia_domain::agreement::statement::LineKind as K;
        match l.kind {
            K::Upfront | K::Milestone => String::new(),
            K::MeteredRuns | K::MeteredCompute | K::MeteredPredictions | K::MeteredFineTuning => crate::layout::count(&l.basis),
            K::Royalty | K::Sublicence | K::PatentCosts | K::MinimumTrueUp => money(&self.st.currency, l.basis),
        }
    }
}

pub async fn statement_html(state: web::Data<AppState>, ctx: RequestContext, user: CurrentUser, q: web::Query<StatementQuery>) -> Reply<StatementPage> {
    let a = licentia_app::agreements::load(&state, &user.actor_in(&ctx), q.agreement_id()?).await?;
    let (from, to) = api::statement_period(&q)?;
    let st = api::statement_for(&state, &user, &a, from, to).await?;
    state
        .audit_alone(
            user.event(&ctx, "statement.read", licentia_audit::Outcome::Success)
                .target("agreement", a.id)
                .details(serde_json::json!({ "from": from, "to": to })),
        )
        .await?;
    let period = q.period.clone().unwrap_or_else(|| format!("{from} – {to}"));
    let csv_link = format!(
        "/api/v1/statements?{}",
        serde_urlencoded::to_string([("agreement", a.id.to_string()), ("from", from.to_string()), ("to", to.to_string()), ("format", "csv".into())])
            .unwrap_or_default()
    );
    Ok(StatementPage { nav: Nav::for_user(&state, &user, "/revenue"), a, st, period, csv_link })
}

/// One agreement's revenue per quarter of a year.
pub struct RevenueRow {
    pub id: AgreementId,
    pub title: String,
    pub licensee: String,
    pub currency: String,
    pub quarters: [i64; 4],
    pub total: i64,
    pub assets: Vec<String>,
}

pub struct AssetRevenue {
    pub title: String,
    pub currency: String,
    pub amount: i64,
}

pub struct StackSeg {
    pub x: i64,
    pub y: i64,
    pub h: i64,
    pub class: usize,
    pub label: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "agreements/revenue.html")]
pub struct RevenuePage {
    nav: Nav,
    year: i32,
    rows: Vec<RevenueRow>,
    by_asset: Vec<AssetRevenue>,
    charts: Vec<RevenueChart>,
}

/// Per currency: the stacked segments, the largest quarter, and each quarter's total as
/// (x, y, label) above its stack.
type RevenueChart = (String, Vec<StackSeg>, String, Vec<(i64, i64, String)>);

impl RevenuePage {
    fn m(&self, currency: &str, minor: &i64) -> String {
        money(currency, *minor)
    }
}

#[derive(Debug, serde::Deserialize)]
pub struct YearQuery {
    pub year: Option<i32>,
}

/// `GET /revenue?year=2027`: statements of every executed agreement per quarter, charted by
/// agreement, and allocated to the covered assets in equal shares (a licence does not say which
/// patent earned what; equal shares is the convention, and the page says so).
pub async fn revenue_html(state: web::Data<AppState>, ctx: RequestContext, user: CurrentUser, q: web::Query<YearQuery>) -> Reply<RevenuePage> {
    let year = q.year.filter(|y| (1900..=2200).contains(y)).unwrap_or_else(|| Utc::now().year());
    let mut conn = state.db.pool.acquire().await.map_err(licentia_db::DbError::from)?;
    let agreements: Vec<AgreementRow> = db::list(&mut conn, api::scope(&user), None, 500).await?.into_iter().filter(|a| a.executed_version.is_some()).collect();
    let mut rows = Vec::new();
    let mut by_asset: BTreeMap<(String, String), i64> = BTreeMap::new();
    for a in agreements {
        let mut quarters = [0i64; 4];
        let mut currency = String::new();
        for (i, q) in quarters.iter_mut().enumerate() {
            let Some((from, to)) = api::parse_period(&format!("{year}-Q{}", i + 1)) else { continue };
            let st = api::statement_for(&state, &user, &a, from, to).await?;
            currency = st.currency.clone();
            *q = st.total;
        }
        let total: i64 = quarters.iter().sum();
        let ids = db::asset_ids(&mut conn, a.id).await?;
        let mut titles = Vec::new();
        for id in &ids {
            if let Ok(asset) = licentia_db::assets::get(&mut conn, *id, AssetScope::All).await {
                titles.push(asset.title);
            }
        }
        // Equal shares that add up to the total exactly (largest remainder, in minor units).
        for (t, share) in titles.iter().zip(licentia_domain::agreement::statement::equal_shares(total, titles.len())) {
            *by_asset.entry((t.clone(), currency.clone())).or_default() += share;
        }
        rows.push(RevenueRow { id: a.id, title: a.title, licensee: a.licensee_name, currency, quarters, total, assets: titles });
    }
    drop(conn);
    state.audit_alone(user.event(&ctx, "revenue.read", licentia_audit::Outcome::Success).details(serde_json::json!({ "year": year }))).await?;
    // Stacked bars per quarter, one panel per currency.
    let mut charts = Vec::new();
    let currencies: std::collections::BTreeSet<String> = rows.iter().map(|r| r.currency.clone()).filter(|c| !c.is_empty()).collect();
    for cur in currencies {
        let mine: Vec<&RevenueRow> = rows.iter().filter(|r| r.currency == cur).collect();
        let max = (0..4).map(|q| mine.iter().map(|r| r.quarters[q]).sum::<i64>()).max().unwrap_or(0).max(1);
        let mut segs = Vec::new();
        for q in 0..4 {
            let mut y = 160i64;
            for (i, r) in mine.iter().enumerate() {
                let h = r.quarters[q] * 160 / max;
                if h > 0 {
                    y -= h;
                    segs.push(StackSeg {
                        x: 40 + q as i64 * 120,
                        y,
                        h,
                        class: i % 6,
                        label: format!("Q{} · {}: {}", q + 1, r.title, money(&cur, r.quarters[q])),
                    });
                }
            }
        }
        // Each quarter's total above its stack, short (the table below has the exact amounts).
        let totals = (0..4)
            .map(|q| {
                let sum: i64 = mine.iter().map(|r| r.quarters[q]).sum();
                let label = if sum > 0 { licentia_domain::agreement::compact_money(&cur, sum) } else { String::new() };
                (80 + q as i64 * 120, 160 - sum * 160 / max - 4, label)
            })
            .collect();
        charts.push((cur.clone(), segs, money(&cur, max), totals));
    }
    Ok(RevenuePage {
        nav: Nav::for_user(&state, &user, "/revenue"),
        year,
        rows,
        by_asset: by_asset.into_iter().map(|((title, currency), amount)| AssetRevenue { title, currency, amount }).collect(),
        charts,
    })
}
