//! Encrypted artifacts over HTTP: multipart upload streamed through the envelope encryptor into
//! the blob store, metadata, and download streamed back through the decryptor. Memory stays at a
//! few segments whatever the file size.

use actix_multipart::Multipart;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use futures_util::{StreamExt as _, TryStreamExt as _, stream};
use licentia_app::artifacts::{binding, check_type, sanitise_filename};
use licentia_app::policy::{Owner, Refusal};
use licentia_audit::Outcome;
use licentia_crypto::envelope::{DEFAULT_SEGMENT, DataKey, Decryptor, Encryptor};
use licentia_db::artifacts::{self, Artifact};
use licentia_domain::OrganisationId;
use licentia_domain::{ArtifactId, DatasetId, RunId};
use licentia_store::StorageKey;
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use crate::auth::CurrentUser;
use crate::auth::not_found;
use crate::context::RequestContext;
use crate::error::{AppError, AppResult, Reply};
use crate::state::AppState;

/// Kinds of object an artifact can hang under. Only organisations exist so far; the registry,
/// agreements, datasets and runs add theirs (and their ownership checks) as they arrive.
const ATTACHABLE_NOW: &[&str] = &["organisation", "asset"];

/// Multipart framing allowance on top of the file-size limit when checking `Content-Length`.
const FRAMING_ALLOWANCE: u64 = 64 * 1024;

async fn read_small_field(field: &mut actix_multipart::Field, name: &str) -> AppResult<String> {
    let mut buf = Vec::new();
    while let Some(chunk) = field.try_next().await.map_err(|e| AppError::BadRequest { message: e.to_string() })? {
        buf.extend_from_slice(&chunk);
        if buf.len() > 256 {
            return Err(AppError::Validation { field: name.into(), message: "too long".into() });
        }
    }
    String::from_utf8(buf).map_err(|_| AppError::Validation { field: name.into(), message: "not UTF-8".into() })
}

/// Checks that `user` may attach to (kind, id); returns the owning organisation.
async fn attachment_owner(state: &AppState, ctx: &RequestContext, user: &CurrentUser, kind: &str, id: &str) -> AppResult<OrganisationId> {
    if !ATTACHABLE_NOW.contains(&kind) {
        return Err(AppError::Validation { field: "attached_kind".into(), message: format!("must be one of {}", ATTACHABLE_NOW.join(", ")) });
    }
    if kind == "asset" {
        // A trademark's image, a trade secret's detail, a model's weights: registry content, so
        // only those who manage the registry attach to it.
        if !user.role.allows(licentia_domain::Permission::AssetManage) {
            return Err(AppError::Forbidden);
        }
        let Some(asset_id) = licentia_domain::AssetId::parse(id.trim()) else {
            return Err(AppError::Validation { field: "attached_id".into(), message: "is not an id".into() });
        };
        let asset = crate::api::assets::load_for_page(state, ctx, user, asset_id).await?;
        return Ok(asset.organisation_id);
    }
    let Some(org) = OrganisationId::parse(id.trim()) else {
        return Err(AppError::Validation { field: "attached_id".into(), message: "is not an id".into() });
    };
    let mut conn = state.db.pool.acquire().await.map_err(licentia_db::DbError::from)?;
    match licentia_db::organisations::get_scoped(&mut conn, org, user.scope()).await {
        Ok(o) => Ok(o.id),
        Err(licentia_db::DbError::NotFound) => Err(not_found(state, ctx, user, "organisation", id).await),
        Err(e) => Err(e.into()),
    }
}

/// `POST /api/v1/artifacts`: 201 with the artifact's metadata.
pub async fn upload(state: web::Data<AppState>, ctx: RequestContext, user: CurrentUser, req: HttpRequest, form: Multipart) -> Reply<HttpResponse> {
    let artifact = receive(&state, &ctx, &user, &req, form).await?;
    Ok(HttpResponse::Created().json(artifact))
}

