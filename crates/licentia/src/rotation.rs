//! Master key rotation: a new version wraps new data keys at once; `rewrap` moves every existing
//! data key onto the current version (content untouched) in small batches, each row changed by a
//! compare-and-set on its old version, so a killed run resumes where it stopped and no key is ever
//! wrapped twice; a version is retired (its key file deleted) only when no data key uses it.

use licentia_audit::{AuditEvent, AuditLog, Outcome};
use licentia_crypto::KeyRing;
use licentia_db::Db;
use serde_json::json;

#[derive(Debug, thiserror::Error)]
pub enum RotationError {
    #[error(transparent)]
    Db(#[from] licentia_db::DbError),
    #[error(transparent)]
    Audit(#[from] licentia_audit::AuditError),
    #[error(transparent)]
    Key(#[from] licentia_crypto::KeyError),
    #[error("artifact, webhook or user {0}: its key does not unwrap with version {1}")]
    Unwrap(uuid::Uuid, i32),
    #[error("version {version} still wraps {count} data key(s); run `licentia keys rewrap` first")]
    InUse { version: u32, count: i64 },
}

#[derive(Debug, Default, PartialEq, Eq)]
pub struct RewrapReport {
    pub rewrapped: u64,
    /// Rows another process re-wrapped between our read and our write.
    pub skipped: u64,
}

/// Re-wraps data keys older than the current version, at most `max_rows` of them (`None`: all).
/// Each batch commits with its audit entry.
pub async fn rewrap(db: &Db, audit: &AuditLog, ring: &KeyRing, max_rows: Option<u64>) -> Result<RewrapReport, RotationError> {
    let current = i32::try_from(ring.current_version()).unwrap_or(i32::MAX);
    let mut report = RewrapReport::default();
    loop {
        let budget = max_rows.map(|m| m.saturating_sub(report.rewrapped + report.skipped));
        if budget == Some(0) {
            break;
        }
        let batch_size = budget.map_or(100, |b| b.min(100)) as i64;
        let mut tx = db.begin().await?;
        let rows = licentia_db::artifacts::needing_rewrap(&mut tx, current, batch_size).await?;
        if rows.is_empty() {
            break;
        }
        let mut done = 0u64;
        for (id, version, wrapped) in &rows {
            let dek = ring
                .unwrap(u32::try_from(*version).unwrap_or(0), id.as_uuid().as_bytes(), wrapped)
                .map_err(|_| RotationError::Unwrap((*id).into(), *version))?;
            let (to, rewrapped) = ring.wrap(id.as_uuid().as_bytes(), &dek).map_err(|_| RotationError::Unwrap((*id).into(), *version))?;
            if licentia_db::artifacts::rewrap(&mut tx, *id, *version, i32::try_from(to).unwrap_or(i32::MAX), &rewrapped).await? {
                done += 1;
            } else {
                report.skipped += 1;
            }
        }
        let event = AuditEvent::new("keys.rewrapped", Outcome::Success)
            .actor(None, Some("licentia-cli".into()), None)
            .details(json!({ "to_version": current, "count": done }));
        let head = audit.append(&mut tx, event).await?;
        tx.commit().await.map_err(licentia_db::DbError::from)?;
        audit.committed(db, head).await?;
        report.rewrapped += done;
    }
    report.rewrapped += reseal_webhook_secrets(db, audit, ring).await?;
    report.rewrapped += reseal_totp_secrets(db, audit, ring).await?;
    Ok(report)
}

/// Webhook signing secrets are sealed by the same key ring: moved onto the current version too.
async fn reseal_webhook_secrets(db: &Db, audit: &AuditLog, ring: &KeyRing) -> Result<u64, RotationError> {
    let current = i32::try_from(ring.current_version()).unwrap_or(i32::MAX);
    let mut total = 0;
    loop {
        let mut tx = db.begin().await?;
        let rows = licentia_db::webhooks::needing_reseal(&mut tx, current, 100).await?;
        if rows.is_empty() {
            return Ok(total);
        }
        for (id, version, sealed) in &rows {
            let secret = licentia_crypto::webhook::WebhookSecret::unseal(ring, u32::try_from(*version).unwrap_or(0), id.as_bytes(), sealed)
                .map_err(|_| RotationError::Unwrap(*id, *version))?;
            let (to, resealed) = secret.seal(ring, id.as_bytes()).map_err(|_| RotationError::Unwrap(*id, *version))?;
            licentia_db::webhooks::reseal(&mut tx, *id, i32::try_from(to).unwrap_or(i32::MAX), &resealed).await?;
        }
        let event = AuditEvent::new("keys.rewrapped", Outcome::Success)
            .actor(None, Some("licentia-cli".into()), None)
            .details(json!({ "to_version": current, "webhook_secrets": rows.len() }));
        let head = audit.append(&mut tx, event).await?;
        tx.commit().await.map_err(licentia_db::DbError::from)?;
        audit.committed(db, head).await?;
        total += rows.len() as u64;
    }
}

/// Authenticator-app (TOTP) secrets are sealed by the key ring too, bound to their user.
async fn reseal_totp_secrets(db: &Db, audit: &AuditLog, ring: &KeyRing) -> Result<u64, RotationError> {
    let current = i32::try_from(ring.current_version()).unwrap_or(i32::MAX);
    let mut total = 0;
    loop {
        let mut tx = db.begin().await?;
        let rows = licentia_db::factors::totp_needing_reseal(&mut tx, current, 100).await?;
        if rows.is_empty() {
            return Ok(total);
        }
        for (user, version, sealed) in &rows {
            let id = user.as_uuid();
            let secret = licentia_crypto::totp::TotpSecret::unseal(ring, u32::try_from(*version).unwrap_or(0), id.as_bytes(), sealed)
                .map_err(|_| RotationError::Unwrap(id, *version))?;
            let (to, resealed) = secret.seal(ring, id.as_bytes()).map_err(|_| RotationError::Unwrap(id, *version))?;
            licentia_db::factors::reseal_totp(&mut tx, *user, i32::try_from(to).unwrap_or(i32::MAX), &resealed).await?;
        }
        let event = AuditEvent::new("keys.rewrapped", Outcome::Success)
            .actor(None, Some("licentia-cli".into()), None)
            .details(json!({ "to_version": current, "totp_secrets": rows.len() }));
        let head = audit.append(&mut tx, event).await?;
        tx.commit().await.map_err(licentia_db::DbError::from)?;
        audit.committed(db, head).await?;
        total += rows.len() as u64;
    }
}

/// Data keys per master key version, with versions that have a key file but no data keys.
pub async fn status(db: &Db, ring: &KeyRing) -> Result<Vec<(u32, i64, bool)>, RotationError> {
    let mut conn = db.pool.acquire().await.map_err(licentia_db::DbError::from)?;
    let mut counts = licentia_db::artifacts::count_by_key_version(&mut conn).await?;
    // Webhook and TOTP secrets count as keys the version still wraps.
    let mut sealed = licentia_db::webhooks::count_by_key_version(&mut conn).await?;
    sealed.extend(licentia_db::factors::totp_count_by_key_version(&mut conn).await?);
    for (v, n) in sealed {
        match counts.iter_mut().find(|(c, _)| *c == v) {
            Some((_, total)) => *total += n,
            None => counts.push((v, n)),
        }
    }
    let mut versions: Vec<u32> = ring.versions();
    for (v, _) in &counts {
        let v = u32::try_from(*v).unwrap_or(0);
        if !versions.contains(&v) {
            versions.push(v);
        }
    }
    versions.sort_unstable();
    Ok(versions
        .into_iter()
        .map(|v| {
            let n = counts.iter().find(|(c, _)| u32::try_from(*c).ok() == Some(v)).map_or(0, |(_, n)| *n);
            (v, n, ring.versions().contains(&v))
        })
        .collect())
}

/// Creates a new master key version (audited).
pub async fn add_version(db: &Db, audit: &AuditLog, ring: &mut KeyRing) -> Result<u32, RotationError> {
    let v = ring.add_version()?;
    audit
        .append_alone(db, AuditEvent::new("keys.rotated", Outcome::Success).actor(None, Some("licentia-cli".into()), None).details(json!({ "new_version": v })))
        .await?;
    Ok(v)
}

/// Deletes a version's key file when no data key uses it any more.
pub async fn retire(db: &Db, audit: &AuditLog, ring: &mut KeyRing, version: u32) -> Result<(), RotationError> {
    let in_use = status(db, ring).await?.into_iter().find(|(v, _, _)| *v == version).map_or(0, |(_, n, _)| n);
    if in_use > 0 {
        return Err(RotationError::InUse { version, count: in_use });
    }
    ring.retire(version)?;
    audit
        .append_alone(
            db,
            AuditEvent::new("keys.retired", Outcome::Success).actor(None, Some("licentia-cli".into()), None).details(json!({ "version": version })),
        )
        .await?;
    Ok(())
}
