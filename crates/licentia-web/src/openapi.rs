//! The OpenAPI 3.1 document of the JSON API, `GET /api/v1/openapi.json`. Paths, methods and the
//! permission each route requires come from the route table ([`crate::routes::table`]); request
//! and response schemas from the types the handlers deserialize and serialize (their
//! `utoipa::ToSchema` derives), so the document cannot drift from the code without a test
//! noticing: every `/api/v1` route must have an entry here, and the HTTP tests check each JSON
//! answer against the schema its entry names.

use std::collections::BTreeMap;

use actix_web::HttpResponse;
use actix_web::http::Method;
use licentia_domain::{Permission, Role};
use serde_json::{Value, json};
use utoipa::openapi::path::ParameterIn;
use utoipa::{IntoParams, ToSchema};

use crate::api::{agreements, asset_csv, assets, audit, auth, calendar, identity, portfolio, training, webhooks};

/// The components collected while the operations name their schemas, and the names two
/// different types claimed (a test requires none).
#[derive(Default)]
pub struct Schemas(BTreeMap<String, Value>, Vec<String>);

impl Schemas {
    /// Registers `T` (and every schema it refers to) and returns a reference to it.
    pub fn of<T: ToSchema>(&mut self) -> Value {
        let mut nested = Vec::new();
        T::schemas(&mut nested);
        let name = T::name().into_owned();
        nested.push((name.clone(), T::schema()));
        for (name, schema) in nested {
            let schema = serde_json::to_value(schema).unwrap_or(Value::Null);
            match self.0.get(&name) {
                Some(known) if *known != schema => self.1.push(name),
                Some(_) => {}
                None => {
                    self.0.insert(name, schema);
                }
            }
        }
        json!({ "$ref": format!("#/components/schemas/{name}") })
    }
}

type SchemaFn = fn(&mut Schemas) -> Value;

fn one<T: ToSchema>(s: &mut Schemas) -> Value {
    s.of::<T>()
}

/// `{ "items": [T] }`, the shape of every list.
fn items<T: ToSchema>(s: &mut Schemas) -> Value {
    json!({ "type": "object", "required": ["items"], "properties": { "items": { "type": "array", "items": s.of::<T>() } } })
}

/// An asset as the API shows it, with its deadlines.
fn asset_detail(s: &mut Schemas) -> Value {
    json!({ "allOf": [s.of::<licentia_db::assets::AssetRow>(), { "type": "object", "required": ["deadlines"], "properties": { "deadlines": { "type": "array", "items": s.of::<assets::DeadlineView>() } } }] })
}

fn asset_rows(s: &mut Schemas) -> Value {
    json!({ "type": "array", "items": s.of::<licentia_db::assets::AssetRow>() })
}

/// WebAuthn options as the W3C specification defines them (`PublicKeyCredentialCreationOptions` or
/// `...RequestOptions` under `publicKey`), passed to the browser's `navigator.credentials` as is.
fn webauthn_options(_: &mut Schemas) -> Value {
    json!({ "type": "object", "required": ["publicKey"], "description": "WebAuthn options for navigator.credentials (W3C Web Authentication, Level 3)" })
}

fn openapi_document(_: &mut Schemas) -> Value {
    json!({ "type": "object", "required": ["openapi", "paths"], "description": "An OpenAPI 3.1 document" })
}

fn asset_page(s: &mut Schemas) -> Value {
    json!({ "type": "object", "required": ["items", "next_cursor"], "properties": {
        "items": { "type": "array", "items": s.of::<licentia_db::assets::AssetRow>() },
        "next_cursor": { "type": ["string", "null"], "description": "Pass as `cursor` for the next page; null on the last." } } })
}

/// The writable fields of an asset; which apply depends on `kind` (the server sets `id`,
/// `organisation_id` and the timestamps, and refuses unknown fields).
fn asset_input(s: &mut Schemas) -> Value {
    s.of::<licentia_db::assets::AssetRow>();
    let mut input = s.0.get("AssetRow").cloned().unwrap_or_default();
    if let Some(props) = input.get_mut("properties").and_then(Value::as_object_mut) {
        for server_set in ["id", "organisation_id", "created_at", "updated_at"] {
            props.remove(server_set);
        }
    }
    input["required"] = json!(["kind", "title"]);
    input["description"] =
        json!("The asset's fields (which apply depends on `kind`); the server sets id, organisation_id and the timestamps. On PATCH, only those to change.");
    input["example"] = json!({ "kind": "patent", "status": "granted", "title": "Defect detection on moving webs", "jurisdiction": "US", "application_number": "16/123,456",
            "grant_number": "US 11,234,567 B2", "filing_date": "2019-03-14", "grant_date": "2022-01-04", "owners": ["Aurora Labs"], "tags": ["vision"], "details": {},
            "internal_notes": "" });
    input
}

