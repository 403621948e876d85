//! Webhook endpoints over HTTP: `GET/POST /api/v1/webhooks`, `DELETE /api/v1/webhooks/{id}`, the
//! delivery log `GET /api/v1/webhooks/{id}/deliveries` and `POST
//! /api/v1/webhooks/deliveries/{id}/replay`. The use cases (`licentia_app::webhooks`) decide who
//! manages which endpoint and check every URL.

use actix_web::{HttpResponse, web};
use licentia_app::webhooks::LoggedDelivery;
use licentia_app::webhooks::{self as uc, NewEndpointInput};
use licentia_db::webhooks::Endpoint;
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::auth::CurrentUser;
use crate::context::RequestContext;
use crate::error::Reply;
use crate::state::AppState;

pub async fn list(state: web::Data<AppState>, ctx: RequestContext, user: CurrentUser) -> Reply<HttpResponse> {
    let items = uc::list(&state, &user.actor_in(&ctx)).await?;
    Ok(HttpResponse::Ok().json(EndpointList { items, event_types: licentia_domain::webhook::EVENT_TYPES }))
}

/// The caller's endpoints and the event types one may subscribe to.
#[derive(Serialize, ToSchema)]
pub struct EndpointList {
    pub items: Vec<Endpoint>,
    pub event_types: &'static [&'static str],
}

/// An endpoint's last 50 deliveries, newest first.
#[derive(Serialize, ToSchema)]
pub struct DeliveryLog {
    pub endpoint: Endpoint,
    pub items: Vec<LoggedDelivery>,
}

/// A delivery queued again.
#[derive(Serialize, ToSchema)]
pub struct Replayed {
    pub endpoint: Uuid,
    pub delivery: Uuid,
    pub queued: bool,
}

/// 201 with the endpoint and its signing secret (`whsec_…`), which is never shown again.
pub async fn create(state: web::Data<AppState>, ctx: RequestContext, user: CurrentUser, body: web::Json<NewEndpointInput>) -> Reply<HttpResponse> {
    let created = uc::create(&state, &user.actor_in(&ctx), body.into_inner()).await?;
    Ok(HttpResponse::Created().json(created))
}

pub async fn delete(state: web::Data<AppState>, ctx: RequestContext, user: CurrentUser, path: web::Path<Uuid>) -> Reply<HttpResponse> {
    uc::delete(&state, &user.actor_in(&ctx), *path).await?;
    Ok(HttpResponse::NoContent().finish())
}

pub async fn deliveries(state: web::Data<AppState>, ctx: RequestContext, user: CurrentUser, path: web::Path<Uuid>) -> Reply<HttpResponse> {
    let (endpoint, items) = uc::log(&state, &user.actor_in(&ctx), *path).await?;
    Ok(HttpResponse::Ok().json(DeliveryLog { endpoint, items }))
}

pub async fn replay(state: web::Data<AppState>, ctx: RequestContext, user: CurrentUser, path: web::Path<Uuid>) -> Reply<HttpResponse> {
    let endpoint = uc::replay(&state, &user.actor_in(&ctx), *path).await?;
    Ok(HttpResponse::Accepted().json(Replayed { endpoint, delivery: *path, queued: true }))
}
