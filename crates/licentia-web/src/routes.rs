//! The route table: every route with the permission it requires, in one place. The application
//! registers its handlers from this table, and the [`authorize`] middleware enforces the table on
//! every request before any handler runs, so a handler cannot forget its check. A test walks the
//! table for every role.

use std::collections::HashMap;
use std::sync::OnceLock;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::{Method, header};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, web};
use futures_util::StreamExt as _;
use licentia_audit::Outcome;
use licentia_domain::Permission;
use serde_json::json;

use crate::api::{agreements, artifacts, asset_csv, assets, calendar, models, portfolio, training, webhooks};
use crate::auth::{self, Credential, PRE_COOKIE};
use crate::context::RequestContext;
use crate::error::{AppError, HttpError};
use crate::state::AppState;
use crate::{api, ops, pages, static_files};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// No login needed (the login page, health checks, static files).
    Public,
    /// A logged-in user whose role allows the permission.
    Requires(Permission),
}

pub struct RouteDef {
    pub method: Method,
    pub path: &'static str,
    pub access: Access,
    register: fn(&mut web::ServiceConfig),
}

macro_rules! route {
    ($method:ident $path:literal => $access:expr, $handler:path) => {
        RouteDef {
            method: Method::$method,
            path: $path,
            access: $access,
            register: |cfg| {
                cfg.route($path, web::method(Method::$method).to($handler));
            },
        }
    };
}

use Access::{Public, Requires};
use Permission as P;