/// `POST /attachments?return_to=/organisations/..`: the browser form of the attachments partial;
/// back to the page it came from with a message either way.
pub async fn upload_form(state: web::Data<AppState>, ctx: RequestContext, user: CurrentUser, req: HttpRequest, form: Multipart) -> Reply<HttpResponse> {
    let back = serde_urlencoded::from_str::<Vec<(String, String)>>(req.query_string())
        .ok()
        .and_then(|q| q.into_iter().find(|(k, _)| k == "return_to").map(|(_, v)| v));
    let back = crate::layout::safe_next(back.as_deref());
    match receive(&state, &ctx, &user, &req, form).await {
        Ok(a) => Ok(crate::layout::see_other_with(&back, true, &format!("Uploaded {}.", a.filename))),
        Err(e @ (AppError::Validation { .. } | AppError::PayloadTooLarge { .. } | AppError::UnsupportedMediaType { .. } | AppError::BadRequest { .. })) => {
            Ok(crate::layout::see_other_with(&back, false, &e.to_string()))
        }
        Err(e) => Err(e.into()),
    }
}

/// Receives one multipart upload: the attachment fields, then the file, streamed and encrypted.
async fn receive(state: &AppState, ctx: &RequestContext, user: &CurrentUser, req: &HttpRequest, mut form: Multipart) -> AppResult<Artifact> {
    let limit = state.settings.max_upload;
    // 413 before reading a byte when the client announces too much.
    if let Some(len) = req.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok())
        && len > limit + FRAMING_ALLOWANCE
    {
        return Err(AppError::PayloadTooLarge { limit: usize::try_from(limit).unwrap_or(usize::MAX) });
    }
    let mut attached_kind = None;
    let mut attached_id = None;
    while let Some(mut field) = form.try_next().await.map_err(|e| AppError::BadRequest { message: format!("malformed multipart body: {e}") })? {
        let name = field.name().unwrap_or_default().to_owned();
        match name.as_str() {
            "attached_kind" => attached_kind = Some(read_small_field(&mut field, "attached_kind").await?),
            "attached_id" => attached_id = Some(read_small_field(&mut field, "attached_id").await?),
            "csrf" => {
                read_small_field(&mut field, "csrf").await?;
            }
            "file" => {
                let (Some(kind), Some(id)) = (attached_kind.clone(), attached_id.clone()) else {
                    return Err(AppError::BadRequest { message: "send attached_kind and attached_id before file".into() });
                };
                let org = attachment_owner(state, ctx, user, kind.trim(), &id).await?;
                let filename = sanitise_filename(field.content_disposition().and_then(|cd| cd.get_filename()).unwrap_or("file"));
                let declared = field.content_type().map(ToString::to_string);
                let attached = Uuid::parse_str(id.trim()).map_err(|_| AppError::Validation { field: "attached_id".into(), message: "is not an id".into() })?;
                let artifact = store_file(state, user, &mut field, org, kind.trim(), attached, filename, declared.as_deref(), limit).await?;
                licentia_app::artifacts::record_upload(state, &user.actor_in(ctx), &artifact).await?;
                // Drain anything after the file so the client sees a clean response. The file
                // field must be dropped first: the multipart stream waits for it otherwise.
                drop(field);
                while let Some(f) = form.next().await {
                    if f.is_err() {
                        break;
                    }
                }
                return Ok(artifact);
            }
            other => {
                return Err(AppError::Validation {
                    field: "multipart".into(),
                    message: format!("unexpected field {}", other.chars().take(40).collect::<String>()),
                });
            }
        }
    }
    Err(AppError::Validation { field: "file".into(), message: "missing".into() })
}

