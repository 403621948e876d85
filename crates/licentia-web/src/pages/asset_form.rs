//! Registry maintenance in the browser: the asset form (create and edit, every kind), deadline
//! marks and manual deadline deletion, and the CSV import. The form's strings become the same
//! JSON the API takes and go to the same use cases; a refusal re-renders the form as sent, with
//! every problem the use case finds beside its field, in words.

use std::collections::HashMap;

use actix_web::{HttpResponse, web};
use askama::Template;
use askama_web::WebTemplate;
use licentia_app::assets::{self as uc, MarkInput};
use licentia_domain::AssetId;
use serde_json::{Map, Value, json};

use crate::api::asset_csv::{COLUMNS, LISTS, NUMBERS};
use crate::api::assets::load_for_page;
use crate::auth::CurrentUser;
use crate::context::RequestContext;
use crate::error::{AppError, Reply};
use crate::layout::{back, see_other_with};
use crate::pages::Nav;
use crate::state::AppState;

/// The kinds the form offers, with their labels.
pub const KINDS: [(&str, &str); 7] = [
    ("patent", "Patent"),
    ("utility_model", "Utility model"),
    ("design", "Design"),
    ("trademark", "Trademark"),
    ("copyright", "Copyright"),
    ("trade_secret", "Trade secret / know-how"),
    ("model", "Trained model"),
];

/// The form's text fields: the registry's CSV columns that are neither lists, numbers nor flags,
/// and the family link (not exported: ids are new on import).
fn text_fields() -> impl Iterator<Item = &'static str> {
    COLUMNS
        .iter()
        .copied()
        .filter(|c| !LISTS.contains(c) && !NUMBERS.contains(c) && !["kind", "pct", "nice_classes"].contains(c))
        .chain(["parent_id", "relation"])
}

/// The label a person reads for an input's field name (errors speak of fields in these words).
pub fn label(field: &str) -> &str {
    match field {
        "kind" => "Kind",
        "status" => "Status",
        "title" => "Title",
        "jurisdiction" => "Jurisdiction (office)",
        "application_number" => "Application number",
        "publication_number" => "Publication number",
        "grant_number" | "registration_number" => "Grant / registration number",
        "priority_date" => "Priority date",
        "filing_date" => "Filing date",
        "publication_date" => "Publication date",
        "grant_date" | "registration_date" => "Grant / registration date",
        "parent_id" => "Parent asset",
        "relation" => "Relation to the parent",
        "owners" => "Owners",
        "tags" => "Tags",
        "abstract" => "Abstract",
        "inventors" => "Inventors",
        "applicants" => "Applicants",
        "claims_count" => "Number of claims",
        "lapsed_on" => "Lapsed on",
        "term_adjustment_days" => "Term adjustment (days)",
        "pct" => "International (PCT) application",
        "validations" => "Validated in (granted EP: DE, FR lapsed 2027-03-01, UP for unitary effect)",
        "mark_text" => "Mark",
        "mark_type" => "Mark type",
        "nice_classes" => "Nice classes",
        "goods_services" => "Goods and services",
        "work_type" => "Work type",
        "authors" => "Authors",
        "version" => "Version",
        "creation_date" => "Creation date",
        "description" => "Description",
        "custodian" => "Custodian",
        "template" => "Model template",
        "internal_notes" => "Internal notes",
        other => other,
    }
}

/// Where a problem is shown: trademarks' registration fields are the form's grant fields.
fn form_field(field: &str) -> &str {
    match field {
        "registration_date" => "grant_date",
        "registration_number" => "grant_number",
        other => other,
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "assets/form.html")]
pub struct AssetFormPage {
    nav: Nav,
    /// `None`: a new asset.
    editing: Option<AssetId>,
    kind: String,
    values: Map<String, Value>,
    /// (form field, message) in the order found.
    problems: Vec<(String, String)>,
}

impl AssetFormPage {
    /// A field's value as the form shows it (lists comma-separated).
    fn v(&self, field: &str) -> String {
        match self.values.get(field) {
            None | Some(Value::Null) => String::new(),
            Some(Value::String(s)) => s.clone(),
            Some(Value::Array(items)) => items.iter().map(crate::api::asset_csv::item_text).collect::<Vec<_>>().join(", "),
            Some(other) => other.to_string(),
        }
    }

    fn checked(&self, field: &str) -> bool {
        self.values.get(field).is_some_and(|v| v.as_bool() == Some(true))
    }

    fn problem(&self, field: &str) -> Option<&str> {
        self.problems.iter().find(|(f, _)| f == field).map(|(_, m)| m.as_str())
    }

    fn label<'a>(&self, field: &'a str) -> &'a str {
        label(field)
    }

    fn action(&self) -> String {
        match self.editing {
            Some(id) => format!("/assets/{id}/edit"),
            None => "/assets/new".to_owned(),
        }
    }
}

