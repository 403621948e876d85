//! `/api/v1/organisations`. Licensees see only their own organisation (scoped in SQL).

use actix_web::{HttpResponse, web};
use licentia_domain::OrganisationId;
use serde_json::json;

use crate::auth::CurrentUser;
use crate::auth::not_found;
use crate::context::RequestContext;
use crate::error::{AppError, Reply};
use crate::state::AppState;
use licentia_app::admin::{self as admin_ops, NewOrgInput, OrgChange};

pub async fn list(state: web::Data<AppState>, ctx: RequestContext, user: CurrentUser) -> Reply<HttpResponse> {
    let mut conn = state.db.pool.acquire().await.map_err(licentia_db::DbError::from)?;
    let orgs = licentia_db::organisations::list_scoped(&mut conn, user.scope()).await?;
    state.audit_alone(user.event(&ctx, "org.listed", licentia_audit::Outcome::Success)).await?;
    Ok(HttpResponse::Ok().json(json!({ "items": orgs })))
}

pub async fn get(state: web::Data<AppState>, ctx: RequestContext, user: CurrentUser, id: web::Path<OrganisationId>) -> Reply<HttpResponse> {
    let oid = *id;
    let mut conn = state.db.pool.acquire().await.map_err(licentia_db::DbError::from)?;
    match licentia_db::organisations::get_scoped(&mut conn, oid, user.scope()).await {
        Ok(o) => {
            drop(conn);
            state.audit_alone(user.event(&ctx, "org.read", licentia_audit::Outcome::Success).target("organisation", o.id)).await?;
            Ok(HttpResponse::Ok().json(o))
        }
        Err(licentia_db::DbError::NotFound) => Err(not_found(&state, &ctx, &user, "organisation", &id.to_string()).await.into()),
        Err(e) => Err(e.into()),
    }
}

pub async fn create(state: web::Data<AppState>, ctx: RequestContext, user: CurrentUser, body: web::Json<NewOrgInput>) -> Reply<HttpResponse> {
    let org = admin_ops::create_org(&state, &user.actor_in(&ctx), body.into_inner()).await?;
    Ok(HttpResponse::Created().json(org))
}

pub async fn update(
    state: web::Data<AppState>,
    ctx: RequestContext,
    user: CurrentUser,
    id: web::Path<OrganisationId>,
    body: web::Json<OrgChange>,
) -> Reply<HttpResponse> {
    let oid = *id;
    match admin_ops::update_org(&state, &user.actor_in(&ctx), oid, body.into_inner()).await {
        Err(AppError::NotFound) => Err(not_found(&state, &ctx, &user, "organisation", &id.to_string()).await.into()),
        other => Ok(HttpResponse::Ok().json(other?)),
    }
}