/// Streams one file field through the encryptor into a new blob; returns the row to insert.
#[allow(clippy::too_many_arguments)]
async fn store_file(
    state: &AppState,
    user: &CurrentUser,
    field: &mut actix_multipart::Field,
    org: OrganisationId,
    kind: &str,
    attached: Uuid,
    filename: String,
    declared: Option<&str>,
    limit: u64,
) -> AppResult<Artifact> {
    let id = ArtifactId::new();
    let version = 1;
    let dek = DataKey::generate().map_err(AppError::internal)?;
    let (key_version, wrapped) = state.keyring.wrap(id.as_uuid().as_bytes(), &dek).map_err(AppError::internal)?;
    let mut enc = Encryptor::new(&dek, binding(id, version), DEFAULT_SEGMENT).map_err(AppError::internal)?;
    let mut writer = state.store.create().await.map_err(AppError::internal)?;
    let mut digest = ring::digest::Context::new(&ring::digest::SHA256);
    let mut size: u64 = 0;
    let mut head: Vec<u8> = Vec::with_capacity(8192);
    let mut content_type: Option<&'static str> = None;
    let result: AppResult<()> = async {
        while let Some(chunk) = field.try_next().await.map_err(|e| AppError::BadRequest { message: format!("upload interrupted: {e}") })? {
            size += chunk.len() as u64;
            if size > limit {
                return Err(AppError::PayloadTooLarge { limit: usize::try_from(limit).unwrap_or(usize::MAX) });
            }
            if content_type.is_none() {
                head.extend_from_slice(&chunk[..chunk.len().min(8192 - head.len().min(8192))]);
                if head.len() >= 8192 {
                    content_type = Some(check_type(&head, declared)?);
                }
            }
            digest.update(&chunk);
            let ct = enc.push(&chunk).map_err(AppError::internal)?;
            writer.write(&ct).await.map_err(AppError::internal)?;
        }
        Ok(())
    }
    .await;
    if let Err(e) = result {
        writer.abort().await;
        return Err(e);
    }
    let content_type = match content_type {
        Some(t) => t,
        None => match check_type(&head, declared) {
            Ok(t) => t,
            Err(e) => {
                writer.abort().await;
                return Err(e);
            }
        },
    };
    let tail = enc.finish().map_err(AppError::internal)?;
    writer.write(&tail).await.map_err(AppError::internal)?;
    let key = writer.commit().await.map_err(AppError::internal)?;
    Ok(Artifact {
        id,
        organisation_id: org,
        attached_kind: kind.to_owned(),
        attached_id: attached,
        version,
        filename,
        content_type: content_type.to_owned(),
        size_bytes: i64::try_from(size).unwrap_or(i64::MAX),
        sha256: digest.finish().as_ref().to_vec(),
        storage_key: key.as_str().to_owned(),
        key_version: i32::try_from(key_version).unwrap_or(i32::MAX),
        wrapped_key: wrapped,
        segment_size: DEFAULT_SEGMENT as i32,
        created_by: Some(user.id),
        created_at: chrono::Utc::now(),
        shredded_at: None,
    })
}

async fn load(state: &AppState, ctx: &RequestContext, user: &CurrentUser, id: ArtifactId) -> AppResult<Artifact> {
    let mut conn = state.db.pool.acquire().await.map_err(licentia_db::DbError::from)?;
    match artifacts::get_scoped(&mut conn, id, user.scope()).await {
        Ok(a) => Ok(a),
        Err(licentia_db::DbError::NotFound) => Err(not_found(state, ctx, user, "artifact", &id.to_string()).await),
        Err(e) => Err(e.into()),
    }
}

pub async fn metadata(state: web::Data<AppState>, ctx: RequestContext, user: CurrentUser, id: web::Path<ArtifactId>) -> Reply<HttpResponse> {
    let a = load(&state, &ctx, &user, *id).await?;
    state.audit_alone(user.event(&ctx, "artifact.metadata_read", Outcome::Success).target("artifact", a.id)).await?;
    Ok(HttpResponse::Ok().json(a))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    attached_kind: Option<String>,
    attached_id: Option<String>,
}

pub async fn list(state: web::Data<AppState>, ctx: RequestContext, user: CurrentUser, q: web::Query<ListQuery>) -> Reply<HttpResponse> {
    let attached = match (&q.attached_kind, &q.attached_id) {
        (Some(k), Some(i)) => {
            Some((k.as_str(), Uuid::parse_str(i).map_err(|_| AppError::Validation { field: "attached_id".into(), message: "is not an id".into() })?))
        }
        (None, None) => None,
        _ => return Err(AppError::Validation { field: "attached_kind".into(), message: "give both attached_kind and attached_id, or neither".into() }.into()),
    };
    let mut conn = state.db.pool.acquire().await.map_err(licentia_db::DbError::from)?;
    let items = artifacts::list_scoped(&mut conn, user.scope(), attached, 500).await?;
    state.audit_alone(user.event(&ctx, "artifact.listed", licentia_audit::Outcome::Success)).await?;
    Ok(HttpResponse::Ok().json(json!({ "items": items })))
}

/// `Content-Disposition` that no filename can break: ASCII fallback plus RFC 5987 UTF-8 form.
pub fn content_disposition(filename: &str) -> String {
    let ascii: String = filename.chars().map(|c| if c.is_ascii_graphic() || c == ' ' { c } else { '_' }).filter(|c| *c != '"' && *c != '\\').collect();
    let encoded: String =
        filename.bytes().map(|b| if b.is_ascii_alphanumeric() || b"-._~".contains(&b) { (b as char).to_string() } else { format!("%{b:02X}") }).collect();
    format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
}