/// A partial update: any of the asset's fields.
fn asset_patch(s: &mut Schemas) -> Value {
    let mut input = asset_input(s);
    if let Some(o) = input.as_object_mut() {
        o.remove("required");
        o.insert("example".into(), json!({ "status": "lapsed", "tags": ["vision", "abandoned-2027"] }));
    }
    input
}

fn upcoming(s: &mut Schemas) -> Value {
    json!({ "type": "object", "required": ["days", "items"], "properties": {
        "days": { "type": "integer" }, "items": { "type": "array", "items": s.of::<assets::UpcomingDeadline>() } } })
}

/// Not yet described field by field (built as JSON by the use case).
fn dataset_detail(_: &mut Schemas) -> Value {
    json!({ "type": "object", "description": "The dataset, its columns with their types and actions, and a preview of the first rows." })
}

fn deadlines(s: &mut Schemas) -> Value {
    json!({ "type": "object", "required": ["deadlines"], "properties": { "deadlines": { "type": "array", "items": s.of::<assets::DeadlineView>() } } })
}

fn licence(s: &mut Schemas) -> Value {
    json!({ "allOf": [s.of::<licentia_db::training::Licence>(), { "type": "object", "required": ["used", "remaining"], "properties": { "used": s.of::<licentia_db::training::Usage>(), "remaining": { "type": "object" } } }] })
}

fn params<T: IntoParams>() -> Vec<Value> {
    T::into_params(|| Some(ParameterIn::Query)).into_iter().map(|p| serde_json::to_value(p).unwrap_or(Value::Null)).collect()
}

/// The registry's filters and `format` (`csv`, the default, or `json`).
fn export_params() -> Vec<Value> {
    let mut p = params::<assets::AssetQuery>();
    p.push(json!({ "name": "format", "in": "query", "required": false, "schema": { "type": "string", "enum": ["csv", "json"] } }));
    p
}

/// What a request carries.
#[derive(Clone, Copy)]
pub enum Body {
    None,
    Json(SchemaFn),
    /// `text/csv`, streamed.
    Csv,
    /// `multipart/form-data` with a `file` part.
    Multipart,
    /// `multipart/form-data` with these parts (name, media type), all required.
    Parts(&'static [(&'static str, &'static str)]),
}

/// What a success answers.
#[derive(Clone, Copy)]
pub enum Reply {
    Json(SchemaFn),
    NoContent,
    /// A file or stream of one of these media types (`*/*`: the stored file's own).
    Media(&'static [&'static str]),
    /// CSV, or this JSON with `format=json`.
    CsvOrJson(SchemaFn),
}

/// Who may call a route: `None` for public routes (the route table's `Access`, without naming
/// the table's type: the table registers this module's handlers).
pub type Guard = Option<Permission>;

/// One documented operation.
pub struct Op {
    pub method: Method,
    pub path: &'static str,
    summary: &'static str,
    query: fn() -> Vec<Value>,
    body: Body,
    pub status: u16,
    reply: Reply,
    /// Other successes (a dry run's 200 beside the import's 201) and errors beyond the usual.
    also: Vec<(u16, Reply)>,
    errors: &'static [(u16, &'static str)],
}

fn op(method: Method, path: &'static str, summary: &'static str) -> Op {
    Op { method, path, summary, query: Vec::new, body: Body::None, status: 200, reply: Reply::NoContent, also: Vec::new(), errors: &[] }
}

impl Op {
    fn json(mut self, status: u16, schema: SchemaFn) -> Self {
        self.status = status;
        self.reply = Reply::Json(schema);
        self
    }
    fn media(mut self, status: u16, media: &'static [&'static str]) -> Self {
        self.status = status;
        self.reply = Reply::Media(media);
        self
    }
    fn no_content(mut self) -> Self {
        self.status = 204;
        self.reply = Reply::NoContent;
        self
    }
    fn body(mut self, schema: SchemaFn) -> Self {
        self.body = Body::Json(schema);
        self
    }
    fn csv(mut self) -> Self {
        self.body = Body::Csv;
        self
    }
    fn multipart(mut self) -> Self {
        self.body = Body::Multipart;
        self
    }
    fn parts(mut self, parts: &'static [(&'static str, &'static str)]) -> Self {
        self.body = Body::Parts(parts);
        self
    }
    fn or(mut self, status: u16, schema: SchemaFn) -> Self {
        self.also.push((status, Reply::Json(schema)));
        self
    }
    fn csv_or_json(mut self, status: u16, schema: SchemaFn) -> Self {
        self.status = status;
        self.reply = Reply::CsvOrJson(schema);
        self
    }
    fn errors(mut self, errors: &'static [(u16, &'static str)]) -> Self {
        self.errors = errors;
        self
    }
    fn query(mut self, q: fn() -> Vec<Value>) -> Self {
        self.query = q;
        self
    }
}

