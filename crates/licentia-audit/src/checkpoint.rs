//! Signed checkpoints of the chain's head, in the database and in an append-only file outside it.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use chrono::{DateTime, SubsecRound as _, Utc};
use licentia_crypto::{SigningKey, VerifyingKey};
use licentia_db::Db;
use licentia_db::audit::CheckpointRow;
use serde::{Deserialize, Serialize};

use crate::AuditError;

/// A signed statement "the chain had `seq` entries and its head hash was `hash`".
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Checkpoint {
    pub seq: i64,
    pub hash: String,
    pub signed_at: DateTime<Utc>,
    pub key_id: String,
    pub signature: String,
}

impl Checkpoint {
    /// The signed message: a versioned, line-based body in the spirit of C2SP signed notes.
    pub fn body(seq: i64, hash_hex: &str, signed_at: DateTime<Utc>) -> String {
        format!("licentia-audit-checkpoint/v1\n{seq}\n{hash_hex}\n{}\n", signed_at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true))
    }

    pub fn signature_ok(&self, key: &VerifyingKey) -> bool {
        let Ok(sig) = hex::decode(&self.signature) else { return false };
        self.key_id == key.key_id() && key.verify(Self::body(self.seq, &self.hash, self.signed_at).as_bytes(), &sig)
    }

    pub fn from_row(r: &CheckpointRow) -> Self {
        Self { seq: r.seq, hash: hex::encode(&r.hash), signed_at: r.signed_at, key_id: r.key_id.clone(), signature: hex::encode(&r.signature) }
    }
}

/// The file copy of the checkpoints: one JSON object per line, appended and fsynced.
#[derive(Debug, Clone)]
pub struct CheckpointFile {
    pub path: PathBuf,
}

impl CheckpointFile {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    pub fn append(&self, c: &Checkpoint) -> Result<(), AuditError> {
        let io = |source| AuditError::File { path: self.path.clone(), source };
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let mut f = std::fs::OpenOptions::new().create(true).append(true).open(&self.path).map_err(io)?;
        let line = serde_json::to_string(c).map_err(|e| io(std::io::Error::other(e)))?;
        writeln!(f, "{line}").map_err(io)?;
        f.sync_all().map_err(io)
    }

    /// Every checkpoint in the file; a line that does not parse is returned as an error string so
    /// that verification can report it instead of skipping it.
    pub fn read(&self) -> Result<Vec<Result<Checkpoint, String>>, AuditError> {
        match std::fs::read_to_string(&self.path) {
            Ok(text) => Ok(text
                .lines()
                .filter(|l| !l.trim().is_empty())
                .map(|l| serde_json::from_str::<Checkpoint>(l).map_err(|e| format!("unreadable line: {e}")))
                .collect()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(source) => Err(AuditError::File { path: self.path.clone(), source }),
        }
    }

    pub fn exists(&self) -> bool {
        Path::new(&self.path).exists()
    }
}

/// What a checkpoint attempt did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckpointOutcome {
    Signed(Checkpoint),
    /// The head has not moved since the last checkpoint.
    Unchanged,
    /// The database does not extend what was signed or witnessed before; nothing was signed.
    Refused(crate::Problem),
}

/// The newest checkpoint whose signature verifies, from the database and the file together
/// (deleting it from one place does not make the checkpointer forget it).
pub async fn latest(conn: &mut licentia_db::PgConnection, key: &VerifyingKey, file: &CheckpointFile) -> Result<Option<Checkpoint>, AuditError> {
    let mut best: Option<Checkpoint> = licentia_db::audit::latest_checkpoint(conn).await?.map(|r| Checkpoint::from_row(&r)).filter(|c| c.signature_ok(key));
    for c in file.read()?.into_iter().flatten() {
        if c.signature_ok(key) && best.as_ref().is_none_or(|b| c.seq > b.seq) {
            best = Some(c);
        }
    }
    Ok(best)
}

/// This node's file checkpoints past the database's newest that the database lacks: what a
/// signing left behind when the database went away between the file and the table (or the
/// process died there). Each is returned only if its signature verifies and the chain still holds
/// its head, so a rewritten chain is never blessed. A gap below the database's newest checkpoint
/// is not filled: the checkpointer recovers before it signs again, so a failed insert can only
/// be at the tail, and a row missing below it was deleted, which stays a finding for verify.
pub async fn unsettled(conn: &mut licentia_db::PgConnection, key: &VerifyingKey, file: &CheckpointFile) -> Result<Vec<CheckpointRow>, AuditError> {
    let newest = licentia_db::audit::latest_checkpoint(conn).await?.map_or(0, |r| r.seq);
    let mut found: Vec<CheckpointRow> = Vec::new();
    for c in file.read()?.into_iter().flatten() {
        if c.seq <= newest || !c.signature_ok(key) || found.iter().any(|f| f.seq == c.seq) {
            continue;
        }
        let (Ok(hash), Ok(signature)) = (hex::decode(&c.hash), hex::decode(&c.signature)) else { continue };
        let holds = licentia_db::audit::page_after(conn, c.seq - 1, 1).await?.pop().is_some_and(|r| r.seq == c.seq && r.hash == hash);
        if holds {
            found.push(CheckpointRow { seq: c.seq, hash, key_id: c.key_id, signature, signed_at: c.signed_at });
        }
    }
    Ok(found)
}

/// Signs `head` (file first, then the database). The caller has checked that it extends the
/// previous checkpoint; use [`crate::AuditLog::checkpoint`], which does.
pub async fn sign(db: &Db, key: &SigningKey, file: &CheckpointFile, seq: i64, hash: Vec<u8>) -> Result<Checkpoint, AuditError> {
    let mut conn = db.pool.acquire().await.map_err(licentia_db::DbError::from)?;
    let signed_at = Utc::now().trunc_subsecs(6);
    let hash_hex = hex::encode(&hash);
    let signature = key.sign(Checkpoint::body(seq, &hash_hex, signed_at).as_bytes());
    let row = CheckpointRow { seq, hash, key_id: key.verifying_key().key_id(), signature, signed_at };
    let cp = Checkpoint::from_row(&row);
    // File first: a checkpoint that reached the file but not the table is still evidence; the
    // reverse would leave the external copy behind.
    file.append(&cp)?;
    licentia_db::audit::insert_checkpoint(&mut conn, &row).await?;
    Ok(cp)
}
