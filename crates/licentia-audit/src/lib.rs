//! The tamper-evident audit log.
//!
//! Every entry is a row whose `canonical` column holds the exact bytes hashed:
//! `hash = SHA-256(prev_hash ‖ canonical)`, the first `prev_hash` being 32 zero bytes. Appending
//! happens inside the caller's transaction ([`append`]), so a change and its record commit or roll
//! back together. Signed [`checkpoint()`]s of the head go to the database and to a file outside it,
//! so that deleting the newest rows (which leaves a consistent shorter chain) is still caught.
//! [`verify()`] recomputes everything and names the first bad sequence number.

pub mod canonical;
pub mod checkpoint;
pub mod event;
pub mod verify;

pub use checkpoint::{Checkpoint, CheckpointFile, checkpoint};
pub use event::{AuditEvent, Outcome, append};
pub use verify::{Problem, ProblemKind, VerifyReport, verify};

#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error(transparent)]
    Db(#[from] licentia_db::DbError),
    #[error("checkpoint file {path}: {source}")]
    File { path: std::path::PathBuf, source: std::io::Error },
}

/// SHA-256 of `prev ‖ canonical`.
pub fn chain_hash(prev: &[u8], canonical: &[u8]) -> Vec<u8> {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    ctx.update(prev);
    ctx.update(canonical);
    ctx.finish().as_ref().to_vec()
}

/// The `prev_hash` of entry 1.
pub const GENESIS: [u8; 32] = [0u8; 32];