/// Every documented operation. A test requires one for each `/api/v1` route of the table (and
/// none for a route the table lacks).
pub fn operations() -> Vec<Op> {
    use Method as M;
    use licentia_db::{artifacts as dbart, organisations as dbo, training as dbt, users as dbu};
    vec![
        op(M::GET, "/api/v1/openapi.json", "This document").json(200, openapi_document),
        op(M::POST, "/api/v1/auth/token", "Exchange e-mail and password for a bearer token (throttled per account and address)")
            .body(one::<auth::TokenRequest>)
            .json(200, one::<auth::IssuedToken>),
        op(
            M::POST,
            "/api/v1/auth/second-factor",
            "Complete a login that answered 401 second_factor_required: a TOTP code, a recovery code or a passkey assertion",
        )
        .body(one::<identity::SecondStep>)
        .json(200, one::<identity::SecondStepToken>),
        op(M::POST, "/api/v1/auth/second-factor/totp-enrolment", "For a login that answered enrol: true, the authenticator-app secret to set up")
            .body(one::<identity::ChallengeRef>)
            .json(200, one::<licentia_app::factors::TotpEnrolment>),
        op(M::POST, "/api/v1/auth/second-factor/passkey-options", "The WebAuthn options that complete a pending login with a passkey")
            .body(one::<identity::ChallengeRef>)
            .json(200, webauthn_options),
        op(M::POST, "/api/v1/auth/password-reset", "E-mail a password reset link (the same answer whether or not the address has an account)")
            .body(one::<identity::ResetRequest>)
            .json(202, one::<identity::ResetRequested>),
        op(M::POST, "/api/v1/auth/password-reset/complete", "Set a new password with the e-mailed token; every session and token of the account ends")
            .body(one::<identity::ResetCompletion>)
            .json(200, one::<identity::ResetCompleted>),
        op(M::POST, "/api/v1/auth/logout", "End the session or token used for this request").no_content(),
        op(M::GET, "/api/v1/me", "Who the credential belongs to").json(200, one::<auth::Me>),
        op(M::POST, "/api/v1/me/password", "Change the password; every other session and token ends")
            .body(one::<auth::PasswordChange>)
            .json(200, one::<auth::PasswordChanged>),
        op(M::GET, "/api/v1/me/second-factors", "The caller's second factors and whether their role requires one")
            .json(200, one::<licentia_app::factors::Summary>),
        op(M::POST, "/api/v1/me/totp", "Start setting up an authenticator app: its secret and otpauth:// URI")
            .json(200, one::<licentia_app::factors::TotpEnrolment>),
        op(M::POST, "/api/v1/me/totp/confirm", "Confirm the authenticator app with its first code; recovery codes come with the first factor")
            .body(one::<identity::TotpCode>)
            .json(200, one::<identity::RecoveryCodes>),
        op(M::POST, "/api/v1/me/totp/remove", "Remove the authenticator app (the current password is checked)")
            .body(one::<identity::PasswordRecheck>)
            .no_content(),
        op(M::POST, "/api/v1/me/recovery-codes", "Ten new recovery codes; the old ones stop working").json(200, one::<identity::RecoveryCodes>),
        op(M::POST, "/api/v1/me/passkeys/options", "Start registering a passkey: options for navigator.credentials.create").json(200, webauthn_options),
        op(M::POST, "/api/v1/me/passkeys", "Finish registering a passkey with the browser's answer")
            .body(one::<identity::NewPasskey>)
            .json(201, one::<identity::PasskeyAdded>),
        op(M::POST, "/api/v1/me/passkeys/{id}/remove", "Remove one of the caller's passkeys (the current password is checked)")
            .body(one::<identity::PasswordRecheck>)
            .no_content(),
        op(M::GET, "/api/v1/me/sessions", "The caller's live sessions and API tokens").json(200, one::<identity::SessionList>),
        op(M::DELETE, "/api/v1/me/sessions/{id}", "End one of the caller's sessions or tokens").no_content(),
        op(M::GET, "/api/v1/me/preferences", "E-mail notices, the daily digest and the time zone").json(200, one::<auth::Preferences>),
        op(M::PUT, "/api/v1/me/preferences", "Set all three preferences").body(one::<auth::PreferencesInput>).json(200, one::<auth::Preferences>),
        op(M::POST, "/api/v1/me/calendar-token", "A private iCalendar feed of the caller's deadlines").json(201, one::<calendar::CalendarToken>),
        op(M::GET, "/api/v1/users", "Users the caller may see").json(200, items::<dbu::User>),
        op(M::POST, "/api/v1/users", "Create a user in an organisation whose kind fits the role")
            .body(one::<licentia_app::admin::NewUserInput>)
            .json(201, one::<dbu::User>),
        op(M::GET, "/api/v1/users/{id}", "One user").json(200, one::<dbu::User>),
        op(M::PATCH, "/api/v1/users/{id}", "Change a user's role or disable it (its sessions end)")
            .body(one::<licentia_app::admin::UserChange>)
            .json(200, one::<dbu::User>),
        op(M::POST, "/api/v1/users/{id}/password-reset", "Force a password reset: the password stops working, sessions end, a link is e-mailed")
            .json(202, one::<identity::ResetCompleted>),
        op(M::GET, "/api/v1/organisations", "Organisations the caller may see").json(200, items::<dbo::Organisation>),
        op(M::POST, "/api/v1/organisations", "Create an organisation (licensor or licensee)")
            .body(one::<licentia_app::admin::NewOrgInput>)
            .json(201, one::<dbo::Organisation>),
        op(M::GET, "/api/v1/organisations/{id}", "One organisation").json(200, one::<dbo::Organisation>),
        op(M::PATCH, "/api/v1/organisations/{id}", "Disable or enable an organisation")
            .body(one::<licentia_app::admin::OrgChange>)
            .json(200, one::<dbo::Organisation>),
        op(M::GET, "/api/v1/audit", "Search the audit log (newest first, keyset pages)")
            .query(params::<crate::audit_query::AuditQuery>)
            .json(200, one::<audit::AuditPage>),
        op(M::GET, "/api/v1/audit/export", "Export the matching entries as JSON Lines or CSV")
            .query(params::<crate::audit_query::AuditQuery>)
            .media(200, &["application/x-ndjson", "text/csv"]),
        op(M::GET, "/api/v1/audit/verify", "Recompute the chain, the MACs and the checkpoints").json(200, one::<audit::VerifyReply>),
        op(M::GET, "/api/v1/audit/{seq}", "One entry with its canonical bytes").json(200, one::<audit::AuditEntry>),
        op(M::GET, "/api/v1/assets", "The registry: filters, full-text search, keyset pages").query(params::<assets::AssetQuery>).json(200, asset_page),
        op(M::POST, "/api/v1/assets", "Register an asset (the kind decides the fields)").body(asset_input).json(201, one::<licentia_db::assets::AssetRow>),
        op(M::POST, "/api/v1/assets/import", "Import assets from CSV: all rows or none")
            .query(params::<asset_csv::ImportQuery>)
            .csv()
            .json(201, one::<asset_csv::Imported>)
            .or(200, one::<asset_csv::ImportReport>),
        op(M::GET, "/api/v1/assets/export", "Export the registry as CSV or JSON").query(export_params).csv_or_json(200, asset_rows),
        op(M::GET, "/api/v1/assets/{id}", "One asset with its deadlines").json(200, asset_detail),
        op(M::PATCH, "/api/v1/assets/{id}", "Change some fields of an asset").body(asset_patch).json(200, one::<licentia_db::assets::AssetRow>),
        op(M::DELETE, "/api/v1/assets/{id}", "Delete an asset no agreement covers").no_content(),
        op(M::POST, "/api/v1/assets/{id}/deadlines", "Mark a computed deadline done, waived or missed")
            .body(one::<licentia_app::assets::MarkInput>)
            .json(200, deadlines),
        op(M::POST, "/api/v1/assets/{id}/manual-deadlines", "Add a deadline no rule knows")
            .body(one::<licentia_app::assets::ManualInput>)
            .json(201, one::<assets::ManualAdded>),
        op(M::DELETE, "/api/v1/assets/{id}/manual-deadlines/{ordinal}", "Delete a hand-entered deadline").no_content(),
        op(M::PUT, "/api/v1/assets/{id}/export-classifications", "Replace the asset's export-control classifications (US EAR, EU dual-use, China's catalogue)")
            .body(one::<licentia_app::export::ClassificationsInput>)
            .json(200, one::<licentia_app::export::Classifications>),
        op(M::GET, "/api/v1/assets/{id}/family", "The asset's family: priority links, continuations, national phases").json(200, one::<portfolio::Family>),
        op(
            M::GET,
            "/api/v1/assets/{id}/versions",
            "A model asset's published versions (licensees: those their licences grant) and, for the licensor, which licensees fine-tuned which",
        )
        .json(200, one::<licentia_app::models::AssetModels>),
        op(
            M::POST,
            "/api/v1/assets/{id}/versions",
            "Publish trained weights as the model's next version (multipart: manifest JSON, weights file), checked against their architecture",
        )
        .parts(&[("manifest", "application/json"), ("weights", "application/octet-stream")])
        .json(201, one::<licentia_app::models::VersionView>),
        op(M::GET, "/api/v1/forecast", "Official fees due over the coming years")
            .query(params::<portfolio::ForecastQuery>)
            .json(200, one::<portfolio::Forecast>),
        op(M::GET, "/api/v1/deadlines", "Deadlines in the next N days").query(params::<assets::DeadlineQuery>).json(200, upcoming),
        op(M::GET, "/api/v1/agreements", "Agreements the caller is party to")
            .query(params::<agreements::ListQuery>)
            .json(200, items::<agreements::AgreementSummary>),
        op(M::POST, "/api/v1/agreements", "Draft an agreement with its first version")
            .body(one::<agreements::NewAgreementInput>)
            .json(201, one::<licentia_app::agreements::AgreementDetail>),
        op(M::GET, "/api/v1/agreements/{id}", "An agreement and the version the caller sees").json(200, one::<licentia_app::agreements::AgreementDetail>),
        op(M::GET, "/api/v1/agreements/{id}/versions", "Its versions (a licensee: those shared with it)").json(200, items::<agreements::VersionSummary>),
        op(M::POST, "/api/v1/agreements/{id}/versions", "Save a new version of a draft")
            .body(one::<agreements::VersionInput>)
            .json(201, one::<licentia_app::agreements::AgreementDetail>),
        op(M::GET, "/api/v1/agreements/{id}/versions/{n}", "One version's text, terms and clauses").json(200, one::<agreements::VersionText>),
        op(M::GET, "/api/v1/agreements/{id}/versions/{n}/pdf", "One version as PDF").media(200, &["application/pdf"]),
        op(M::GET, "/api/v1/agreements/{id}/diff", "Redline between two versions: words and terms")
            .query(params::<agreements::DiffQuery>)
            .json(200, one::<agreements::Redline>),
        op(M::POST, "/api/v1/agreements/{id}/transition", "Submit, send back, withdraw, activate, expire or terminate")
            .body(one::<agreements::TransitionInput>)
            .json(200, one::<agreements::StatusChange>),
        op(M::POST, "/api/v1/agreements/{id}/approve", "Approve (four eyes: not the author of the version)").json(200, one::<agreements::StatusChange>),
        op(M::POST, "/api/v1/agreements/{id}/accept", "Accept the approved version for the caller's party")
            .body(one::<agreements::AcceptInput>)
            .json(200, one::<agreements::StatusChange>),
        op(M::POST, "/api/v1/agreements/{id}/request-changes", "The licensee sends a version back with comments")
            .body(one::<agreements::TransitionInput>)
            .json(200, one::<agreements::StatusChange>),
        op(
            M::GET,
            "/api/v1/agreements/{id}/evidence",
            "The evidence pack: versions, acceptances, licences, receipts and audit entries with their checkpoint, signed",
        )
        .media(200, &["application/x-tar"])
        .errors(&[(409, "No signed checkpoint covers the agreement's audit entries yet")]),
        op(M::GET, "/api/v1/agreements/{id}/export-check", "The export-control check approval runs: every restriction with the permit that cures it")
            .json(200, one::<licentia_app::export::ExportReport>),
        op(M::POST, "/api/v1/agreements/{id}/export-permits", "Record an export licence or authorisation on the agreement")
            .body(one::<licentia_domain::export::PermitInput>)
            .json(201, one::<licentia_db::export::PermitRow>),
        op(M::POST, "/api/v1/agreements/{id}/sales", "Report net sales per period and country")
            .body(one::<agreements::SalesInput>)
            .json(201, one::<agreements::SalesRecorded>),
        op(M::GET, "/api/v1/statements", "A royalty statement for a period (JSON or CSV)")
            .query(params::<agreements::StatementQuery>)
            .csv_or_json(200, one::<agreements::StatementReply>),
        op(M::GET, "/api/v1/licences", "Licences with their use in the current period").json(200, items_licence),
        op(M::POST, "/api/v1/licences", "Issue a licence under an executed agreement").body(one::<licentia_app::training::LicenceInput>).json(201, licence),
        op(M::GET, "/api/v1/licences/{id}", "One licence with its use").json(200, licence),
        op(M::GET, "/api/v1/datasets", "The caller's datasets").json(200, items::<licentia_app::policy::DatasetView>),
        op(M::POST, "/api/v1/datasets", "Upload a CSV dataset, encrypted at rest").query(params::<training::UploadQuery>).csv().json(201, one::<dbt::Dataset>),
        op(M::GET, "/api/v1/datasets/{id}", "A dataset's schema, column actions and preview").json(200, dataset_detail),
        op(M::POST, "/api/v1/datasets/{id}/erase", "Erase a dataset: its data key is destroyed, the row keeps its metadata")
            .body(one::<licentia_app::training::EraseInput>)
            .json(200, one::<licentia_app::policy::DatasetView>),
        op(M::PATCH, "/api/v1/datasets/{id}", "Keep, drop or mask columns").body(one::<training::ColumnsInput>).json(200, dataset_detail),
        op(M::GET, "/api/v1/runs", "Training runs the caller may see").json(200, items::<licentia_app::policy::RunView>),
        op(M::POST, "/api/v1/runs", "Launch a run, metered against the licence (Idempotency-Key honoured)")
            .body(one::<training::LaunchInput>)
            .json(202, one::<licentia_app::policy::RunView>)
            .or(200, one::<licentia_app::policy::RunView>),
        op(M::POST, "/api/v1/runs/estimate", "What a launch would reserve, before launching")
            .body(one::<training::EstimateInput>)
            .json(200, one::<training::EstimateReply>),
        op(M::GET, "/api/v1/runs/{id}", "One run with its metrics").json(200, one::<licentia_app::policy::RunView>),
        op(M::POST, "/api/v1/runs/{id}/cancel", "Cancel a queued or running run").json(200, one::<licentia_app::policy::RunView>),
        op(M::GET, "/api/v1/runs/{id}/events", "Progress as server-sent events (`from` resumes)")
            .query(params::<training::EventsQuery>)
            .media(200, &["text/event-stream"]),
        op(M::POST, "/api/v1/runs/{id}/predict", "Score CSV rows with the run's model (metered in rows)").csv().media(200, &["text/csv"]),
        op(M::GET, "/api/v1/runs/{id}/model", "The trained weights, where the licence allows")
            .media(200, &["application/octet-stream"])
            .errors(&[(409, "The licence does not allow downloading the model")]),
        op(M::GET, "/api/v1/webhooks", "The caller's webhook endpoints and the event types").json(200, one::<webhooks::EndpointList>),
        op(M::POST, "/api/v1/webhooks", "Add an endpoint; its signing secret is shown once")
            .body(one::<licentia_app::webhooks::NewEndpointInput>)
            .json(201, one::<licentia_app::webhooks::Created>),
        op(M::DELETE, "/api/v1/webhooks/{id}", "Delete an endpoint").no_content(),
        op(M::GET, "/api/v1/webhooks/{id}/deliveries", "An endpoint's last deliveries with their responses").json(200, one::<webhooks::DeliveryLog>),
        op(M::POST, "/api/v1/webhooks/deliveries/{id}/replay", "Send a delivery again").json(202, one::<webhooks::Replayed>),
        op(M::POST, "/api/v1/artifacts", "Upload an attachment, encrypted at rest").multipart().json(201, one::<dbart::Artifact>),
        op(M::GET, "/api/v1/artifacts", "Attachments of an object").query(params::<crate::api::artifacts::ListQuery>).json(200, items::<dbart::Artifact>),
        op(M::GET, "/api/v1/artifacts/{id}", "An attachment's metadata").json(200, one::<dbart::Artifact>),
        op(M::GET, "/api/v1/artifacts/{id}/content", "An attachment's content, decrypted and checked").media(200, &["*/*"]).errors(&[
            (409, "Weights the licence keeps, or a dataset with masked columns: never served as a file"),
            (410, "Erased: the data key of this content was destroyed (a dataset's retention ended, or its owner asked)"),
        ]),
    ]
}