/// Every route of the application.
pub fn table() -> Vec<RouteDef> {
    vec![
        // Operations
        route!(GET "/healthz" => Public, ops::healthz),
        route!(GET "/readyz" => Public, ops::readyz),
        route!(GET "/metrics" => Requires(P::MetricsRead), ops::metrics),
        route!(GET "/static/{name}" => Public, static_files::serve),
        // Browser pages
        route!(GET "/login" => Public, pages::login::form),
        route!(POST "/login" => Public, pages::login::submit),
        route!(POST "/login/second-factor" => Public, pages::identity::submit_second_step),
        route!(GET "/password-reset" => Public, pages::identity::reset_form),
        route!(POST "/password-reset" => Public, pages::identity::request_reset),
        route!(GET "/password-reset/{token}" => Public, pages::identity::choose_form),
        route!(POST "/password-reset/{token}" => Public, pages::identity::choose),
        route!(POST "/logout" => Requires(P::SelfService), pages::login::logout),
        route!(GET "/" => Requires(P::SelfService), pages::home::home),
        route!(GET "/account" => Requires(P::SelfService), pages::account::show),
        route!(POST "/account/password" => Requires(P::SelfService), pages::account::change_password),
        route!(POST "/account/preferences" => Requires(P::SelfService), pages::account::set_preferences),
        route!(GET "/account/security" => Requires(P::SelfService), pages::identity::security),
        route!(POST "/account/totp" => Requires(P::SelfService), pages::identity::begin_totp),
        route!(POST "/account/totp/confirm" => Requires(P::SelfService), pages::identity::confirm_totp),
        route!(POST "/account/totp/remove" => Requires(P::SelfService), pages::identity::remove_totp),
        route!(POST "/account/passkeys/{id}/remove" => Requires(P::SelfService), pages::identity::remove_passkey),
        route!(POST "/account/recovery-codes" => Requires(P::SelfService), pages::identity::regenerate_codes),
        route!(GET "/account/sessions" => Requires(P::SelfService), pages::identity::sessions),
        route!(POST "/account/sessions/{id}/end" => Requires(P::SelfService), pages::identity::end_session),
        route!(GET "/webhooks" => Requires(P::WebhookManage), pages::webhooks::show),
        route!(POST "/webhooks" => Requires(P::WebhookManage), pages::webhooks::create),
        route!(POST "/webhooks/{id}/delete" => Requires(P::WebhookManage), pages::webhooks::delete),
        route!(POST "/webhooks/deliveries/{id}/replay" => Requires(P::WebhookManage), pages::webhooks::replay),
        route!(GET "/admin/users" => Requires(P::UserRead), pages::admin::users),
        route!(POST "/admin/users" => Requires(P::UserManage), pages::admin::create_user),
        route!(POST "/admin/users/{id}" => Requires(P::UserManage), pages::admin::update_user),
        route!(POST "/admin/users/{id}/password-reset" => Requires(P::UserManage), pages::admin::force_reset),
        route!(GET "/admin/organisations" => Requires(P::OrgRead), pages::admin::organisations),
        route!(POST "/admin/organisations" => Requires(P::OrgManage), pages::admin::create_organisation),
        route!(POST "/admin/organisations/{id}" => Requires(P::OrgManage), pages::admin::update_organisation),
        route!(POST "/admin/organisations/{id}/second-factor" => Requires(P::OrgManage), pages::admin::update_second_factor),
        route!(GET "/organisations/{id}" => Requires(P::OrgRead), pages::organisation::show),
        route!(GET "/assets" => Requires(P::AssetRead), pages::assets::list),
        route!(GET "/assets/new" => Requires(P::AssetManage), pages::asset_form::new_form),
        route!(POST "/assets/new" => Requires(P::AssetManage), pages::asset_form::create),
        route!(GET "/assets/import" => Requires(P::AssetManage), pages::asset_form::import_form),
        route!(GET "/assets/{id}" => Requires(P::AssetRead), pages::assets::show),
        route!(GET "/assets/{id}/edit" => Requires(P::AssetManage), pages::asset_form::edit_form),
        route!(POST "/assets/{id}/edit" => Requires(P::AssetManage), pages::asset_form::update),
        route!(POST "/assets/{id}/deadlines" => Requires(P::AssetManage), pages::asset_form::mark),
        route!(POST "/assets/{id}/manual-deadlines/{ordinal}/delete" => Requires(P::AssetManage), pages::asset_form::delete_manual),
        route!(GET "/assets/{id}/family" => Requires(P::AssetRead), pages::portfolio::family),
        route!(POST "/assets/{id}/manual-deadlines" => Requires(P::AssetManage), pages::portfolio::add_manual),
        route!(POST "/assets/{id}/export-classifications" => Requires(P::AssetManage), pages::asset_form::classify),
        route!(GET "/deadlines" => Requires(P::AssetRead), pages::assets::deadlines),
        route!(GET "/deadlines/calendar" => Requires(P::AssetRead), pages::portfolio::calendar),
        route!(GET "/portfolio" => Requires(P::AssetRead), pages::portfolio::dashboard),
        route!(GET "/agreements" => Requires(P::AgreementRead), pages::agreements::list_html),
        route!(POST "/agreements" => Requires(P::AgreementDraft), pages::agreements::create_html),
        route!(GET "/agreements/{id}" => Requires(P::AgreementRead), pages::agreements::show_html),
        route!(POST "/agreements/{id}/versions" => Requires(P::AgreementDraft), pages::agreements::save_html),
        route!(POST "/agreements/{id}/transition" => Requires(P::AgreementDraft), pages::agreements::transition_html),
        route!(POST "/agreements/{id}/approve" => Requires(P::AgreementApprove), pages::agreements::approve_html),
        route!(POST "/agreements/{id}/accept" => Requires(P::AgreementAccept), pages::agreements::accept_html),
        route!(POST "/agreements/{id}/request-changes" => Requires(P::AgreementRespond), pages::agreements::request_changes_html),
        route!(POST "/agreements/{id}/export-permits" => Requires(P::AgreementDraft), pages::agreements::add_permit_html),
        route!(POST "/agreements/{id}/sales" => Requires(P::SalesReport), pages::agreements::sales_html),
        route!(POST "/agreements/{id}/licences" => Requires(P::LicenceManage), pages::agreements::issue_licence_html),
        route!(GET "/agreements/{id}/diff" => Requires(P::AgreementRead), pages::agreements::diff_html),
        route!(GET "/agreements/{id}/versions/{n}/print" => Requires(P::AgreementRead), pages::agreements::print_html),
        route!(GET "/statements" => Requires(P::StatementRead), pages::agreements::statement_html),
        route!(GET "/revenue" => Requires(P::StatementRead), pages::agreements::revenue_html),
        route!(GET "/training" => Requires(P::RunRead), pages::training::index),
        route!(POST "/training/runs" => Requires(P::RunLaunch), pages::training::launch),
        route!(POST "/training/datasets/{id}/erase" => Requires(P::DatasetManage), pages::training::erase_dataset),
        route!(POST "/training/runs/{id}/cancel" => Requires(P::RunLaunch), pages::training::cancel),
        route!(GET "/runs/compare" => Requires(P::RunRead), pages::training::compare),
        route!(GET "/runs/{id}" => Requires(P::RunRead), pages::training::run),
        route!(POST "/attachments" => Requires(P::ArtifactUpload), artifacts::upload_form),
        route!(GET "/audit" => Requires(P::AuditRead), pages::audit::list),
        route!(GET "/audit/entries/{seq}" => Requires(P::AuditRead), pages::audit::entry),
        route!(GET "/audit/export" => Requires(P::AuditExport), api::audit::export),
        route!(GET "/audit/verify" => Requires(P::AuditVerify), pages::audit::verify),
        // JSON API
        route!(GET "/api/v1/openapi.json" => Public, openapi_json),
        route!(GET "/api/docs" => Public, crate::openapi::docs_page),
        route!(POST "/api/v1/auth/token" => Public, api::auth::token),
        route!(POST "/api/v1/auth/second-factor" => Public, api::identity::second_step),
        route!(POST "/api/v1/auth/second-factor/totp-enrolment" => Public, api::identity::enrol_totp_for_login),
        route!(POST "/api/v1/auth/second-factor/passkey-options" => Public, api::identity::passkey_options_for_login),
        route!(POST "/api/v1/auth/password-reset" => Public, api::identity::request_reset),
        route!(POST "/api/v1/auth/password-reset/complete" => Public, api::identity::complete_reset),
        route!(POST "/api/v1/auth/logout" => Requires(P::SelfService), api::auth::logout),
        route!(GET "/api/v1/me" => Requires(P::SelfService), api::auth::me),
        route!(POST "/api/v1/me/password" => Requires(P::SelfService), api::auth::change_password),
        route!(GET "/api/v1/me/second-factors" => Requires(P::SelfService), api::identity::factors_summary),
        route!(POST "/api/v1/me/totp" => Requires(P::SelfService), api::identity::begin_totp),
        route!(POST "/api/v1/me/totp/confirm" => Requires(P::SelfService), api::identity::confirm_totp),
        route!(POST "/api/v1/me/totp/remove" => Requires(P::SelfService), api::identity::remove_totp),
        route!(POST "/api/v1/me/recovery-codes" => Requires(P::SelfService), api::identity::regenerate_recovery_codes),
        route!(POST "/api/v1/me/passkeys/options" => Requires(P::SelfService), api::identity::begin_passkey),
        route!(POST "/api/v1/me/passkeys" => Requires(P::SelfService), api::identity::finish_passkey),
        route!(POST "/api/v1/me/passkeys/{id}/remove" => Requires(P::SelfService), api::identity::remove_passkey),
        route!(GET "/api/v1/me/sessions" => Requires(P::SelfService), api::identity::sessions),
        route!(DELETE "/api/v1/me/sessions/{id}" => Requires(P::SelfService), api::identity::end_session),
        route!(GET "/api/v1/me/preferences" => Requires(P::SelfService), api::auth::preferences),
        route!(PUT "/api/v1/me/preferences" => Requires(P::SelfService), api::auth::set_preferences),
        route!(GET "/api/v1/users" => Requires(P::UserRead), api::users::list),
        route!(POST "/api/v1/users" => Requires(P::UserManage), api::users::create),
        route!(GET "/api/v1/users/{id}" => Requires(P::UserRead), api::users::get),
        route!(PATCH "/api/v1/users/{id}" => Requires(P::UserManage), api::users::update),
        route!(POST "/api/v1/users/{id}/password-reset" => Requires(P::UserManage), api::identity::force_reset),
        route!(GET "/api/v1/organisations" => Requires(P::OrgRead), api::organisations::list),
        route!(POST "/api/v1/organisations" => Requires(P::OrgManage), api::organisations::create),
        route!(GET "/api/v1/organisations/{id}" => Requires(P::OrgRead), api::organisations::get),
        route!(PATCH "/api/v1/organisations/{id}" => Requires(P::OrgManage), api::organisations::update),
        route!(GET "/api/v1/audit" => Requires(P::AuditRead), api::audit::list),
        route!(GET "/api/v1/audit/export" => Requires(P::AuditExport), api::audit::export),
        route!(GET "/api/v1/audit/verify" => Requires(P::AuditVerify), api::audit::verify),
        route!(GET "/api/v1/audit/{seq}" => Requires(P::AuditRead), api::audit::get),
        route!(GET "/api/v1/assets" => Requires(P::AssetRead), assets::list),
        route!(POST "/api/v1/assets" => Requires(P::AssetManage), assets::create),
        route!(POST "/api/v1/assets/import" => Requires(P::AssetManage), asset_csv::import),
        route!(GET "/api/v1/assets/export" => Requires(P::AssetRead), asset_csv::export),
        route!(GET "/api/v1/assets/{id}" => Requires(P::AssetRead), assets::get),
        route!(PATCH "/api/v1/assets/{id}" => Requires(P::AssetManage), assets::update),
        route!(DELETE "/api/v1/assets/{id}" => Requires(P::AssetManage), assets::delete),
        route!(POST "/api/v1/assets/{id}/deadlines" => Requires(P::AssetManage), assets::mark),
        route!(POST "/api/v1/assets/{id}/manual-deadlines" => Requires(P::AssetManage), assets::add_manual),
        route!(DELETE "/api/v1/assets/{id}/manual-deadlines/{ordinal}" => Requires(P::AssetManage), assets::delete_manual),
        route!(PUT "/api/v1/assets/{id}/export-classifications" => Requires(P::AssetManage), api::export::classify),
        route!(GET "/api/v1/assets/{id}/family" => Requires(P::AssetRead), portfolio::family_api),
        route!(GET "/api/v1/assets/{id}/versions" => Requires(P::AssetRead), models::list),
        route!(POST "/api/v1/assets/{id}/versions" => Requires(P::AssetManage), models::publish),
        route!(GET "/api/v1/forecast" => Requires(P::CostRead), portfolio::forecast_api),
        route!(GET "/api/v1/deadlines" => Requires(P::AssetRead), assets::deadlines_api),
        route!(POST "/api/v1/me/calendar-token" => Requires(P::AssetRead), calendar::new_token),
        // The token in the query is the credential: calendar clients cannot log in.
        route!(GET "/deadlines.ics" => Public, calendar::feed),
        route!(GET "/api/v1/agreements" => Requires(P::AgreementRead), agreements::list),
        route!(POST "/api/v1/agreements" => Requires(P::AgreementDraft), agreements::create),
        route!(GET "/api/v1/agreements/{id}" => Requires(P::AgreementRead), agreements::get),
        route!(GET "/api/v1/agreements/{id}/versions" => Requires(P::AgreementRead), agreements::versions),
        route!(POST "/api/v1/agreements/{id}/versions" => Requires(P::AgreementDraft), agreements::save),
        route!(GET "/api/v1/agreements/{id}/versions/{n}" => Requires(P::AgreementRead), agreements::version),
        route!(GET "/api/v1/agreements/{id}/versions/{n}/pdf" => Requires(P::AgreementRead), agreements::pdf),
        route!(GET "/api/v1/agreements/{id}/diff" => Requires(P::AgreementRead), agreements::diff_api),
        route!(POST "/api/v1/agreements/{id}/transition" => Requires(P::AgreementDraft), agreements::transition),
        route!(POST "/api/v1/agreements/{id}/approve" => Requires(P::AgreementApprove), agreements::approve),
        route!(POST "/api/v1/agreements/{id}/accept" => Requires(P::AgreementAccept), agreements::accept),
        route!(POST "/api/v1/agreements/{id}/request-changes" => Requires(P::AgreementRespond), agreements::request_changes),
        route!(GET "/api/v1/agreements/{id}/evidence" => Requires(P::AgreementRead), api::export::evidence),
        route!(GET "/api/v1/agreements/{id}/export-check" => Requires(P::AgreementRead), api::export::check),
        route!(POST "/api/v1/agreements/{id}/export-permits" => Requires(P::AgreementDraft), api::export::add_permit),
        route!(POST "/api/v1/agreements/{id}/sales" => Requires(P::SalesReport), agreements::report_sales),
        route!(GET "/api/v1/statements" => Requires(P::StatementRead), agreements::statements),
        route!(GET "/api/v1/licences" => Requires(P::LicenceRead), training::licences),
        route!(POST "/api/v1/licences" => Requires(P::LicenceManage), training::create_licence),
        route!(GET "/api/v1/licences/{id}" => Requires(P::LicenceRead), training::licence),
        route!(GET "/api/v1/datasets" => Requires(P::DatasetManage), training::datasets),
        route!(POST "/api/v1/datasets" => Requires(P::DatasetManage), training::upload_dataset),
        route!(GET "/api/v1/datasets/{id}" => Requires(P::DatasetManage), training::dataset),
        route!(PATCH "/api/v1/datasets/{id}" => Requires(P::DatasetManage), training::set_columns),
        route!(POST "/api/v1/datasets/{id}/erase" => Requires(P::DatasetManage), training::erase_dataset),
        route!(GET "/api/v1/runs" => Requires(P::RunRead), training::runs),
        route!(POST "/api/v1/runs" => Requires(P::RunLaunch), training::launch),
        route!(POST "/api/v1/runs/estimate" => Requires(P::RunLaunch), training::estimate),
        route!(GET "/api/v1/webhooks" => Requires(P::WebhookManage), webhooks::list),
        route!(POST "/api/v1/webhooks" => Requires(P::WebhookManage), webhooks::create),
        route!(DELETE "/api/v1/webhooks/{id}" => Requires(P::WebhookManage), webhooks::delete),
        route!(GET "/api/v1/webhooks/{id}/deliveries" => Requires(P::WebhookManage), webhooks::deliveries),
        route!(POST "/api/v1/webhooks/deliveries/{id}/replay" => Requires(P::WebhookManage), webhooks::replay),
        route!(GET "/api/v1/runs/{id}" => Requires(P::RunRead), training::run),
        route!(POST "/api/v1/runs/{id}/cancel" => Requires(P::RunLaunch), training::cancel),
        route!(GET "/api/v1/runs/{id}/events" => Requires(P::RunRead), training::events),
        route!(POST "/api/v1/runs/{id}/predict" => Requires(P::RunLaunch), training::predict),
        route!(GET "/api/v1/runs/{id}/model" => Requires(P::RunLaunch), training::model),
        route!(POST "/api/v1/artifacts" => Requires(P::ArtifactUpload), artifacts::upload),
        route!(GET "/api/v1/artifacts" => Requires(P::ArtifactRead), artifacts::list),
        route!(GET "/api/v1/artifacts/{id}" => Requires(P::ArtifactRead), artifacts::metadata),
        route!(GET "/api/v1/artifacts/{id}/content" => Requires(P::ArtifactContent), artifacts::content),
    ]
}

