//! The webhooks page: endpoints with their subscriptions, a form to add one (its secret is shown
//! once, on the page the form returns, never in a redirect), and each endpoint's delivery log with
//! every attempt and a Replay button.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, Responder as _, web};
use askama::Template;
use askama_web::WebTemplate;
use licentia_app::webhooks::{self as uc, LoggedDelivery, NewEndpointInput};
use licentia_db::organisations::Organisation;
use licentia_db::webhooks::Endpoint;
use licentia_domain::Role;
use uuid::Uuid;

use crate::auth::CurrentUser;
use crate::context::RequestContext;
use crate::error::{AppError, Reply};
use crate::pages::{Nav, back, flash_from};
use crate::state::AppState;

#[derive(Template, WebTemplate)]
#[template(path = "webhooks/index.html")]
pub struct WebhooksPage {
    nav: Nav,
    endpoints: Vec<Endpoint>,
    event_types: &'static [&'static str],
    is_admin: bool,
    organisations: Vec<Organisation>,
    own_org: licentia_domain::OrganisationId,
    /// The endpoint just created and its secret, shown this once.
    created: Option<(Endpoint, String)>,
    /// A refused form: the message and what was typed.
    error: Option<String>,
    form_url: String,
    form_description: String,
    form_events: Vec<String>,
    /// The endpoint whose delivery log is open, with its deliveries.
    log: Option<(Endpoint, Vec<LoggedDelivery>)>,
    flash: Option<(bool, String)>,
}

#[derive(serde::Deserialize)]
pub struct LogQuery {
    log: Option<Uuid>,
}

async fn page(state: &AppState, ctx: &RequestContext, user: &CurrentUser, log: Option<Uuid>) -> Result<WebhooksPage, AppError> {
    let actor = user.actor_in(ctx);
    let endpoints = uc::list(state, &actor).await?;
    let log = match log {
        Some(id) => Some(uc::log(state, &actor, id).await?),
        None => None,
    };
    let is_admin = user.role == Role::Admin;
    let organisations = if is_admin {
        let mut conn = state.db.pool.acquire().await.map_err(licentia_db::DbError::from)?;
        licentia_db::organisations::list_scoped(&mut conn, None).await?
    } else {
        Vec::new()
    };
    Ok(WebhooksPage {
        nav: Nav::for_user(state, user, "/webhooks"),
        endpoints,
        event_types: licentia_domain::webhook::EVENT_TYPES,
        is_admin,
        organisations,
        own_org: user.organisation_id,
        created: None,
        error: None,
        form_url: String::new(),
        form_description: String::new(),
        form_events: vec!["*".to_owned()],
        log,
        flash: None,
    })
}

pub async fn show(state: web::Data<AppState>, ctx: RequestContext, user: CurrentUser, req: HttpRequest, q: web::Query<LogQuery>) -> Reply<WebhooksPage> {
    let mut p = page(&state, &ctx, &user, q.log).await?;
    p.flash = flash_from(req.query_string());
    Ok(p)
}

type Pairs = Vec<(String, String)>;

pub async fn create(state: web::Data<AppState>, ctx: RequestContext, user: CurrentUser, req: HttpRequest, form: web::Form<Pairs>) -> Reply<HttpResponse> {
    let p = form.into_inner();
    let get = |k: &str| p.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()).unwrap_or_default();
    let events: Vec<String> = p.iter().filter(|(k, _)| k == "events").map(|(_, v)| v.clone()).collect();
    let input = NewEndpointInput {
        url: get("url"),
        description: get("description"),
        events: events.clone(),
        allow_private: !get("allow_private").is_empty(),
        organisation_id: Some(get("organisation_id")),
        csrf: None,
    };
    match uc::create(&state, &user.actor_in(&ctx), input).await {
        Ok(created) => {
            let mut p = page(&state, &ctx, &user, None).await?;
            p.created = Some((created.endpoint, created.secret));
            // The secret is in this page only: never cached, never in a URL.
            Ok(p.customize().insert_header(("cache-control", "no-store")).respond_to(&req).map_into_boxed_body())
        }
        Err(AppError::Validation { field, message }) => {
            let mut page = page(&state, &ctx, &user, None).await?;
            page.error = Some(format!("{}: {message}", label(&field)));
            page.form_url = get("url");
            page.form_description = get("description");
            page.form_events = events;
            Ok(page.customize().with_status(StatusCode::UNPROCESSABLE_ENTITY).respond_to(&req).map_into_boxed_body())
        }
        Err(e) => Err(e.into()),
    }
}

fn label(field: &str) -> &str {
    match field {
        "url" => "URL",
        "events" => "Events",
        "allow_private" => "Private addresses",
        "organisation_id" => "Organisation",
        "description" => "Description",
        other => other,
    }
}

pub async fn delete(state: web::Data<AppState>, ctx: RequestContext, user: CurrentUser, id: web::Path<Uuid>) -> Reply<HttpResponse> {
    back("/webhooks", uc::delete(&state, &user.actor_in(&ctx), *id).await.map(|()| "Endpoint deleted; its log is kept.".to_owned()))
}

pub async fn replay(state: web::Data<AppState>, ctx: RequestContext, user: CurrentUser, id: web::Path<Uuid>) -> Reply<HttpResponse> {
    let endpoint = uc::replay(&state, &user.actor_in(&ctx), *id).await?;
    Ok(crate::pages::see_other_with(&format!("/webhooks?log={endpoint}"), true, "Queued again; the log shows the new attempt in a moment."))
}
