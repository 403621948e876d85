//! Model versions over HTTP: `GET /api/v1/assets/{id}/versions` (the versions the caller may
//! see, with the licensor's lineage) and `POST /api/v1/assets/{id}/versions` (a multipart upload
//! of burn weights with their manifest, checked and published by the use case).

use actix_multipart::Multipart;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use futures_util::TryStreamExt as _;
use licentia_app::models::{self as uc, Manifest, Source};
use licentia_domain::AssetId;

use crate::auth::CurrentUser;
use crate::context::RequestContext;
use crate::error::{AppError, AppResult, Reply};
use crate::state::AppState;

/// The manifest is a few kilobytes of JSON; a megabyte is generous.
const MAX_MANIFEST: usize = 1024 * 1024;
/// Multipart framing allowance on top of the two parts' limits.
const FRAMING: u64 = 64 * 1024;

async fn read_part(field: &mut actix_multipart::Field, limit: usize) -> AppResult<Vec<u8>> {
    let mut buf = Vec::new();
    while let Some(chunk) = field.try_next().await.map_err(|e| AppError::BadRequest { message: format!("upload interrupted: {e}") })? {
        if buf.len() + chunk.len() > limit {
            // Streamed past its part's limit (no Content-Length said so first): 413, as uploads answer.
            return Err(AppError::PayloadTooLarge { limit });
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf)
}

/// `GET /api/v1/assets/{id}/versions`.
pub async fn list(state: web::Data<AppState>, ctx: RequestContext, user: CurrentUser, id: web::Path<AssetId>) -> Reply<HttpResponse> {
    Ok(HttpResponse::Ok().json(uc::list(&state, &user.actor_in(&ctx), *id).await?))
}

/// `POST /api/v1/assets/{id}/versions`: multipart with a `manifest` part (JSON: `hyper`,
/// `preprocessing`, optional `metrics` and `notes`) and a `weights` part (burn record bytes).
/// 201 with the version.
pub async fn publish(
    state: web::Data<AppState>,
    ctx: RequestContext,
    user: CurrentUser,
    req: HttpRequest,
    id: web::Path<AssetId>,
    mut form: Multipart,
) -> Reply<HttpResponse> {
    let max_weights = licentia_train::inference::MAX_WEIGHTS;
    if let Some(len) = req.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok())
        && len > (max_weights + MAX_MANIFEST) as u64 + FRAMING
    {
        return Err(AppError::PayloadTooLarge { limit: max_weights + MAX_MANIFEST }.into());
    }
    let (mut manifest, mut weights) = (None, None);
    while let Some(mut field) = form.try_next().await.map_err(|e| AppError::BadRequest { message: format!("malformed multipart body: {e}") })? {
        match field.name().unwrap_or_default() {
            "manifest" => {
                let bytes = read_part(&mut field, MAX_MANIFEST).await?;
                let m: Manifest = serde_json::from_slice(&bytes).map_err(|e| AppError::Validation { field: "manifest".into(), message: e.to_string() })?;
                manifest = Some(m);
            }
            "weights" => weights = Some(read_part(&mut field, max_weights).await?),
            "csrf" => {
                read_part(&mut field, 256).await?;
            }
            other => {
                return Err(AppError::Validation {
                    field: "multipart".into(),
                    message: format!("unexpected part {}", other.chars().take(40).collect::<String>()),
                }
                .into());
            }
        }
    }
    let manifest = manifest.ok_or_else(|| AppError::Validation { field: "manifest".into(), message: "missing".into() })?;
    let weights = weights.filter(|w| !w.is_empty()).ok_or_else(|| AppError::Validation { field: "weights".into(), message: "missing".into() })?;
    let v = uc::publish(&state, &user.actor_in(&ctx), *id, weights, manifest, Source::Uploaded).await?;
    Ok(HttpResponse::Created().json(v))
}