/// The table's path template that `path` (no query) matches, such as `/api/v1/assets/{id}` for
/// `/api/v1/assets/0193…`, if the table serves `method` there. Literal segments win over
/// parameters, as in the router (`/api/v1/assets/export` is not an asset id).
pub fn template_of(method: &Method, path: &str) -> Option<&'static str> {
    let segs: Vec<&str> = path.split('/').collect();
    let mut best: Option<(usize, &'static str)> = None;
    let routes = table();
    for r in &routes {
        let t: Vec<&str> = r.path.split('/').collect();
        if t.len() != segs.len() {
            continue;
        }
        let mut literal = 0;
        let fits = t.iter().zip(&segs).all(|(t, s)| {
            if t.starts_with('{') {
                !s.is_empty()
            } else {
                literal += 1;
                t == s
            }
        });
        if fits && best.is_none_or(|(l, _)| literal > l) {
            best = Some((literal, r.path));
        }
    }
    best.map(|(_, p)| p).filter(|p| routes.iter().any(|r| r.path == *p && r.method == *method))
}

/// The OpenAPI document of the table's routes (built once), and the schema names two types
/// claimed at once.
pub fn openapi_document() -> &'static (serde_json::Value, Vec<String>) {
    static DOC: OnceLock<(serde_json::Value, Vec<String>)> = OnceLock::new();
    DOC.get_or_init(|| {
        let routes: Vec<(Method, &'static str, crate::openapi::Guard)> = table()
            .into_iter()
            .map(|r| {
                let guard = match r.access {
                    Access::Public => None,
                    Access::Requires(p) => Some(p),
                };
                (r.method, r.path, guard)
            })
            .collect();
        crate::openapi::build(&routes)
    })
}