fn items_licence(s: &mut Schemas) -> Value {
    json!({ "type": "object", "required": ["items"], "properties": { "items": { "type": "array", "items": licence(s) } } })
}

fn permission_name(p: Permission) -> String {
    serde_json::to_value(p).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
}

fn error_response(s: &mut Schemas, description: &str) -> Value {
    json!({ "description": description, "content": { "application/json": { "schema": s.of::<crate::error::ErrorBody>() } } })
}

fn content(reply: Reply, s: &mut Schemas) -> Value {
    match reply {
        Reply::Json(f) => json!({ "description": "Success", "content": { "application/json": { "schema": f(s) } } }),
        Reply::NoContent => json!({ "description": "Done, nothing to return" }),
        Reply::Media(types) => {
            let content: serde_json::Map<String, Value> = types.iter().map(|m| ((*m).to_owned(), json!({ "schema": { "type": "string" } }))).collect();
            json!({ "description": "Success", "content": content })
        }
        Reply::CsvOrJson(f) => json!({ "description": "Success: CSV by default, JSON with format=json", "content": {
            "text/csv": { "schema": { "type": "string" } }, "application/json": { "schema": f(s) } } }),
    }
}

fn operation(o: &Op, access: Option<Guard>, s: &mut Schemas) -> Value {
    let mut description = String::new();
    let mut op = serde_json::Map::new();
    op.insert("summary".into(), json!(o.summary));
    op.insert("operationId".into(), json!(operation_id(o)));
    op.insert("tags".into(), json!([tag(o.path)]));
    let mut params: Vec<Value> = o
        .path
        .split('/')
        .filter_map(|seg| seg.strip_prefix('{').and_then(|x| x.strip_suffix('}')))
        .map(|name| json!({ "name": name, "in": "path", "required": true, "schema": { "type": if name == "seq" || name == "ordinal" || name == "n" { "integer" } else { "string" } } }))
        .collect();
    params.extend((o.query)());
    if !params.is_empty() {
        op.insert("parameters".into(), Value::Array(params));
    }
    match o.body {
        Body::None => {}
        Body::Json(f) => {
            op.insert("requestBody".into(), json!({ "required": true, "content": { "application/json": { "schema": f(s) } } }));
        }
        Body::Csv => {
            op.insert("requestBody".into(), json!({ "required": true, "content": { "text/csv": { "schema": { "type": "string" } } } }));
        }
        Body::Parts(parts) => {
            let properties: serde_json::Map<String, Value> =
                parts.iter().map(|(name, media)| ((*name).to_owned(), json!({ "type": "string", "contentMediaType": media }))).collect();
            let required: Vec<&str> = parts.iter().map(|(name, _)| *name).collect();
            op.insert(
                "requestBody".into(),
                json!({ "required": true, "content": { "multipart/form-data": { "schema": { "type": "object", "required": required, "properties": properties } } } }),
            );
        }
        Body::Multipart => {
            op.insert(
                "requestBody".into(),
                json!({ "required": true, "content": { "multipart/form-data": { "schema": { "type": "object", "required": ["file", "attached_kind", "attached_id"], "properties": {
                    "file": { "type": "string", "contentMediaType": "application/octet-stream" }, "attached_kind": { "type": "string" }, "attached_id": { "type": "string" } } } } } }),
            );
        }
    }
    let mut responses = serde_json::Map::new();
    responses.insert(o.status.to_string(), content(o.reply, s));
    for (status, reply) in &o.also {
        responses.insert(status.to_string(), content(*reply, s));
    }
    let has_input = !matches!(o.body, Body::None) || !(o.query)().is_empty();
    if has_input || o.method != Method::GET {
        responses.insert("400".into(), error_response(s, "Malformed request (JSON that does not parse, a wrong type)"));
        responses.insert("422".into(), error_response(s, "A field is invalid: `field` names it"));
    }
    if !matches!(o.body, Body::None) {
        responses.insert("413".into(), error_response(s, "The body is over the size limit"));
        responses.insert("415".into(), error_response(s, "Another content type, or a compressed body"));
    }
    for (status, why) in o.errors {
        responses.insert(status.to_string(), error_response(s, why));
    }
    match access {
        Some(Some(p)) => {
            let roles: Vec<&str> = Role::ALL.iter().filter(|r| r.allows(p)).map(|r| r.as_str()).collect();
            description = format!("Requires the permission `{}` (roles: {}).", permission_name(p), roles.join(", "));
            op.insert("security".into(), json!([{ "bearer": [] }, { "session": [] }]));
            op.insert("x-permission".into(), json!(permission_name(p)));
            op.insert("x-roles".into(), json!(roles));
            responses.insert("401".into(), error_response(s, "No valid credential"));
            responses.insert("403".into(), error_response(s, "The caller's role lacks the permission"));
            if o.path.contains('{') || has_input {
                responses.insert(
                    "404".into(),
                    error_response(s, "No such object (named in the path, query or body), or not the caller's: foreign objects are not revealed"),
                );
            }
            responses.insert("429".into(), error_response(s, "Too many failed attempts from this address or on this account: see Retry-After"));
            if o.method != Method::GET {
                responses.insert("409".into(), error_response(s, "The object's state does not allow this (the message says why)"));
            }
        }
        Some(None) => {
            description = "Public.".into();
            op.insert("security".into(), json!([]));
            if o.path == "/api/v1/auth/token" {
                responses.insert(
                    "401".into(),
                    error_response(s, "Wrong e-mail or password; or `second_factor_required`, with `details.challenge` for POST /api/v1/auth/second-factor"),
                );
                responses.insert("429".into(), error_response(s, "Too many attempts: see Retry-After"));
            } else if o.path.starts_with("/api/v1/auth/") {
                responses
                    .insert("401".into(), error_response(s, "`login_expired` (the challenge is unknown, spent or out of tries) or `invalid_second_factor`"));
                responses.insert("409".into(), error_response(s, "The pending login does not take this step (the message says why)"));
                responses.insert("410".into(), error_response(s, "The reset link expired or was used"));
                responses.insert("429".into(), error_response(s, "Too many attempts on this account or from this address: see Retry-After"));
                responses.insert("429".into(), error_response(s, "Too many attempts: see Retry-After"));
            }
        }
        None => {}
    }
    responses.insert("500".into(), error_response(s, "A fault on the server (logged with the request id; no detail is shown)"));
    responses.insert("503".into(), error_response(s, "The database is unavailable: retry after Retry-After"));
    op.insert("description".into(), json!(description));
    op.insert("responses".into(), Value::Object(responses));
    Value::Object(op)
}

