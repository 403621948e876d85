//! `/api/v1/users`: licensor-side account administration.

use actix_web::{HttpResponse, web};
use licentia_domain::UserId;
use serde_json::json;

use crate::auth::{CurrentUser, not_found};
use crate::context::RequestContext;
use crate::error::{AppError, Reply};
use crate::state::AppState;
use licentia_app::admin::{self as admin_ops, NewUserInput, UserChange};

pub async fn list(state: web::Data<AppState>, ctx: RequestContext, user: CurrentUser) -> Reply<HttpResponse> {
    let mut conn = state.db.pool.acquire().await.map_err(licentia_db::DbError::from)?;
    let users = licentia_db::users::list(&mut conn, user.scope()).await?;
    state.audit_alone(user.event(&ctx, "user.listed", licentia_audit::Outcome::Success)).await?;
    Ok(HttpResponse::Ok().json(json!({ "items": users })))
}

/// A by-id lookup that misses (missing or outside the caller's scope) is a 404 and an audit entry.
pub async fn get(state: web::Data<AppState>, ctx: RequestContext, user: CurrentUser, id: web::Path<UserId>) -> Reply<HttpResponse> {
    let uid = *id;
    let mut conn = state.db.pool.acquire().await.map_err(licentia_db::DbError::from)?;
    match licentia_db::users::get_scoped(&mut conn, uid, user.scope()).await {
        Ok(u) => {
            drop(conn);
            state.audit_alone(user.event(&ctx, "user.read", licentia_audit::Outcome::Success).target("user", u.id)).await?;
            Ok(HttpResponse::Ok().json(u))
        }
        Err(licentia_db::DbError::NotFound) => Err(not_found(&state, &ctx, &user, "user", &id.to_string()).await.into()),
        Err(e) => Err(e.into()),
    }
}

pub async fn create(state: web::Data<AppState>, ctx: RequestContext, user: CurrentUser, body: web::Json<NewUserInput>) -> Reply<HttpResponse> {
    let created = admin_ops::create_user(&state, &user.actor_in(&ctx), body.into_inner()).await?;
    Ok(HttpResponse::Created().json(created))
}

pub async fn update(
    state: web::Data<AppState>,
    ctx: RequestContext,
    user: CurrentUser,
    id: web::Path<UserId>,
    body: web::Json<UserChange>,
) -> Reply<HttpResponse> {
    let uid = *id;
    match admin_ops::update_user(&state, &user.actor_in(&ctx), uid, body.into_inner()).await {
        Err(AppError::NotFound) => Err(not_found(&state, &ctx, &user, "user", &id.to_string()).await.into()),
        other => Ok(HttpResponse::Ok().json(other?)),
    }
}
