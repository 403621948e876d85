//! Recomputing the chain and checking the checkpoints.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::PathBuf;

use licentia_crypto::{KeyRing, VerifyingKey};
use licentia_db::Db;
use serde::{Deserialize, Serialize};

use crate::checkpoint::{Checkpoint, CheckpointFile};
use crate::event::row_value;
use crate::witness::{Witness, WitnessLine};
use crate::{AuditError, GENESIS, chain_hash, entry_mac_message};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
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
    /// Entries a checkpoint or a witness vouches for are gone from the end.
    TruncatedTail,
    /// A checkpoint's signature does not verify or names an unknown key.
    BadSignature,
    /// The chain at a checkpointed or witnessed sequence number has another hash than the signed
    /// or witnessed one, or two checkpoints disagree.
    Fork,
    /// The entry's MAC is missing, names an unknown key, or does not verify: written or re-chained
    /// without the MAC key, that is, by someone with database access only.
    BadMac,
    /// The checkpoints in the database and in the file outside it are not the same set.
    CheckpointMismatch,
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
            ProblemKind::BadMac => "bad MAC",
            ProblemKind::CheckpointMismatch => "checkpoint mismatch",
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
    /// Entries written before the chain was keyed (a prefix; none on a new installation).
    pub unkeyed_entries: i64,
    /// Witness files read, and the heads they hold that were compared with the database.
    pub witnesses_checked: usize,
    pub witnessed_heads: usize,
    /// Signed checkpoints read from the object store (`None` when there is none to read).
    pub remote_checkpoints: Option<usize>,
    /// Suspicions a node's checkpointer recorded and nobody acknowledged yet.
    pub alerts: Vec<String>,
    /// The first problem by sequence number; `None` means the log verifies.
    pub problem: Option<Problem>,
}

/// What verification trusts, all of it outside the database: the checkpoint signing key, the MAC
/// keys, the checkpoint file and every node's witness file.
#[derive(Debug, Clone, Copy)]
pub struct Trust<'a> {
    pub key: &'a VerifyingKey,
    pub macs: &'a KeyRing,
    pub checkpoints: Option<&'a CheckpointFile>,
    pub witnesses: &'a [PathBuf],
    /// Checkpoints copied to the object store (one object each, written once): where they were
    /// read from, and each object's checkpoint or why it could not be read.
    pub remote: Option<(&'a str, &'a [Result<Checkpoint, String>])>,
}

/// Every head the witnesses hold: seq → (hash, witness file name), several where they disagree.
type Witnessed = BTreeMap<i64, Vec<(String, String)>>;

fn read_witnesses(files: &[PathBuf], problems: &mut Vec<Problem>, alerts: &mut Vec<String>) -> Result<Witnessed, AuditError> {
    let mut heads = Witnessed::new();
    for path in files {
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let (lines, _) = Witness::read_from(path, 0)?;
        let mut open_alert: Option<String> = None;
        for line in lines {
            match line {
                Ok(WitnessLine::Head { seq, hash }) => heads.entry(seq).or_default().push((hash, name.clone())),
                Ok(WitnessLine::TamperSuspected { seq, detail, at, .. }) => {
                    open_alert = Some(format!("{name}: tampering suspected at seq {seq} on {at}: {detail}"))
                }
                Ok(WitnessLine::Acknowledged { .. }) => open_alert = None,
                Err(detail) => problems.push(Problem { seq: 0, kind: ProblemKind::Fork, detail: format!("{name}: {detail}") }),
            }
        }
        alerts.extend(open_alert);
    }
    Ok(heads)
}

impl VerifyReport {
    /// No problem found and no open suspicion.
    pub fn ok(&self) -> bool {
        self.problem.is_none() && self.alerts.is_empty()
    }
}

const PAGE: i64 = 5_000;