/// `GET /api/v1/openapi.json`.
async fn openapi_json() -> actix_web::HttpResponse {
    actix_web::HttpResponse::Ok().insert_header((header::CACHE_CONTROL, "public, max-age=300")).json(&openapi_document().0)
}

/// Registers every route of [`table`].
pub fn configure(cfg: &mut web::ServiceConfig) {
    for r in table() {
        (r.register)(cfg);
    }
}

fn access_map() -> &'static HashMap<(Method, &'static str), Access> {
    static MAP: OnceLock<HashMap<(Method, &'static str), Access>> = OnceLock::new();
    MAP.get_or_init(|| table().into_iter().map(|r| ((r.method, r.path), r.access)).collect())
}

/// The access rule for a request's method and matched pattern; `None` when no route matches.
pub fn access_for(method: &Method, pattern: &str) -> Option<Access> {
    access_map().get(&(method.clone(), pattern)).copied()
}

fn is_unsafe(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Enforces the route table, then CSRF and same-origin rules for state-changing requests.
pub async fn authorize(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let Some(state) = req.app_data::<web::Data<AppState>>().map(|d| d.get_ref().clone()) else {
        return Ok(req.error_response(HttpError(AppError::internal("no application state"))).map_into_right_body());
    };
    let method = req.method().clone();
    // No request body is ever inflated: a gzip bomb is refused before a byte of it is decoded
    // (actix would otherwise decompress JSON and form bodies chunk by chunk, and hand multipart
    // and CSV readers compressed bytes that their limits would count wrongly).
    if req.headers().get(actix_web::http::header::CONTENT_ENCODING).is_some_and(|v| !v.as_bytes().eq_ignore_ascii_case(b"identity")) {
        return Ok(req
            .error_response(HttpError(AppError::UnsupportedMediaType { expected: "an uncompressed body (no Content-Encoding)" }))
            .map_into_right_body());
    }
    let Some(pattern) = req.match_pattern() else {
        // No route at all: the router answers 404.
        return Ok(next.call(req).await?.map_into_left_body());
    };
    let Some(access) = access_for(&method, &pattern) else {
        // A path the table knows, with a method it does not list for it (actix matches the
        // pattern without the method guard, so e.g. `PATCH /api/v1/assets/export` lands here):
        // refused here, so that nothing outside the table ever reaches a handler unauthenticated.
        return Ok(req.error_response(HttpError(AppError::MethodNotAllowed)).map_into_right_body());
    };

    // Values, not a clone of the request: the router needs the request unshared.
    let ctx = RequestContext::of(req.request());
    let credential = auth::credential(req.request());
    let path = req.path().to_owned();
    let mut session_binding: Option<String> = None;
    if let Access::Requires(permission) = access {
        let (token, via_cookie) = match &credential {
            Credential::Bearer(t) => (t.as_str(), false),
            Credential::Cookie(t) => (t.as_str(), true),
            Credential::None => return Ok(req.error_response(HttpError(AppError::Unauthorized)).map_into_right_body()),
        };
        let user = match auth::authenticate(&state, token, via_cookie).await {
            Ok(u) => u,
            Err(e) => {
                if matches!(e, AppError::Unauthorized)
                    && matches!(credential, Credential::Bearer(_))
                    && let Err(limited) = licentia_app::account::reject_token(&state, &ctx.origin(), &path).await
                {
                    return Ok(req.error_response(HttpError(limited)).map_into_right_body());
                }
                return Ok(req.error_response(HttpError(e)).map_into_right_body());
            }
        };
        if !user.role.allows(permission) {
            let event = user.event(&ctx, "authz.denied", Outcome::Denied).details(json!({ "method": method.as_str(), "path": path, "permission": permission }));
            if let Err(e) = state.audit_alone(event).await {
                return Ok(req.error_response(HttpError(e)).map_into_right_body());
            }
            return Ok(req.error_response(HttpError(AppError::Forbidden)).map_into_right_body());
        }
        if via_cookie {
            session_binding = Some(user.session_id.to_string());
        }
        req.extensions_mut().insert(user);
    }

    if is_unsafe(&method)
        && let Err(e) = check_cross_site(&mut req, &state, &credential, session_binding).await
    {
        let event = ctx
            .stamp(licentia_audit::AuditEvent::new("authz.csrf_refused", Outcome::Denied))
            .details(json!({ "method": method.as_str(), "path": path, "reason": e.to_string() }));
        let _ = state.audit_alone(event).await;
        return Ok(req.error_response(HttpError(e)).map_into_right_body());
    }
    Ok(next.call(req).await?.map_into_left_body())
}

/// Same-origin and CSRF rules for a state-changing request:
/// - a browser that says the request is cross-site, or an `Origin` other than our own host, is refused;
/// - a form (urlencoded or multipart) or a cookie-authenticated request must carry a CSRF token bound
///   to its session (or, before login, to the pre-session cookie) in `X-CSRF-Token`, the form's
///   `csrf` field, or the `csrf` query parameter;
/// - a bearer-token request without cookies carries no ambient authority and needs no token.
async fn check_cross_site(req: &mut ServiceRequest, state: &AppState, credential: &Credential, session_binding: Option<String>) -> Result<(), AppError> {
    let headers = req.headers();
    if headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) == Some("cross-site") {
        return Err(AppError::CrossSite);
    }
    let same_origin_fetch = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) == Some("same-origin");
    if let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok())
        // An opaque origin (`null`) says nothing about the page; when the browser itself vouches
        // that the request is same-origin, the CSRF token below decides.
        && !(origin == "null" && same_origin_fetch)
    {
        let host = headers.get(header::HOST).and_then(|v| v.to_str().ok()).unwrap_or_default();
        let origin_host = origin.split_once("://").map(|(_, h)| h).unwrap_or("null");
        if origin_host != host {
            return Err(AppError::CrossSite);
        }
    }
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default().to_ascii_lowercase();
    let is_form = content_type.starts_with("application/x-www-form-urlencoded") || content_type.starts_with("multipart/form-data");
    // A bearer token is never sent by a browser on its own (no ambient authority), and a
    // cross-site page cannot set the header without a CORS preflight, which we never grant.
    if matches!(credential, Credential::Bearer(_)) {
        return Ok(());
    }
    let cookie_auth = matches!(credential, Credential::Cookie(_));
    if !is_form && !cookie_auth {
        return Ok(());
    }
    let binding = match session_binding {
        Some(b) => b,
        None => match req.cookie(PRE_COOKIE) {
            Some(c) if !c.value().is_empty() => format!("pre:{}", c.value()),
            _ => return Err(AppError::CrossSite),
        },
    };
    let mut token = req.headers().get("x-csrf-token").and_then(|v| v.to_str().ok()).map(str::to_owned);
    if token.is_none() && content_type.starts_with("application/x-www-form-urlencoded") {
        let body = read_limited(req, state.settings.form_limit).await?;
        token =
            serde_urlencoded::from_bytes::<Vec<(String, String)>>(&body).ok().and_then(|pairs| pairs.into_iter().find(|(k, _)| k == "csrf").map(|(_, v)| v));
        // Put the body back for the handler's extractor.
        req.set_payload(Payload::from(body));
    }
    if token.is_none() {
        token = serde_urlencoded::from_str::<Vec<(String, String)>>(req.query_string())
            .ok()
            .and_then(|pairs| pairs.into_iter().find(|(k, _)| k == "csrf").map(|(_, v)| v));
    }
    match token {
        Some(t) if state.csrf.verify(&binding, &t) => Ok(()),
        _ => Err(AppError::CrossSite),
    }
}

/// Reads a body of at most `limit` bytes, refusing by `Content-Length` before reading anything.
async fn read_limited(req: &mut ServiceRequest, limit: usize) -> Result<web::Bytes, AppError> {
    if let Some(len) = req.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<usize>().ok())
        && len > limit
    {
        return Err(AppError::PayloadTooLarge { limit });
    }
    let mut payload = req.take_payload();
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| AppError::BadRequest { message: e.to_string() })?;
        if body.len() + chunk.len() > limit {
            return Err(AppError::PayloadTooLarge { limit });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}