fn integrity_event(user: &CurrentUser, ctx: &RequestContext, a: &Artifact, reason: &str) -> licentia_audit::AuditEvent {
    user.event(ctx, "artifact.integrity_failed", Outcome::Failure).target("artifact", a.id).details(json!({ "reason": reason }))
}

/// What the object an artifact hangs on says about reading its content: a run's weights follow
/// the licence, a dataset's raw file its masked columns.
async fn owner_of(state: &AppState, a: &Artifact) -> AppResult<Owner> {
    let mut conn = state.db.pool.acquire().await.map_err(licentia_db::DbError::from)?;
    // An artifact whose owner row is gone is judged as the strictest owner of its kind allows.
    Ok(match a.attached_kind.as_str() {
        "run" => match licentia_db::training::run(&mut conn, RunId::from_uuid(a.attached_id), None).await {
            Ok(run) => Owner::RunWeights { model_download: run.model_download },
            Err(licentia_db::DbError::NotFound) => Owner::RunWeights { model_download: false },
            Err(e) => return Err(e.into()),
        },
        "dataset" => match licentia_db::training::dataset(&mut conn, DatasetId::from_uuid(a.attached_id), None).await {
            Ok(d) => Owner::Dataset { masked_columns: licentia_app::policy::column_actions(&d).values().any(|v| v == "mask") },
            // No column actions were ever recorded for it, so none is masked.
            Err(licentia_db::DbError::NotFound) => Owner::Dataset { masked_columns: false },
            Err(e) => return Err(e.into()),
        },
        _ => Owner::Document,
    })
}