/// Recomputes the whole chain from the database and checks every entry's MAC, and the chain
/// against the checkpoints in the database and in the file outside it (which
/// must be the same set), and every witness file.
pub async fn verify(db: &Db, trust: Trust<'_>) -> Result<VerifyReport, AuditError> {
    let key = trust.key;
    let mut conn = db.pool.acquire().await.map_err(licentia_db::DbError::from)?;
    // Collect checkpoints from both places; disagreement between them is itself a finding.
    let in_db: Vec<Checkpoint> = licentia_db::audit::checkpoints(&mut conn).await?.iter().map(Checkpoint::from_row).collect();
    let mut checkpoints = in_db.clone();
    let mut problems: Vec<Problem> = Vec::new();
    if let Some(file) = trust.checkpoints {
        let mut in_file = Vec::new();
        for entry in file.read()? {
            match entry {
                Ok(c) => in_file.push(c),
                Err(detail) => problems.push(Problem { seq: 0, kind: ProblemKind::BadSignature, detail }),
            }
        }
        let db_seqs: BTreeSet<i64> = in_db.iter().map(|c| c.seq).collect();
        let file_seqs: BTreeSet<i64> = in_file.iter().map(|c| c.seq).collect();
        if let Some(seq) = file_seqs.difference(&db_seqs).next() {
            problems.push(Problem { seq: *seq, kind: ProblemKind::CheckpointMismatch, detail: "a checkpoint in the file is missing from the database".into() });
        }
        if let Some(seq) = db_seqs.difference(&file_seqs).next() {
            problems.push(Problem {
                seq: *seq,
                kind: ProblemKind::CheckpointMismatch,
                detail: format!("a database checkpoint is missing from {}", file.path.display()),
            });
        }
        checkpoints.extend(in_file);
    }
    // The object store only ever gains checkpoints (they are copied there after signing, and the
    // bucket's retention keeps them): each must still be in the database. One the database has
    // and the bucket does not yet is not a finding; the next checkpoint copies it.
    let mut remote_count = None;
    if let Some((label, entries)) = trust.remote {
        let mut remote = Vec::new();
        for entry in entries {
            match entry {
                Ok(c) => remote.push(c.clone()),
                Err(detail) => problems.push(Problem { seq: 0, kind: ProblemKind::BadSignature, detail: format!("{label}: {detail}") }),
            }
        }
        let db_seqs: BTreeSet<i64> = in_db.iter().map(|c| c.seq).collect();
        if let Some(c) = remote.iter().find(|c| !db_seqs.contains(&c.seq)) {
            problems.push(Problem {
                seq: c.seq,
                kind: ProblemKind::CheckpointMismatch,
                detail: format!("a checkpoint in {label} is missing from the database"),
            });
        }
        remote_count = Some(remote.len());
        checkpoints.extend(remote);
    }
    let mut alerts = Vec::new();
    let witnessed = read_witnesses(trust.witnesses, &mut problems, &mut alerts)?;
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

    let mut prev_seq = 0i64;
    let mut prev_hash = GENESIS.to_vec();
    let mut entries = 0i64;
    let mut unkeyed = 0i64;
    let mut keyed_seen = false;
    let mut scan_stopped = false;
    'scan: loop {
        let rows = licentia_db::audit::page_after(&mut conn, prev_seq, PAGE).await?;
        if rows.is_empty() {
            break;
        }
        for r in rows {
            entries += 1;
            let found =
                check_row(&r, prev_seq, &prev_hash, &by_seq).or_else(|| check_mac(&r, trust.macs, keyed_seen)).or_else(|| check_witnessed(&r, &witnessed));
            if let Some(problem) = found {
                problems.push(problem);
                scan_stopped = true;
                break 'scan;
            }
            if r.mac.is_none() {
                unkeyed += 1;
            } else {
                keyed_seen = true;
            }
            prev_seq = r.seq;
            prev_hash = r.hash;
        }
    }
    // Entries vouched for by the head, a checkpoint or a witness but absent from the table.
    let checkpointed = by_seq.keys().next_back().copied().unwrap_or(0);
    let witnessed_end = witnessed.keys().next_back().copied().unwrap_or(0);
    if !scan_stopped && checkpointed.max(witnessed_end) > prev_seq {
        let detail = if witnessed_end > prev_seq {
            let file = witnessed.get(&witnessed_end).and_then(|w| w.first()).map(|(_, f)| f.as_str()).unwrap_or("a witness");
            format!("{file} holds head {witnessed_end}; the database ends at {prev_seq}")
        } else {
            format!("entries {}..={checkpointed} are vouched for but absent", prev_seq + 1)
        };
        problems.push(Problem { seq: prev_seq + 1, kind: ProblemKind::TruncatedTail, detail });
    }
    problems.sort_by_key(|p| p.seq);
    Ok(VerifyReport {
        entries,
        last_seq: prev_seq,
        head_hash: hex::encode(&prev_hash),
        checkpoints_checked: by_seq.len(),
        unkeyed_entries: unkeyed,
        witnesses_checked: trust.witnesses.len(),
        witnessed_heads: witnessed.len(),
        remote_checkpoints: remote_count,
        alerts,
        problem: problems.into_iter().next(),
    })
}

/// The MAC check: entries without one are accepted only before the first keyed entry (written
/// before the chain was keyed); after it, a missing MAC is as bad as a wrong one.
pub(crate) fn check_mac(r: &licentia_db::audit::AuditRow, macs: &KeyRing, keyed_before: bool) -> Option<Problem> {
    let problem = |detail: String| Some(Problem { seq: r.seq, kind: ProblemKind::BadMac, detail });
    match (&r.mac, r.mac_key) {
        (None, _) if keyed_before => problem("entry has no MAC although earlier entries do".into()),
        (None, _) => None,
        (Some(tag), Some(version)) => {
            let Ok(v) = u32::try_from(version) else { return problem(format!("invalid MAC key version {version}")) };
            if !macs.versions().contains(&v) {
                return problem(format!("MAC key version {v} is unknown here"));
            }
            if macs.hmac_verify(v, &entry_mac_message(r.seq, &r.hash), tag) {
                None
            } else {
                problem("MAC does not verify: written or re-chained without the key".into())
            }
        }
        (Some(_), None) => problem("MAC without a key version".into()),
    }
}

fn check_witnessed(r: &licentia_db::audit::AuditRow, witnessed: &Witnessed) -> Option<Problem> {
    let hash = hex::encode(&r.hash);
    let (_, file) = witnessed.get(&r.seq)?.iter().find(|(h, _)| *h != hash)?;
    Some(Problem { seq: r.seq, kind: ProblemKind::Fork, detail: format!("{file} witnessed another entry under this sequence number") })
}

/// The first thing wrong with one row, given the previous row's sequence number and hash.
pub(crate) fn check_row(r: &licentia_db::audit::AuditRow, prev_seq: i64, prev_hash: &[u8], checkpoints: &BTreeMap<i64, Checkpoint>) -> Option<Problem> {
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
    if chain_hash(&r.prev_hash, &r.canonical).as_slice() != r.hash.as_slice() {
        return problem(r.seq, ProblemKind::Modified, "stored hash does not match the entry".into());
    }
    if let Some(c) = checkpoints.get(&r.seq)
        && c.hash != hex::encode(&r.hash)
    {
        return problem(r.seq, ProblemKind::Fork, "chain differs from the signed checkpoint".into());
    }
    None
}
