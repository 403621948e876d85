//! Export control over HTTP: asset classifications, the agreement's check and its permits. Each
//! handler parses, calls one use case of `licentia_app::export`, and renders.

use actix_web::{HttpResponse, web};
use licentia_app::export::{self as uc, ClassificationsInput};
use licentia_domain::export::PermitInput;
use licentia_domain::{AgreementId, AssetId};

use crate::auth::CurrentUser;
use crate::context::RequestContext;
use crate::error::Reply;
use crate::state::AppState;

/// `PUT /api/v1/assets/{id}/export-classifications`: replaces the asset's classifications.
pub async fn classify(
    state: web::Data<AppState>,
    ctx: RequestContext,
    user: CurrentUser,
    id: web::Path<AssetId>,
    body: web::Json<ClassificationsInput>,
) -> Reply<HttpResponse> {
    Ok(HttpResponse::Ok().json(uc::classify(&state, &user.actor_in(&ctx), *id, &body).await?))
}

/// `GET /api/v1/agreements/{id}/export-check`: what approving the version the caller sees would
/// run into, today.
pub async fn check(state: web::Data<AppState>, ctx: RequestContext, user: CurrentUser, id: web::Path<AgreementId>) -> Reply<HttpResponse> {
    let actor = user.actor_in(&ctx);
    let a = licentia_app::agreements::load(&state, &actor, *id).await?;
    Ok(HttpResponse::Ok().json(uc::report(&state, &actor, &a).await?))
}

/// `POST /api/v1/agreements/{id}/export-permits`: records a licence or authorisation.
pub async fn add_permit(
    state: web::Data<AppState>,
    ctx: RequestContext,
    user: CurrentUser,
    id: web::Path<AgreementId>,
    body: web::Json<PermitInput>,
) -> Reply<HttpResponse> {
    let actor = user.actor_in(&ctx);
    let a = licentia_app::agreements::load(&state, &actor, *id).await?;
    Ok(HttpResponse::Created().json(uc::add_permit(&state, &actor, &a, &body).await?))
}

/// `GET /api/v1/agreements/{id}/evidence`: the agreement's evidence pack, a signed tar archive
/// (`licentia evidence verify FILE` checks it offline).
pub async fn evidence(state: web::Data<AppState>, ctx: RequestContext, user: CurrentUser, id: web::Path<AgreementId>) -> Reply<HttpResponse> {
    let actor = user.actor_in(&ctx);
    let a = licentia_app::agreements::load(&state, &actor, *id).await?;
    let pack = licentia_app::evidence::build(&state, &actor, &a).await?;
    Ok(HttpResponse::Ok()
        .content_type("application/x-tar")
        .insert_header((actix_web::http::header::CONTENT_DISPOSITION, format!("attachment; filename=\"evidence-{}.tar\"", a.id)))
        .body(pack))
}