/// Streams the decrypted content. A segment that fails authentication, a truncated blob or a
/// plaintext digest that differs from the stored one aborts the response (the client sees a short
/// body against `Content-Length`) and writes an audit entry; nothing of a bad segment is sent.
pub async fn content(state: web::Data<AppState>, ctx: RequestContext, user: CurrentUser, id: web::Path<ArtifactId>) -> Reply<HttpResponse> {
    let a = load(&state, &ctx, &user, *id).await?;
    let owner = owner_of(&state, &a).await?;
    if let Err(refusal) = licentia_app::policy::artifact_content(&user.actor(), &a.attached_kind, owner) {
        let event = user
            .event(&ctx, "authz.denied", Outcome::Denied)
            .target("artifact", a.id)
            .details(json!({ "reason": refusal.code(), "attached_kind": a.attached_kind }));
        state.audit_alone(event).await?;
        return Err(match refusal {
            Refusal::Role => AppError::Forbidden,
            Refusal::ModelDownloadNotAllowed => AppError::Refused {
                code: "model_download_not_allowed",
                message: "the licence does not allow downloading the model; use predict".into(),
                details: json!({ "run": a.attached_id }),
            },
            Refusal::MaskedColumns => AppError::Refused {
                code: "masked_columns",
                message: "the file holds columns masked by their owner, which never leave the server; read the dataset through /api/v1/datasets".into(),
                details: json!({ "dataset": a.attached_id }),
            },
        }
        .into());
    }
    licentia_app::artifacts::still_readable(&a)?;
    let dek = match state.keyring.unwrap(u32::try_from(a.key_version).unwrap_or(0), a.id.as_uuid().as_bytes(), &a.wrapped_key) {
        Ok(k) => k,
        Err(_) => {
            state.audit_alone(integrity_event(&user, &ctx, &a, "data key does not unwrap")).await?;
            return Err(AppError::Integrity.into());
        }
    };
    let key = StorageKey::parse(&a.storage_key).map_err(AppError::internal)?;
    let file = match state.store.open(&key).await {
        Ok(f) => f,
        Err(e) => {
            state.audit_alone(integrity_event(&user, &ctx, &a, "blob missing")).await?;
            return Err(AppError::internal(e).into());
        }
    };
    let mut dec = Decryptor::new(&dek, binding(a.id, a.version)).map_err(AppError::internal)?;
    let mut file = file;
    // Check the header and the first segments before answering, so the common failures (a bad
    // header, a moved or corrupted blob) are a clean error response rather than a cut connection.
    // A small artifact is verified completely, digest included, before a byte is sent.
    let mut first = vec![0u8; 256 * 1024];
    let mut filled = 0;
    while filled < first.len() {
        match file.read(&mut first[filled..]).await {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) => {
                state.audit_alone(integrity_event(&user, &ctx, &a, "blob unreadable")).await?;
                return Err(AppError::internal(e).into());
            }
        }
    }
    let mut digest = ring::digest::Context::new(&ring::digest::SHA256);
    let first_plain = match dec.push(&first[..filled]) {
        Ok(p) => p,
        Err(_) => {
            state.audit_alone(integrity_event(&user, &ctx, &a, "header or first segment failed to decrypt")).await?;
            return Err(AppError::Integrity.into());
        }
    };
    digest.update(&first_plain);
    if filled < first.len() {
        let whole = match dec.finish() {
            Ok(last) => {
                digest.update(&last);
                let mut all = first_plain;
                all.extend_from_slice(&last);
                (digest.finish().as_ref() == a.sha256.as_slice()).then_some(all)
            }
            Err(_) => None,
        };
        let Some(all) = whole else {
            state.audit_alone(integrity_event(&user, &ctx, &a, "artifact failed to decrypt or its digest differs")).await?;
            return Err(AppError::Integrity.into());
        };
        state.audit_alone(user.event(&ctx, "artifact.downloaded", Outcome::Success).target("artifact", a.id)).await?;
        return Ok(HttpResponse::Ok()
            .content_type(a.content_type.clone())
            .insert_header((header::CONTENT_DISPOSITION, content_disposition(&a.filename)))
            .body(all));
    }
    state.audit_alone(user.event(&ctx, "artifact.downloaded", Outcome::Success).target("artifact", a.id)).await?;

    struct S {
        file: licentia_store::BlobReader,
        dec: Option<Decryptor>,
        digest: Option<ring::digest::Context>,
        failed: bool,
    }
    let expected = a.sha256.clone();
    let (state2, user2, ctx2, a2) = (state.clone(), user.clone(), ctx.clone(), a.clone());
    let fail = move |reason: &'static str| {
        let (state, event) = (state2.clone(), integrity_event(&user2, &ctx2, &a2, reason));
        actix_web::rt::spawn(async move {
            let _ = state.audit_alone(event).await;
        });
        actix_web::error::ErrorInternalServerError("artifact failed its integrity check")
    };
    let init = S { file, dec: Some(dec), digest: Some(digest), failed: false };
    let rest = stream::unfold(init, move |mut s| {
        let fail = fail.clone();
        let expected = expected.clone();
        async move {
            if s.failed {
                return None;
            }
            let mut buf = vec![0u8; 256 * 1024];
            loop {
                let dec = s.dec.as_mut()?;
                let n = match s.file.read(&mut buf).await {
                    Ok(n) => n,
                    Err(_) => {
                        s.failed = true;
                        return Some((Err(fail("blob unreadable")), s));
                    }
                };
                if n == 0 {
                    // End of blob: verify the last segment and the whole-file digest before
                    // releasing the final plaintext.
                    let dec = s.dec.take()?;
                    let mut digest = s.digest.take()?;
                    return match dec.finish() {
                        Ok(last) => {
                            digest.update(&last);
                            if digest.finish().as_ref() == expected.as_slice() {
                                if last.is_empty() { None } else { Some((Ok(web::Bytes::from(last)), s)) }
                            } else {
                                s.failed = true;
                                Some((Err(fail("plaintext digest differs from the stored one")), s))
                            }
                        }
                        Err(_) => {
                            s.failed = true;
                            Some((Err(fail("last segment failed to decrypt")), s))
                        }
                    };
                }
                match dec.push(&buf[..n]) {
                    Ok(plain) if plain.is_empty() => continue,
                    Ok(plain) => {
                        if let Some(d) = s.digest.as_mut() {
                            d.update(&plain);
                        }
                        return Some((Ok(web::Bytes::from(plain)), s));
                    }
                    Err(_) => {
                        s.failed = true;
                        return Some((Err(fail("segment failed to decrypt")), s));
                    }
                }
            }
        }
    });
    Ok(HttpResponse::Ok()
        .content_type(a.content_type.clone())
        .insert_header((header::CONTENT_DISPOSITION, content_disposition(&a.filename)))
        .no_chunking(u64::try_from(a.size_bytes).unwrap_or(0))
        .streaming(stream::once(async move { Ok::<_, actix_web::Error>(web::Bytes::from(first_plain)) }).chain(rest)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_disposition_cannot_be_broken_out_of() {
        let cd = content_disposition("evil\".pdf; filename=x.exe");
        assert!(cd.starts_with("attachment; filename=\"evil.pdf; filename=x.exe\""), "{cd}");
        assert!(content_disposition("résumé.pdf").contains("filename*=UTF-8''r%C3%A9sum%C3%A9.pdf"));
    }
}
