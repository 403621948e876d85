//! [`AuditLog`]: one node's handle on the audit log, holding everything that lives outside the
//! database (MAC keys, checkpoint key, checkpoint file, witness), and the checkpointer that refuses
//! to sign a head that does not extend what this node signed and witnessed before.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::Utc;
use licentia_crypto::{KeyRing, SigningKey};
use licentia_db::{Db, PgConnection};
use serde_json::json;

use crate::checkpoint::{self, Checkpoint, CheckpointFile, CheckpointOutcome};
use crate::verify::{Problem, ProblemKind, Trust, VerifyReport, check_mac, check_row};
use crate::witness::{Witness, WitnessLine};
use crate::{Appended, AuditError, AuditEvent, GENESIS, Head, Outcome};

/// What the checkpointer has read of this node's witness file.
#[derive(Default)]
struct Seen {
    /// How far the file has been read.
    offset: u64,
    /// Heads witnessed after the baseline, not yet covered by a checkpoint: seq → hashes.
    heads: BTreeMap<i64, Vec<String>>,
    /// An unacknowledged suspicion; while set, nothing is signed.
    suspicion: Option<Problem>,
    /// The head an admin acknowledged, the baseline until the next checkpoint.
    acknowledged: Option<(i64, String)>,
    /// The newest signed checkpoint known: witnessed heads at or below it are not kept.
    signed_through: Option<i64>,
}

struct Inner {
    /// In-process group commit of pending entries: each writer whose entry went pending takes a
    /// ticket after its commit; one seal covers every ticket taken before it started, so the
    /// writers queued behind it return without touching the database.
    tickets: AtomicU64,
    sealed_through: AtomicU64,
    seal_turn: tokio::sync::Mutex<()>,
    macs: KeyRing,
    key: SigningKey,
    checkpoints: CheckpointFile,
    witness: Witness,
    seen: tokio::sync::Mutex<Seen>,
    refusals: AtomicU64,
}

/// Cheap to clone.
#[derive(Clone)]
pub struct AuditLog(Arc<Inner>);

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AuditLog {{ checkpoints: {}, witness: {} }}", self.0.checkpoints.path.display(), self.0.witness.path().display())
    }
}

impl AuditLog {
    /// `witness` is this node's own file; verification reads every `witness-*.jsonl` beside it.
    pub fn new(macs: KeyRing, key: SigningKey, checkpoints: CheckpointFile, witness: Witness) -> Self {
        Self(Arc::new(Inner {
            tickets: AtomicU64::new(0),
            sealed_through: AtomicU64::new(0),
            seal_turn: tokio::sync::Mutex::new(()),
            macs,
            key,
            checkpoints,
            witness,
            seen: tokio::sync::Mutex::new(Seen::default()),
            refusals: AtomicU64::new(0),
        }))
    }

    pub fn signing_key(&self) -> &SigningKey {
        &self.0.key
    }

    pub fn macs(&self) -> &KeyRing {
        &self.0.macs
    }

    pub fn checkpoint_file(&self) -> &CheckpointFile {
        &self.0.checkpoints
    }

    pub fn witness(&self) -> &Witness {
        &self.0.witness
    }

    /// Checkpoints this node refused to sign since it started.
    pub fn refusals(&self) -> u64 {
        self.0.refusals.load(Ordering::Relaxed)
    }

    /// Every node's witness file: those beside this node's own.
    pub fn witness_files(&self) -> Vec<PathBuf> {
        let own = self.0.witness.path().to_owned();
        let mut files = own.parent().map(Witness::files_in).unwrap_or_default();
        if !files.contains(&own) && own.exists() {
            files.push(own);
        }
        files
    }

    /// Appends inside the caller's transaction; hand the result to [`AuditLog::committed`] once
    /// the transaction has committed.
    pub async fn append(&self, conn: &mut PgConnection, event: AuditEvent) -> Result<Appended, AuditError> {
        crate::append(conn, &self.0.macs, event).await
    }

