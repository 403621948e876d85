//! Signed audit checkpoints copied to the object store, one object each (`audit-checkpoints/<seq>.json`),
//! written only if absent. With S3 Object Lock's default retention on the bucket (COMPLIANCE mode),
//! nobody (not this application, not a database administrator, not the bucket's owner) can replace
//! or delete them before the retention ends: a database checkpoint deleted later is still in the
//! bucket, and verification names it. With the local store this adds nothing: the checkpoint file and
//! the witness under the data directory are the outside copies.

use std::collections::BTreeSet;

use licentia_audit::{Checkpoint, CheckpointOutcome, VerifyReport};
use licentia_db::Db;
use licentia_store::BlobStore;

use crate::error::{AppError, AppResult};
use crate::state::AppState;

pub const PREFIX: &str = "audit-checkpoints";

fn object_name(seq: i64) -> String {
    format!("{PREFIX}/{seq:020}.json")
}

fn store_err(e: licentia_store::StoreError) -> AppError {
    AppError::internal(format!("object store: {e}"))
}

/// Copies every signed checkpoint of the database that the bucket lacks (so one missed by an
/// outage is copied by the next run). Returns how many objects were written.
pub async fn publish(store: &BlobStore, db: &Db) -> AppResult<usize> {
    let BlobStore::S3(s3) = store else { return Ok(0) };
    let present: BTreeSet<String> = s3.names_under(PREFIX).await.map_err(store_err)?.into_iter().collect();
    let mut conn = db.pool.acquire().await.map_err(licentia_db::DbError::from)?;
    let rows = licentia_db::audit::checkpoints(&mut conn).await?;
    drop(conn);
    let mut written = 0;
    for c in rows.iter().map(Checkpoint::from_row) {
        let name = object_name(c.seq);
        if present.contains(&name) {
            continue;
        }
        let body = serde_json::to_vec(&c).map_err(AppError::internal)?;
        if s3.put_new(&name, body).await.map_err(store_err)? {
            written += 1;
        }
    }
    Ok(written)
}

/// The checkpoints in the bucket, each parsed or the reason it could not be (`None` without S3),
/// with a label naming where they were read.
pub async fn read(store: &BlobStore) -> AppResult<Option<(String, Vec<Result<Checkpoint, String>>)>> {
    let BlobStore::S3(s3) = store else { return Ok(None) };
    let objects = s3.read_prefix(PREFIX).await.map_err(store_err)?;
    let entries = objects
        .into_iter()
        .map(|(name, bytes)| match serde_json::from_slice::<Checkpoint>(&bytes) {
            // An object renamed onto another sequence number is as bad as a forged one.
            Ok(c) if object_name(c.seq) == name => Ok(c),
            Ok(c) => Err(format!("{name} holds the checkpoint of seq {}", c.seq)),
            Err(e) => Err(format!("{name} is not a checkpoint: {e}")),
        })
        .collect();
    Ok(Some((format!("the object store's {PREFIX}/"), entries)))
}

/// One checkpoint attempt (the timer, the 1,000-entry trigger, shutdown), then the copy to the
/// object store. A failed copy is logged and retried by the next attempt; it never undoes the
/// signature, which the database and the checkpoint file already hold.
pub async fn checkpoint(state: &AppState) -> AppResult<CheckpointOutcome> {
    let outcome = state.audit_log.checkpoint(&state.db).await?;
    if !matches!(outcome, CheckpointOutcome::Refused(_))
        && let Err(e) = publish(&state.store, &state.db).await
    {
        tracing::error!(error = %e, "could not copy audit checkpoints to the object store");
    }
    Ok(outcome)
}

/// Verification against everything outside the database this node can read: keys, checkpoint
/// file, witnesses and the object store's checkpoints.
pub async fn verify(state: &AppState) -> AppResult<VerifyReport> {
    let remote = read(&state.store).await?;
    Ok(state.audit_log.verify_with(&state.db, remote.as_ref().map(|(label, entries)| (label.as_str(), entries.as_slice()))).await?)
}