/// The form's strings as the API's JSON: trimmed; empty text `null` (so an edit can clear a
/// field); lists split on commas, semicolons and new lines; numbers parsed (a non-number is a
/// problem of its own field).
fn to_input(form: &HashMap<String, String>) -> (Value, Vec<(String, String)>) {
    let mut o = Map::new();
    let mut problems = Vec::new();
    let get = |k: &str| form.get(k).map(|s| s.trim()).unwrap_or("");
    o.insert("kind".into(), json!(get("kind")));
    for k in text_fields() {
        let s = get(k);
        // The title is never absent (the use case says it is required when empty).
        o.insert(k.into(), if s.is_empty() && k != "title" { Value::Null } else { json!(s) });
    }
    for &k in LISTS {
        let items: Vec<&str> = get(k).split([',', ';', '\n']).map(str::trim).filter(|s| !s.is_empty()).collect();
        o.insert(k.into(), json!(items));
    }
    for &k in NUMBERS {
        match get(k) {
            "" => {
                o.insert(k.into(), Value::Null);
            }
            s => match s.parse::<i64>() {
                Ok(n) => {
                    o.insert(k.into(), json!(n));
                }
                Err(_) => problems.push((k.to_owned(), "must be a whole number".to_owned())),
            },
        }
    }
    let mut classes = Vec::new();
    for c in get("nice_classes").split([',', ';', ' ']).map(str::trim).filter(|s| !s.is_empty()) {
        match c.parse::<i64>() {
            Ok(n) => classes.push(n),
            Err(_) => problems.push(("nice_classes".to_owned(), format!("{c:?} is not a class number"))),
        }
    }
    o.insert("nice_classes".into(), json!(classes));
    o.insert("pct".into(), json!(form.get("pct").is_some_and(|v| v == "on" || v == "true")));
    (Value::Object(o), problems)
}

/// What the form shows back after a refusal: the values as sent (numbers that did not parse stay
/// as typed).
fn shown(form: &HashMap<String, String>, input: &Value) -> Map<String, Value> {
    let mut values = input.as_object().cloned().unwrap_or_default();
    for k in NUMBERS.iter().chain(["nice_classes"].iter()) {
        if let Some(raw) = form.get(*k) {
            values.insert((*k).to_owned(), json!(raw));
        }
    }
    values
}

/// Every problem to show: the use case's refusal, and whatever else the input has (the parser
/// stops at the first; [`uc::problems`] sets each field at fault aside and parses again).
fn problems_of(e: Option<&AppError>, input: &Value, mut found: Vec<(String, String)>) -> Vec<(String, String)> {
    if let Some(AppError::Validation { field, message }) = e
        && !found.iter().any(|(f, _)| f == form_field(field))
    {
        found.push((form_field(field).to_owned(), message.clone()));
    }
    for (f, m) in uc::problems(input) {
        let f = form_field(&f).to_owned();
        if !found.iter().any(|(g, _)| *g == f) {
            found.push((f, m));
        }
    }
    found
}

#[derive(Debug, serde::Deserialize)]
pub struct NewQuery {
    pub kind: Option<String>,
}

pub async fn new_form(state: web::Data<AppState>, user: CurrentUser, q: web::Query<NewQuery>) -> Reply<AssetFormPage> {
    let kind = q.kind.as_deref().filter(|k| KINDS.iter().any(|(v, _)| v == k)).unwrap_or("patent").to_owned();
    Ok(AssetFormPage { nav: Nav::for_user(&state, &user, "/assets"), editing: None, kind, values: Map::new(), problems: Vec::new() })
}

pub async fn create(state: web::Data<AppState>, ctx: RequestContext, user: CurrentUser, form: web::Form<HashMap<String, String>>) -> Reply<HttpResponse> {
    let form = form.into_inner();
    let (input, mut problems) = to_input(&form);
    let kind = form.get("kind").cloned().unwrap_or_default();
    if problems.is_empty() {
        match uc::create(&state, &user.actor_in(&ctx), input.clone()).await {
            Ok(row) => return Ok(see_other_with(&format!("/assets/{}", row.id), true, &format!("Registered \u{201c}{}\u{201d}.", row.title))),
            Err(e @ AppError::Validation { .. }) => problems = problems_of(Some(&e), &input, problems),
            Err(AppError::Conflict { message }) => problems.push(("title".into(), message)),
            Err(e) => return Err(e.into()),
        }
    } else {
        problems = problems_of(None, &input, problems);
    }
    refused(&state, &user, None, kind, shown(&form, &input), problems)
}

fn refused(
    state: &AppState,
    user: &CurrentUser,
    editing: Option<AssetId>,
    kind: String,
    values: Map<String, Value>,
    problems: Vec<(String, String)>,
) -> Reply<HttpResponse> {
    let page = AssetFormPage { nav: Nav::for_user(state, user, "/assets"), editing, kind, values, problems };
    let html = page.render().map_err(AppError::internal)?;
    Ok(HttpResponse::UnprocessableEntity().content_type("text/html; charset=utf-8").body(html))
}