    /// After the commit: a pending entry is chained (with whatever else is pending: group commit),
    /// and the head goes to the witness (queued, fsynced by its writer thread). Returns the head
    /// now covering the entry (`None` when another writer chained it first).
    pub async fn committed(&self, db: &Db, appended: Appended) -> Result<Option<Head>, AuditError> {
        match appended {
            Appended::Chained(head) => {
                self.0.witness.record(&head);
                Ok(Some(head))
            }
            Appended::Pending => {
                let ticket = self.0.tickets.fetch_add(1, Ordering::SeqCst) + 1;
                let _turn = self.0.seal_turn.lock().await;
                if self.0.sealed_through.load(Ordering::SeqCst) >= ticket {
                    // A seal that started after this entry's commit has finished.
                    return Ok(None);
                }
                let covers = self.0.tickets.load(Ordering::SeqCst);
                let head = self.seal(db).await?;
                self.0.sealed_through.store(covers, Ordering::SeqCst);
                Ok(head)
            }
        }
    }

    /// Chains whatever is pending (left by a crash between a commit and its chaining).
    pub async fn seal(&self, db: &Db) -> Result<Option<Head>, AuditError> {
        let head = crate::seal(db, &self.0.macs).await?;
        if let Some(head) = &head {
            self.0.witness.record(head);
        }
        Ok(head)
    }

    /// One event in a transaction of its own, chained and witnessed; returns the head after it.
    pub async fn append_alone(&self, db: &Db, event: AuditEvent) -> Result<Head, AuditError> {
        let mut tx = db.begin().await?;
        let appended = self.append(&mut tx, event).await?;
        tx.commit().await.map_err(licentia_db::DbError::from)?;
        match self.committed(db, appended).await? {
            Some(head) => Ok(head),
            None => {
                let mut conn = db.pool.acquire().await.map_err(licentia_db::DbError::from)?;
                let (seq, hash) = licentia_db::audit::last_entry(&mut conn).await?.ok_or(AuditError::Vanished)?;
                let mut h = [0u8; 32];
                h.copy_from_slice(&hash);
                Ok(Head { seq, hash: h })
            }
        }
    }

    /// Verifies against this node's trust: its keys, the checkpoint file and every witness.
    pub async fn verify(&self, db: &Db) -> Result<VerifyReport, AuditError> {
        self.verify_with(db, None).await
    }

    /// [`Self::verify`], also against the checkpoints copied to the object store.
    pub async fn verify_with(&self, db: &Db, remote: Option<(&str, &[Result<Checkpoint, String>])>) -> Result<VerifyReport, AuditError> {
        self.seal(db).await?;
        self.0.witness.flush().await?;
        let key = self.0.key.verifying_key();
        let witnesses = self.witness_files();
        crate::verify(db, Trust { key: &key, macs: &self.0.macs, checkpoints: Some(&self.0.checkpoints), witnesses: &witnesses, remote }).await
    }

    /// The open suspicion this node recorded, if nobody acknowledged it yet (the auditor's pages
    /// ask on every load: this reads only what the witness gained since, and keeps only heads
    /// newer than the last checkpoint).
    pub async fn suspicion(&self, db: &Db) -> Result<Option<Problem>, AuditError> {
        let mut seen = self.0.seen.lock().await;
        let floor = match seen.signed_through {
            Some(f) => f,
            None => {
                let mut conn = db.pool.acquire().await.map_err(licentia_db::DbError::from)?;
                let key = self.0.key.verifying_key();
                let f = checkpoint::latest(&mut conn, &key, &self.0.checkpoints).await?.map_or(0, |c| c.seq);
                seen.signed_through = Some(f);
                f
            }
        };
        self.read_witness(&mut seen, floor)?;
        Ok(seen.suspicion.clone())
    }

    /// Reads what was appended to this node's witness since the last call. Heads at or below
    /// `floor` are covered by the baseline and not kept.
    fn read_witness(&self, seen: &mut Seen, floor: i64) -> Result<(), AuditError> {
        let (lines, offset) = Witness::read_from(self.0.witness.path(), seen.offset)?;
        seen.offset = offset;
        for line in lines.into_iter().flatten() {
            match line {
                WitnessLine::Head { seq, hash } if seq > floor => seen.heads.entry(seq).or_default().push(hash),
                WitnessLine::Head { .. } => {}
                WitnessLine::TamperSuspected { seq, problem, detail, .. } => {
                    seen.suspicion = Some(Problem { seq, kind: problem.unwrap_or(ProblemKind::TruncatedTail), detail });
                }
                WitnessLine::Acknowledged { seq, hash, .. } => {
                    seen.suspicion = None;
                    seen.heads.clear();
                    seen.acknowledged = Some((seq, hash));
                }
            }
        }
        Ok(())
    }

