//! The tamper-evident audit log.
//!
//! Every entry is a row whose `canonical` column holds the exact bytes hashed:
//! `hash = SHA-256(prev_hash ‖ canonical)`, the first `prev_hash` being 32 zero bytes, and a MAC
//! over that link under a key kept outside the database ([`entry_mac_message`]), so that database
//! access alone can neither forge nor re-chain entries. Appending happens inside the caller's
//! transaction ([`append`]), so a change and its record commit or roll back together. After the
//! commit every head goes to this node's [`Witness`], an append-only file outside the database;
//! signed [checkpoints](mod@checkpoint) of the head go to the database and to a file outside it. Deleting the
//! newest rows (which leaves a consistent shorter chain) is caught by both; the checkpointer
//! ([`AuditLog::checkpoint`]) refuses to sign a head that does not extend what it signed and
//! witnessed before. [`verify()`] recomputes everything and names the first bad sequence number.

pub mod canonical;
pub mod checkpoint;
pub mod event;
pub mod log;
pub mod verify;
pub mod witness;

pub use checkpoint::{Checkpoint, CheckpointFile, CheckpointOutcome};
pub use event::{Appended, AuditEvent, Outcome, append, seal};
pub use log::{AuditLog, witness_path};
pub use verify::{Problem, ProblemKind, Trust, VerifyReport, verify};
pub use witness::{Witness, WitnessLine};

#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error(transparent)]
    Db(#[from] licentia_db::DbError),
    #[error("checkpoint file {path}: {source}")]
    File { path: std::path::PathBuf, source: std::io::Error },
    #[error("witness {path}: {message}")]
    Witness { path: std::path::PathBuf, message: String },
    #[error("no audit MAC key is loaded")]
    NoMacKey,
    #[error("the audit log is empty right after an append")]
    Vanished,
}

/// A committed (or about to be committed) end of the chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Head {
    pub seq: i64,
    pub hash: [u8; 32],
}

/// SHA-256 of `prev ‖ canonical`.
pub fn chain_hash(prev: &[u8], canonical: &[u8]) -> [u8; 32] {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    ctx.update(prev);
    ctx.update(canonical);
    let mut out = [0u8; 32];
    out.copy_from_slice(ctx.finish().as_ref());
    out
}

/// What an entry's MAC covers: a domain-separated, versioned message binding the sequence number
/// to the hash link (which itself covers the entry and everything before it).
pub fn entry_mac_message(seq: i64, hash: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(64);
    m.extend_from_slice(b"licentia-audit-mac/v1\n");
    m.extend_from_slice(&seq.to_be_bytes());
    m.extend_from_slice(hash);
    m
}

/// The `prev_hash` of entry 1.
pub const GENESIS: [u8; 32] = [0u8; 32];