pub async fn edit_form(state: web::Data<AppState>, ctx: RequestContext, user: CurrentUser, id: web::Path<AssetId>) -> Reply<AssetFormPage> {
    let row = load_for_page(&state, &ctx, &user, *id).await?;
    state.audit_alone(user.event(&ctx, "asset.read", licentia_audit::Outcome::Success).target("asset", row.id)).await?;
    let values = uc::row_input(&row).as_object().cloned().unwrap_or_default();
    Ok(AssetFormPage { nav: Nav::for_user(&state, &user, "/assets"), editing: Some(row.id), kind: row.kind.as_str().to_owned(), values, problems: Vec::new() })
}

pub async fn update(
    state: web::Data<AppState>,
    ctx: RequestContext,
    user: CurrentUser,
    id: web::Path<AssetId>,
    form: web::Form<HashMap<String, String>>,
) -> Reply<HttpResponse> {
    let row = load_for_page(&state, &ctx, &user, *id).await?;
    let mut form = form.into_inner();
    form.insert("kind".into(), row.kind.as_str().to_owned());
    let (input, mut problems) = to_input(&form);
    if problems.is_empty() {
        match uc::update(&state, &user.actor_in(&ctx), &row, input.clone()).await {
            Ok(row) => return Ok(see_other_with(&format!("/assets/{}", row.id), true, "Saved.")),
            Err(e @ AppError::Validation { .. }) => problems = problems_of(Some(&e), &input, problems),
            Err(AppError::Conflict { message }) => problems.push(("parent_id".into(), message)),
            Err(e) => return Err(e.into()),
        }
    } else {
        problems = problems_of(None, &input, problems);
    }
    refused(&state, &user, Some(row.id), row.kind.as_str().to_owned(), shown(&form, &input), problems)
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MarkForm {
    pub rule: String,
    pub ordinal: u32,
    pub state: String,
    #[serde(default)]
    pub note: String,
    pub csrf: Option<String>,
}

/// `POST /assets/{id}/deadlines`: marks one deadline done, waived or missed.
pub async fn mark(
    state: web::Data<AppState>,
    ctx: RequestContext,
    user: CurrentUser,
    id: web::Path<AssetId>,
    form: web::Form<MarkForm>,
) -> Reply<HttpResponse> {
    let row = load_for_page(&state, &ctx, &user, *id).await?;
    let f = form.into_inner();
    let said = format!("Marked {}.", f.state);
    let result =
        uc::mark_deadline(&state, &user.actor_in(&ctx), &row, MarkInput { rule: f.rule, ordinal: f.ordinal, state: f.state, note: f.note }).await.map(|_| said);
    back(&format!("/assets/{}", row.id), result)
}

#[derive(Debug, serde::Deserialize)]
pub struct ClassifyForm {
    /// `regime:code` pairs separated by commas or new lines (`us_ear:3A001, eu_dual_use:3A001`).
    #[serde(default)]
    pub classifications: String,
    pub csrf: Option<String>,
}

/// `POST /assets/{id}/export-classifications`: the classification form of the asset page.
pub async fn classify(
    state: web::Data<AppState>,
    ctx: RequestContext,
    user: CurrentUser,
    id: web::Path<AssetId>,
    form: web::Form<ClassifyForm>,
) -> Reply<HttpResponse> {
    let f = form.into_inner();
    let mut items = Vec::new();
    for item in f.classifications.split([',', '\n', ';']).map(str::trim).filter(|s| !s.is_empty()) {
        let Some((regime, code)) = item.split_once(':') else {
            return back(
                &format!("/assets/{}", *id),
                Err(AppError::Validation { field: "classifications".into(), message: "write each as regime:code, such as us_ear:3A001".into() }),
            );
        };
        items.push(licentia_app::export::ClassificationInput { regime: regime.trim().to_owned(), code: code.trim().to_owned() });
    }
    let input = licentia_app::export::ClassificationsInput { classifications: items, csrf: None };
    let result = licentia_app::export::classify(&state, &user.actor_in(&ctx), *id, &input)
        .await
        .map(|c| format!("{} classification(s) recorded.", c.classifications.len()));
    back(&format!("/assets/{}", *id), result)
}

/// `POST /assets/{id}/manual-deadlines/{ordinal}/delete`.
pub async fn delete_manual(state: web::Data<AppState>, ctx: RequestContext, user: CurrentUser, path: web::Path<(AssetId, u32)>) -> Reply<HttpResponse> {
    let (id, ordinal) = path.into_inner();
    let row = load_for_page(&state, &ctx, &user, id).await?;
    let result = uc::delete_manual(&state, &user.actor_in(&ctx), &row, ordinal).await.map(|d| format!("Deleted \u{201c}{}\u{201d}.", d.title));
    back(&format!("/assets/{}", row.id), result)
}

#[derive(Template, WebTemplate)]
#[template(path = "assets/import.html")]
pub struct ImportPage {
    nav: Nav,
}

/// `GET /assets/import`: a CSV file checked first (a dry run listing every bad row), then imported
/// all at once, through the API the page's script calls.
pub async fn import_form(state: web::Data<AppState>, user: CurrentUser) -> Reply<ImportPage> {
    Ok(ImportPage { nav: Nav::for_user(&state, &user, "/assets") })
}