    /// Signs the committed head if it moved and extends both the previous checkpoint (or the
    /// acknowledged head) and every head this node witnessed since. Otherwise records
    /// `audit.tamper_suspected` (in the witness and the log), logs an error and refuses, now and
    /// on every later attempt until an admin runs `licentia audit acknowledge`.
    pub async fn checkpoint(&self, db: &Db) -> Result<CheckpointOutcome, AuditError> {
        let mut seen = self.0.seen.lock().await;
        self.seal(db).await?;
        self.0.witness.flush().await?;
        self.recover_unsettled(db).await?;
        let mut conn = db.pool.acquire().await.map_err(licentia_db::DbError::from)?;
        let key = self.0.key.verifying_key();
        let last_signed = checkpoint::latest(&mut conn, &key, &self.0.checkpoints).await?;
        let signed_seq = last_signed.as_ref().map_or(0, |c| c.seq);
        seen.signed_through = Some(signed_seq);
        seen.heads.retain(|s, _| *s > signed_seq);
        self.read_witness(&mut seen, signed_seq)?;
        if let Some(p) = &seen.suspicion {
            self.0.refusals.fetch_add(1, Ordering::Relaxed);
            tracing::error!(seq = p.seq, detail = %p.detail, "audit checkpoint refused: tampering suspected and not acknowledged");
            return Ok(CheckpointOutcome::Refused(p.clone()));
        }
        let base = match (&seen.acknowledged, &last_signed) {
            (Some(ack), _) => ack.clone(),
            (None, Some(c)) => (c.seq, c.hash.clone()),
            (None, None) => (0, hex::encode(GENESIS)),
        };
        let (end, problem) = extends(&mut conn, &self.0.macs, &base, &seen.heads).await?;
        drop(conn);
        if let Some(problem) = problem {
            self.0.refusals.fetch_add(1, Ordering::Relaxed);
            tracing::error!(seq = problem.seq, detail = %problem.detail, "audit checkpoint refused: the database does not extend what this node signed and witnessed");
            let line = WitnessLine::TamperSuspected { seq: problem.seq, problem: Some(problem.kind), detail: problem.detail.clone(), at: Utc::now() };
            self.0.witness.append(&line).await?;
            seen.suspicion = Some(problem.clone());
            let event = AuditEvent::new("audit.tamper_suspected", Outcome::Failure)
                .actor(None, Some("licentia-checkpointer".into()), None)
                .target("audit_log", problem.seq)
                .details(json!({ "seq": problem.seq, "kind": problem.kind, "detail": problem.detail, "witness": self.0.witness.path().display().to_string() }));
            self.append_alone(db, event).await?;
            return Ok(CheckpointOutcome::Refused(problem));
        }
        let Some((seq, hash)) = end.filter(|(seq, _)| *seq > signed_seq) else { return Ok(CheckpointOutcome::Unchanged) };
        let cp = checkpoint::sign(db, &self.0.key, &self.0.checkpoints, seq, hash).await?;
        seen.heads.retain(|s, _| *s > seq);
        seen.acknowledged = None;
        seen.signed_through = Some(seq);
        Ok(CheckpointOutcome::Signed(cp))
    }

    /// Puts back into the database the checkpoints this node signed into its file but could not
    /// insert (see [`checkpoint::unsettled`]), each with an `audit.checkpoint_recovered` entry in
    /// the same transaction. Without it the next signature would build on the file's copy and
    /// leave the row missing for good, which verify rightly reports as a checkpoint mismatch.
    async fn recover_unsettled(&self, db: &Db) -> Result<(), AuditError> {
        let mut conn = db.pool.acquire().await.map_err(licentia_db::DbError::from)?;
        let rows = checkpoint::unsettled(&mut conn, &self.0.key.verifying_key(), &self.0.checkpoints).await?;
        drop(conn);
        for row in rows {
            let mut tx = db.begin().await?;
            if !licentia_db::audit::insert_checkpoint(&mut tx, &row).await? {
                continue; // another node put it there meanwhile
            }
            let event = AuditEvent::new("audit.checkpoint_recovered", Outcome::Success)
                .actor(None, Some("licentia-checkpointer".into()), None)
                .target("audit_checkpoint", row.seq)
                .details(json!({ "seq": row.seq, "signed_at": row.signed_at, "file": self.0.checkpoints.path.display().to_string() }));
            let appended = self.append(&mut tx, event).await?;
            tx.commit().await.map_err(licentia_db::DbError::from)?;
            self.committed(db, appended).await?;
            tracing::warn!(seq = row.seq, "audit checkpoint recovered from the checkpoint file into the database");
        }
        Ok(())
    }

