//! Liveness, readiness and metrics.

use actix_web::{HttpResponse, web};
use serde_json::json;

use crate::state::AppState;

/// Liveness: the process answers. Never touches the database.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

/// Readiness: the database answers within a second and every migration is applied.
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let check = tokio::time::timeout(std::time::Duration::from_secs(1), state.db.ready()).await;
    match check {
        Ok(Ok(true)) => HttpResponse::Ok().json(json!({ "status": "ready", "database": "ok", "migrations": "applied" })),
        Ok(Ok(false)) => HttpResponse::ServiceUnavailable().json(json!({ "status": "not_ready", "database": "ok", "migrations": "pending" })),
        Ok(Err(_)) | Err(_) => HttpResponse::ServiceUnavailable().json(json!({ "status": "not_ready", "database": "unreachable" })),
    }
}

pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain; version=0.0.4").body(state.metrics.render_with(&state.audit_log))
}