fn operation_id(o: &Op) -> String {
    let mut id = o.method.as_str().to_ascii_lowercase();
    for seg in o.path.trim_start_matches("/api/v1/").split('/') {
        id.push('_');
        id.push_str(&seg.replace(['{', '}'], "").replace(['-', '.'], "_"));
    }
    id
}

fn tag(path: &str) -> String {
    path.trim_start_matches("/api/v1/").split(['/', '.']).next().unwrap_or("api").to_owned()
}

/// The document for the routes of the table (method, path, who may call it), with the names two
/// types claimed at once (a test requires none).
pub fn build(routes: &[(Method, &'static str, Guard)]) -> (Value, Vec<String>) {
    let mut s = Schemas::default();
    let mut paths: BTreeMap<&str, serde_json::Map<String, Value>> = BTreeMap::new();
    for o in operations() {
        let access = routes.iter().find(|(m, p, _)| *m == o.method && *p == o.path).map(|(_, _, g)| *g);
        let item = operation(&o, access, &mut s);
        paths.entry(o.path).or_default().insert(o.method.as_str().to_ascii_lowercase(), item);
    }
    let doc = json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Licentia API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Technology licensing and IP management. Every route names the permission it requires; a foreign object is a 404. Errors are `{\"error\": {\"code\", \"message\", ...}}`.",
        },
        "servers": [{ "url": "/" }],
        "paths": paths,
        "components": {
            "schemas": s.0,
            "securitySchemes": {
                "bearer": { "type": "http", "scheme": "bearer", "bearerFormat": "JWT", "description": "From POST /api/v1/auth/token" },
                "session": { "type": "apiKey", "in": "cookie", "name": "__Host-licentia", "description": "The browser's session (state changes also need the CSRF token)" },
            },
        },
    });
    (doc, s.1)
}

/// `GET /api/docs`: the API reference, rendered in the browser by the vendored Swagger UI from
/// the document above (no CDN; the page's own script is a static file, as the CSP requires).
pub async fn docs_page() -> HttpResponse {
    let v = crate::static_files::VERSION;
    HttpResponse::Ok().content_type("text/html; charset=utf-8").body(format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>Licentia API reference</title><link rel=\"stylesheet\" href=\"/static/swagger-ui.css?v={v}\"></head>\
         <body><main><h1>Licentia API reference</h1><div id=\"swagger-ui\"></div></main>\
         <script src=\"/static/swagger-ui-bundle.js?v={v}\"></script><script src=\"/static/api-docs.js?v={v}\"></script></body></html>\n"
    ))
}