    /// An admin's acknowledgement of a suspicion (`licentia audit acknowledge`): audited, then
    /// written to the witness with the current head, from which the checkpointer resumes.
    pub async fn acknowledge(&self, db: &Db, by: &str, reason: &str) -> Result<Head, AuditError> {
        let open = self.suspicion(db).await?;
        let event =
            AuditEvent::new("audit.tamper_acknowledged", Outcome::Success).actor(None, Some(by.to_owned()), None).target("audit_log", "head").details(json!({
                "reason": reason,
                "suspicion": open.as_ref().map(|p| json!({ "seq": p.seq, "detail": p.detail })),
            }));
        let head = self.append_alone(db, event).await?;
        self.0
            .witness
            .append(&WitnessLine::Acknowledged { seq: head.seq, hash: hex::encode(head.hash), by: by.to_owned(), reason: reason.to_owned(), at: Utc::now() })
            .await?;
        Ok(head)
    }
}

/// Whether the chain in the database extends `base` (seq, hex hash) and holds every witnessed
/// head: walks from `base` to the end checking links and MACs. Returns the end (seq, hash) and
/// the first problem.
async fn extends(
    conn: &mut PgConnection,
    macs: &KeyRing,
    base: &(i64, String),
    heads: &BTreeMap<i64, Vec<String>>,
) -> Result<(Option<(i64, Vec<u8>)>, Option<Problem>), AuditError> {
    let (base_seq, base_hash) = base;
    let problem = |seq, kind, detail: String| Problem { seq, kind, detail };
    let end = licentia_db::audit::last_entry(conn).await?;
    let end_seq = end.as_ref().map_or(0, |(s, _)| *s);
    if end_seq < *base_seq {
        let p = problem(end_seq + 1, ProblemKind::TruncatedTail, format!("the database ends at {end_seq}, before the signed head {base_seq}"));
        return Ok((end, Some(p)));
    }
    let mut prev_hash = hex::decode(base_hash).unwrap_or_default();
    // Entries after a keyed one must be keyed too: the base entry says whether the chain is keyed.
    let mut keyed_seen = false;
    if *base_seq > 0 {
        match licentia_db::audit::page_after(conn, base_seq - 1, 1).await?.pop() {
            Some(r) if r.seq == *base_seq && r.hash == prev_hash => keyed_seen = r.mac.is_some(),
            _ => return Ok((end, Some(problem(*base_seq, ProblemKind::Fork, "the entry at the signed head differs from the signed hash".into())))),
        }
    }
    let mut prev_seq = *base_seq;
    let no_checkpoints = BTreeMap::new();
    loop {
        let rows = licentia_db::audit::page_after(conn, prev_seq, 2_000).await?;
        if rows.is_empty() {
            break;
        }
        for r in rows {
            let witnessed_other = heads.get(&r.seq).is_some_and(|hs| hs.iter().any(|h| *h != hex::encode(&r.hash)));
            let found = check_row(&r, prev_seq, &prev_hash, &no_checkpoints)
                .or_else(|| check_mac(&r, macs, keyed_seen))
                .or_else(|| witnessed_other.then(|| problem(r.seq, ProblemKind::Fork, "this node witnessed another entry under this sequence number".into())));
            if let Some(p) = found {
                return Ok((end, Some(p)));
            }
            keyed_seen |= r.mac.is_some();
            prev_seq = r.seq;
            prev_hash = r.hash;
        }
    }
    if let Some((&seq, _)) = heads.range(prev_seq + 1..).next() {
        let p = problem(prev_seq + 1, ProblemKind::TruncatedTail, format!("this node witnessed head {seq}; the database ends at {prev_seq}"));
        return Ok((end, Some(p)));
    }
    Ok((Some((prev_seq, prev_hash)).filter(|(s, _)| *s > 0), None))
}

/// The default place of a node's witness: beside the checkpoint file.
pub fn witness_path(checkpoint_file: &Path, node: &str) -> PathBuf {
    checkpoint_file.parent().unwrap_or_else(|| Path::new(".")).join(Witness::file_name(node))
}
