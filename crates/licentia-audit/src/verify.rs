//! Recomputing the chain and checking the checkpoints.

use std::collections::BTreeMap;
use std::fmt;

use licentia_crypto::VerifyingKey;
use licentia_db::Db;
use serde::Serialize;

use crate::checkpoint::{Checkpoint, CheckpointFile};
use crate::event::row_value;
use crate::{AuditError, GENESIS, chain_hash};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProblemKind {
    /// A column differs from the hashed bytes, or the hashed bytes from the stored hash.
    Modified,
    /// A sequence number is absent from the middle of the chain.
    Missing,
    /// The entry stored under this sequence number was hashed as another one.
    Reordered,
    /// The entry's `prev_hash` is not the previous entry's hash (a re-chained insertion).
    BrokenLink,
    /// Entries a checkpoint or the head vouches for are gone from the end.
    TruncatedTail,
    /// A checkpoint's signature does not verify or names an unknown key.
    BadSignature,
    /// The chain at a checkpointed sequence number has another hash than the signed one, or two
    /// checkpoints disagree.
    Fork,
}

impl fmt::Display for ProblemKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ProblemKind::Modified => "modified",
            ProblemKind::Missing => "missing",
            ProblemKind::Reordered => "reordered",
            ProblemKind::BrokenLink => "broken link",
            ProblemKind::TruncatedTail => "truncated tail",
            ProblemKind::BadSignature => "bad signature",
            ProblemKind::Fork => "fork",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    pub seq: i64,
    pub kind: ProblemKind,
    pub detail: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "seq {}: {} ({})", self.seq, self.kind, self.detail)
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct VerifyReport {
    pub entries: i64,
    pub last_seq: i64,
    pub head_hash: String,
    pub checkpoints_checked: usize,
    /// The first problem by sequence number; `None` means the log verifies.
    pub problem: Option<Problem>,
}

impl VerifyReport {
    pub fn ok(&self) -> bool {
        self.problem.is_none()
    }
}

const PAGE: i64 = 5_000;

/// Recomputes the whole chain from the database and checks it against the database's head, the
/// checkpoints in the database and those in `file` (the copy outside the database).
pub async fn verify(db: &Db, key: &VerifyingKey, file: Option<&CheckpointFile>) -> Result<VerifyReport, AuditError> {
    let mut conn = db.pool.acquire().await.map_err(licentia_db::DbError::from)?;
    // Collect checkpoints from both places; disagreement between them is itself a finding.
    let mut checkpoints: Vec<Checkpoint> = licentia_db::audit::checkpoints(&mut conn).await?.iter().map(Checkpoint::from_row).collect();
    let mut problems: Vec<Problem> = Vec::new();
    if let Some(file) = file {
        for entry in file.read()? {
            match entry {
                Ok(c) => checkpoints.push(c),
                Err(detail) => problems.push(Problem { seq: 0, kind: ProblemKind::BadSignature, detail }),
            }
        }
    }
    let mut by_seq: BTreeMap<i64, Checkpoint> = BTreeMap::new();
    for c in &checkpoints {
        if !c.signature_ok(key) {
            let detail = if c.key_id != key.key_id() { format!("unknown key {}", c.key_id) } else { "signature does not verify".into() };
            problems.push(Problem { seq: c.seq, kind: ProblemKind::BadSignature, detail });
            continue;
        }
        if let Some(other) = by_seq.get(&c.seq)
            && other.hash != c.hash
        {
            problems.push(Problem { seq: c.seq, kind: ProblemKind::Fork, detail: "two signed checkpoints with different hashes".into() });
        }
        by_seq.insert(c.seq, c.clone());
    }

    let (head_seq, _) = licentia_db::audit::head(&mut conn).await?;
    let mut prev_seq = 0i64;
    let mut prev_hash = GENESIS.to_vec();
    let mut entries = 0i64;
    'scan: loop {
        let rows = licentia_db::audit::page_after(&mut conn, prev_seq, PAGE).await?;
        if rows.is_empty() {
            break;
        }
        for r in rows {
            entries += 1;
            if let Some(problem) = check_row(&r, prev_seq, &prev_hash, &by_seq) {
                problems.push(problem);
                break 'scan;
            }
            prev_seq = r.seq;
            prev_hash = r.hash;
        }
    }
    // Entries vouched for by the head or a checkpoint but absent from the table.
    let vouched = by_seq.keys().next_back().copied().unwrap_or(0).max(head_seq);
    if problems.is_empty() && vouched > prev_seq {
        problems.push(Problem {
            seq: prev_seq + 1,
            kind: ProblemKind::TruncatedTail,
            detail: format!("entries {}..={vouched} are vouched for but absent", prev_seq + 1),
        });
    }
    problems.sort_by_key(|p| p.seq);
    Ok(VerifyReport {
        entries,
        last_seq: prev_seq,
        head_hash: hex::encode(&prev_hash),
        checkpoints_checked: by_seq.len(),
        problem: problems.into_iter().next(),
    })
}

/// The first thing wrong with one row, given the previous row's sequence number and hash.
fn check_row(r: &licentia_db::audit::AuditRow, prev_seq: i64, prev_hash: &[u8], checkpoints: &BTreeMap<i64, Checkpoint>) -> Option<Problem> {
    let problem = |seq, kind, detail: String| Some(Problem { seq, kind, detail });
    if r.seq != prev_seq + 1 {
        return problem(prev_seq + 1, ProblemKind::Missing, format!("next entry present is {}", r.seq));
    }
    let stored: Option<serde_json::Value> = serde_json::from_slice(&r.canonical).ok();
    let stored_seq = stored.as_ref().and_then(|v| v.get("seq")).and_then(serde_json::Value::as_i64);
    if let Some(s) = stored_seq
        && s != r.seq
    {
        return problem(r.seq, ProblemKind::Reordered, format!("entry was hashed as seq {s}"));
    }
    let columns = row_value(r);
    if stored.as_ref() != Some(&columns) {
        let field = match (stored.as_ref().and_then(|v| v.as_object()), columns.as_object()) {
            (Some(s), Some(c)) => c.keys().find(|k| s.get(*k) != c.get(*k)).cloned().unwrap_or_else(|| "canonical".into()),
            _ => "canonical".into(),
        };
        return problem(r.seq, ProblemKind::Modified, format!("field {field} differs from the hashed entry"));
    }
    if r.prev_hash != prev_hash {
        return problem(r.seq, ProblemKind::BrokenLink, "prev_hash is not the previous entry's hash".into());
    }
    if chain_hash(&r.prev_hash, &r.canonical) != r.hash {
        return problem(r.seq, ProblemKind::Modified, "stored hash does not match the entry".into());
    }
    if let Some(c) = checkpoints.get(&r.seq)
        && c.hash != hex::encode(&r.hash)
    {
        return problem(r.seq, ProblemKind::Fork, "chain differs from the signed checkpoint".into());
    }
    None
}
