//! The audit chain against a real PostgreSQL: every kind of tampering is caught with the right
//! sequence number (by the MACs, the checkpoints or the witness), the checkpointer refuses to sign
//! a tampered head, concurrent appends stay gapless, and a rollback leaves nothing behind.

use licentia_audit::{AuditEvent, AuditLog, Checkpoint, CheckpointFile, CheckpointOutcome, Outcome, ProblemKind, Trust, Witness, WitnessLine, verify};
use licentia_crypto::{KeyMaterial, SigningKey};
use licentia_db::testing::TestDb;
use serde_json::json;

type TestResult = Result<(), Box<dyn std::error::Error>>;

struct Fixture {
    t: TestDb,
    log: AuditLog,
    dir: TempDir,
}

struct TempDir(std::path::PathBuf);
impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn open_log(dir: &std::path::Path) -> Result<AuditLog, Box<dyn std::error::Error>> {
    let keys = KeyMaterial::load(&dir.join("keys"), true)?;
    Ok(AuditLog::new(
        keys.audit_macs,
        SigningKey::from_pkcs8(&keys.audit_pkcs8)?,
        CheckpointFile::new(dir.join("checkpoints/audit-checkpoints.jsonl")),
        Witness::open(dir.join("checkpoints").join(Witness::file_name("a"))),
    ))
}

async fn fixture() -> Result<Fixture, Box<dyn std::error::Error>> {
    let t = TestDb::migrated().await?;
    let dir = std::env::temp_dir().join(format!("licentia-audit-{}", uuid::Uuid::new_v4()));
    let log = open_log(&dir)?;
    Ok(Fixture { t, log, dir: TempDir(dir) })
}

fn event(i: usize) -> AuditEvent {
    AuditEvent::new("test.action", Outcome::Success)
        .actor(Some(uuid::Uuid::new_v4()), Some(format!("user{i}@example.org")), None)
        .target("thing", i)
        .details(json!({ "i": i, "note": "x" }))
}

async fn append_n(f: &Fixture, n: usize) -> TestResult {
    for i in 0..n {
        f.log.append_alone(&f.t.db, event(i)).await?;
    }
    Ok(())
}

async fn signed(f: &Fixture) -> Result<Checkpoint, Box<dyn std::error::Error>> {
    match f.log.checkpoint(&f.t.db).await? {
        CheckpointOutcome::Signed(c) => Ok(c),
        other => Err(format!("expected a signed checkpoint, got {other:?}").into()),
    }
}

/// Runs `sql` as the superuser with the append-only triggers switched off: what an attacker with
/// database access would do.
async fn tamper(f: &Fixture, sql: &[&str]) -> TestResult {
    let mut tx = f.t.db.begin().await?;
    sqlx::query("ALTER TABLE audit_log DISABLE TRIGGER USER").execute(&mut *tx).await?;
    sqlx::query("ALTER TABLE audit_checkpoints DISABLE TRIGGER USER").execute(&mut *tx).await?;
    for s in sql {
        sqlx::query(sqlx::AssertSqlSafe(s.to_string())).execute(&mut *tx).await?;
    }
    sqlx::query("ALTER TABLE audit_log ENABLE TRIGGER USER").execute(&mut *tx).await?;
    sqlx::query("ALTER TABLE audit_checkpoints ENABLE TRIGGER USER").execute(&mut *tx).await?;
    tx.commit().await?;
    Ok(())
}

async fn first_problem(f: &Fixture) -> Result<Option<(i64, ProblemKind, String)>, Box<dyn std::error::Error>> {
    let report = f.log.verify(&f.t.db).await?;
    Ok(report.problem.map(|p| (p.seq, p.kind, p.detail)))
}

/// The checkpointer must refuse, naming `seq`, and sign nothing.
async fn assert_refused(f: &Fixture, seq: i64) -> TestResult {
    let signed_before: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_checkpoints").fetch_one(&f.t.db.pool).await?;
    let file_before = f.log.checkpoint_file().read()?.len();
    match f.log.checkpoint(&f.t.db).await? {
        CheckpointOutcome::Refused(p) => assert_eq!(p.seq, seq, "{p:?}"),
        other => return Err(format!("the checkpointer signed a tampered head: {other:?}").into()),
    }
    let signed_after: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_checkpoints").fetch_one(&f.t.db.pool).await?;
    assert_eq!((signed_after, f.log.checkpoint_file().read()?.len()), (signed_before, file_before), "nothing signed");
    let suspected: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE action = 'audit.tamper_suspected'").fetch_one(&f.t.db.pool).await?;
    assert!(suspected >= 1, "the suspicion is in the log");
    assert!(f.log.suspicion(&f.t.db).await?.is_some_and(|p| p.seq == seq));
    // And it keeps refusing, without a second entry, until someone acknowledges.
    assert!(matches!(f.log.checkpoint(&f.t.db).await?, CheckpointOutcome::Refused(_)));
    assert!(f.log.refusals() >= 2);
    Ok(())
}

#[tokio::test]
async fn an_untouched_log_verifies() -> TestResult {
    let f = fixture().await?;
    append_n(&f, 12).await?;
    signed(&f).await?;
    append_n(&f, 3).await?;
    let report = f.log.verify(&f.t.db).await?;
    assert!(report.ok(), "{:?}", report.problem);
    assert_eq!((report.entries, report.last_seq, report.checkpoints_checked, report.unkeyed_entries), (15, 15, 1, 0));
    assert_eq!((report.witnesses_checked, report.witnessed_heads), (1, 15), "every committed head reached the witness");
    // Nothing new to sign: no second checkpoint for the same head.
    signed(&f).await?;
    assert_eq!(f.log.checkpoint(&f.t.db).await?, CheckpointOutcome::Unchanged);
    Ok(())
}

#[tokio::test]
async fn the_table_refuses_update_delete_and_truncate() -> TestResult {
    let f = fixture().await?;
    append_n(&f, 2).await?;
    for sql in ["UPDATE audit_log SET action = 'x' WHERE seq = 1", "DELETE FROM audit_log WHERE seq = 2", "TRUNCATE audit_log"] {
        let err = sqlx::query(sql).execute(&f.t.db.pool).await.err().ok_or("tampering statement succeeded")?;
        assert!(err.to_string().contains("append-only"), "{sql}: {err}");
    }
    assert_eq!(first_problem(&f).await?, None);
    Ok(())
}

#[tokio::test]
async fn an_edited_field_is_reported_as_modified_at_its_seq() -> TestResult {
    let f = fixture().await?;
    append_n(&f, 10).await?;
    tamper(&f, &["UPDATE audit_log SET actor_label = 'someone-else@example.org' WHERE seq = 6"]).await?;
    let (seq, kind, detail) = first_problem(&f).await?.ok_or("edit not detected")?;
    assert_eq!((seq, kind), (6, ProblemKind::Modified));
    assert!(detail.contains("actor_label"), "{detail}");
    Ok(())
}

#[tokio::test]
async fn an_edited_details_document_is_reported() -> TestResult {
    let f = fixture().await?;
    append_n(&f, 4).await?;
    tamper(&f, &["UPDATE audit_log SET details = '{\"i\": 2, \"note\": \"y\"}' WHERE seq = 3"]).await?;
    assert_eq!(first_problem(&f).await?.map(|p| (p.0, p.1)), Some((3, ProblemKind::Modified)));
    Ok(())
}

#[tokio::test]
async fn a_deleted_middle_row_is_reported_as_missing() -> TestResult {
    let f = fixture().await?;
    append_n(&f, 10).await?;
    tamper(&f, &["DELETE FROM audit_log WHERE seq = 4"]).await?;
    assert_eq!(first_problem(&f).await?.map(|p| (p.0, p.1)), Some((4, ProblemKind::Missing)));
    Ok(())
}

#[tokio::test]
async fn swapped_rows_are_reported_as_reordered() -> TestResult {
    let f = fixture().await?;
    append_n(&f, 10).await?;
    // Swap through a free number (the seq > 0 check refuses negatives).
    tamper(
        &f,
        &["UPDATE audit_log SET seq = 1000005 WHERE seq = 5", "UPDATE audit_log SET seq = 5 WHERE seq = 6", "UPDATE audit_log SET seq = 6 WHERE seq = 1000005"],
    )
    .await?;
    assert_eq!(first_problem(&f).await?.map(|p| (p.0, p.1)), Some((5, ProblemKind::Reordered)));
    Ok(())
}

#[tokio::test]
async fn deleting_the_newest_rows_is_caught_by_the_external_checkpoint() -> TestResult {
    let f = fixture().await?;
    append_n(&f, 10).await?;
    signed(&f).await?;
    // A careful attacker deletes the last three rows and the database checkpoints: the shorter
    // chain is consistent in itself. Only the files outside the database know.
    tamper(&f, &["DELETE FROM audit_log WHERE seq > 7", "DELETE FROM audit_checkpoints"]).await?;
    let key = f.log.signing_key().verifying_key();
    let internal_only = verify(&f.t.db, Trust { key: &key, macs: f.log.macs(), checkpoints: None, witnesses: &[], remote: None }).await?;
    assert!(internal_only.ok(), "without the files the truncation is invisible by construction");
    assert_eq!(first_problem(&f).await?.map(|p| (p.0, p.1)), Some((8, ProblemKind::TruncatedTail)));
    Ok(())
}

#[tokio::test]
async fn a_rechained_tail_without_a_new_signature_is_a_fork() -> TestResult {
    let f = fixture().await?;
    append_n(&f, 6).await?;
    signed(&f).await?;
    // Rewrite entry 6 consistently (new canonical bytes and hash) but without the signing key.
    let row = licentia_db::audit::get(&mut *f.t.db.pool.acquire().await?, 6).await?;
    let mut value: serde_json::Value = serde_json::from_slice(&row.canonical)?;
    value["actor_label"] = json!("forged@example.org");
    let canonical = licentia_audit::canonical::to_bytes(&value);
    let hash = licentia_audit::chain_hash(&row.prev_hash, &canonical);
    let mut tx = f.t.db.begin().await?;
    sqlx::query("ALTER TABLE audit_log DISABLE TRIGGER USER").execute(&mut *tx).await?;
    sqlx::query("UPDATE audit_log SET actor_label = 'forged@example.org', canonical = $1, hash = $2 WHERE seq = 6")
        .bind(&canonical)
        .bind(hash)
        .execute(&mut *tx)
        .await?;
    sqlx::query("ALTER TABLE audit_log ENABLE TRIGGER USER").execute(&mut *tx).await?;
    tx.commit().await?;
    assert_eq!(first_problem(&f).await?.map(|p| (p.0, p.1)), Some((6, ProblemKind::Fork)));
    Ok(())
}

#[tokio::test]
async fn a_checkpoint_signed_by_an_unknown_key_or_truncated_is_refused() -> TestResult {
    let f = fixture().await?;
    append_n(&f, 3).await?;
    let _ = &f.dir;
    let mallory = SigningKey::from_pkcs8(&SigningKey::generate_pkcs8()?)?;
    let (seq, hash) = licentia_db::audit::last_entry(&mut *f.t.db.pool.acquire().await?).await?.ok_or("empty log")?;
    let forged = licentia_audit::checkpoint::sign(&f.t.db, &mallory, f.log.checkpoint_file(), seq, hash).await?;
    let (seq, kind, detail) = first_problem(&f).await?.ok_or("foreign key accepted")?;
    assert_eq!((seq, kind), (forged.seq, ProblemKind::BadSignature));
    assert!(detail.contains("unknown key"), "{detail}");

    let g = fixture().await?;
    append_n(&g, 3).await?;
    let mut cp = signed(&g).await?;
    cp.signature.truncate(cp.signature.len() - 2);
    std::fs::write(&g.log.checkpoint_file().path, serde_json::to_string(&cp)? + "\n")?;
    assert_eq!(first_problem(&g).await?.map(|p| p.1), Some(ProblemKind::BadSignature));
    Ok(())
}

#[tokio::test]
async fn two_hundred_concurrent_appends_leave_a_contiguous_verifying_chain() -> TestResult {
    let f = fixture().await?;
    let mut tasks = Vec::new();
    for i in 0..200 {
        let (db, log) = (f.t.db.clone(), f.log.clone());
        tasks.push(tokio::spawn(async move {
            log.append_alone(&db, AuditEvent::new("test.concurrent", Outcome::Success).target("n", i)).await?;
            Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
        }));
    }
    for t in tasks {
        t.await?.map_err(|e| e.to_string())?;
    }
    let seqs: Vec<i64> = sqlx::query_scalar("SELECT seq FROM audit_log ORDER BY seq").fetch_all(&f.t.db.pool).await?;
    assert_eq!(seqs, (1..=200).collect::<Vec<i64>>());
    assert_eq!(first_problem(&f).await?, None);
    Ok(())
}

#[tokio::test]
async fn a_rolled_back_change_leaves_no_row_and_no_gap() -> TestResult {
    let f = fixture().await?;
    append_n(&f, 2).await?;
    let mut tx = f.t.db.begin().await?;
    let head = f.log.append(&mut tx, AuditEvent::new("test.rolled_back", Outcome::Success)).await?;
    assert!(matches!(head, licentia_audit::Appended::Chained(h) if h.seq == 3), "{head:?}");
    tx.rollback().await?;
    append_n(&f, 1).await?;
    let rows: Vec<(i64, String)> = sqlx::query_as("SELECT seq, action FROM audit_log ORDER BY seq").fetch_all(&f.t.db.pool).await?;
    assert_eq!(rows.len(), 3);
    assert!(rows.iter().all(|(_, a)| a != "test.rolled_back"));
    assert_eq!(rows.last().map(|r| r.0), Some(3));
    assert_eq!(first_problem(&f).await?, None);
    Ok(())
}

/// What a database administrator can compute without the MAC key: a well-formed next entry,
/// linked to the real head, with whatever MAC it likes.
async fn forge_next(f: &Fixture, mac: Option<Vec<u8>>) -> Result<i64, Box<dyn std::error::Error>> {
    use chrono::SubsecRound as _;
    let mut conn = f.t.db.pool.acquire().await?;
    let (seq, prev_hash) = licentia_db::audit::last_entry(&mut conn).await?.ok_or("empty log")?;
    let mut row = licentia_db::audit::AuditRow {
        seq: seq + 1,
        occurred_at: chrono::Utc::now().trunc_subsecs(6),
        actor_id: None,
        actor_label: Some("admin@aurora.example".into()),
        organisation_id: None,
        action: "user.role_changed".into(),
        target_kind: Some("user".into()),
        target_id: Some("mallory".into()),
        outcome: "success".into(),
        ip: None,
        user_agent: None,
        request_id: None,
        details: json!({ "role": "admin" }),
        prev_hash,
        hash: Vec::new(),
        canonical: Vec::new(),
        mac_key: mac.as_ref().map(|_| 1),
        mac,
    };
    row.canonical = licentia_audit::canonical::to_bytes(&licentia_audit::event::row_value(&row));
    row.hash = licentia_audit::chain_hash(&row.prev_hash, &row.canonical).to_vec();
    licentia_db::audit::insert(&mut conn, &row).await?;
    Ok(row.seq)
}

#[tokio::test]
async fn deleting_the_tail_since_the_last_checkpoint_and_rewinding_the_head_is_caught_and_never_signed() -> TestResult {
    let f = fixture().await?;
    append_n(&f, 10).await?;
    signed(&f).await?;
    append_n(&f, 5).await?;
    // The attack that used to pass: the rows since the checkpoint deleted (the head rewound with them).
    tamper(&f, &["DELETE FROM audit_log WHERE seq > 12"]).await?;
    let (seq, kind, detail) = first_problem(&f).await?.ok_or("truncation not detected")?;
    assert_eq!((seq, kind), (13, ProblemKind::TruncatedTail));
    assert!(detail.contains("witness-a.jsonl holds head 15"), "{detail}");
    assert_refused(&f, 13).await?;
    let report = f.log.verify(&f.t.db).await?;
    assert!(report.alerts.iter().any(|a| a.contains("seq 13")), "the open suspicion is reported: {:?}", report.alerts);
    Ok(())
}

#[tokio::test]
async fn rows_forged_with_a_plain_insert_fail_their_mac() -> TestResult {
    for mac in [None, Some(vec![7u8; 32])] {
        let f = fixture().await?;
        append_n(&f, 6).await?;
        signed(&f).await?;
        let forged = forge_next(&f, mac.clone()).await?;
        let (seq, kind, detail) = first_problem(&f).await?.ok_or("forgery not detected")?;
        assert_eq!((seq, kind), (forged, ProblemKind::BadMac), "{detail}");
        assert_refused(&f, forged).await?;
        // The refusal keeps what was found, across a fresh read of the witness too.
        assert_eq!(open_log(&f.dir.0)?.suspicion(&f.t.db).await?.map(|p| p.kind), Some(ProblemKind::BadMac));
    }
    Ok(())
}

#[tokio::test]
async fn a_rewritten_tail_rechained_without_the_key_fails_its_mac() -> TestResult {
    let f = fixture().await?;
    append_n(&f, 5).await?;
    signed(&f).await?;
    append_n(&f, 5).await?;
    // Entry 8 gets another actor; 8, 9 and 10 are re-chained consistently. Only the MAC knows.
    let mut conn = f.t.db.pool.acquire().await?;
    let mut prev = licentia_db::audit::get(&mut conn, 7).await?.hash;
    let mut statements = Vec::new();
    for seq in 8..=10 {
        let mut row = licentia_db::audit::get(&mut conn, seq).await?;
        if seq == 8 {
            row.actor_label = Some("someone-else@example.org".into());
        }
        row.prev_hash = prev.clone();
        row.canonical = licentia_audit::canonical::to_bytes(&licentia_audit::event::row_value(&row));
        row.hash = licentia_audit::chain_hash(&row.prev_hash, &row.canonical).to_vec();
        statements.push(format!(
            "UPDATE audit_log SET actor_label = '{}', prev_hash = '\\x{}', canonical = '\\x{}', hash = '\\x{}' WHERE seq = {seq}",
            row.actor_label.unwrap_or_default(),
            hex::encode(&row.prev_hash),
            hex::encode(&row.canonical),
            hex::encode(&row.hash)
        ));
        prev = row.hash;
    }
    drop(conn);
    tamper(&f, &statements.iter().map(String::as_str).collect::<Vec<_>>()).await?;
    let (seq, kind, detail) = first_problem(&f).await?.ok_or("re-chaining not detected")?;
    assert_eq!((seq, kind), (8, ProblemKind::BadMac), "{detail}");
    assert_refused(&f, 8).await?;
    Ok(())
}

#[tokio::test]
async fn truncating_past_a_checkpoint_is_caught_even_against_an_empty_checkpoint_file() -> TestResult {
    let f = fixture().await?;
    append_n(&f, 10).await?;
    signed(&f).await?;
    append_n(&f, 2).await?;
    tamper(&f, &["DELETE FROM audit_log WHERE seq > 6", "DELETE FROM audit_checkpoints"]).await?;
    // The verifier is handed an empty checkpoint file: the witnesses still hold heads 7..=12.
    let empty = CheckpointFile::new(f.dir.0.join("empty.jsonl"));
    std::fs::write(&empty.path, "")?;
    let key = f.log.signing_key().verifying_key();
    let witnesses = f.log.witness_files();
    let report = verify(&f.t.db, Trust { key: &key, macs: f.log.macs(), checkpoints: Some(&empty), witnesses: &witnesses, remote: None }).await?;
    let p = report.problem.ok_or("truncation past a checkpoint not detected")?;
    assert_eq!((p.seq, p.kind), (7, ProblemKind::TruncatedTail), "{}", p.detail);
    // With the real file, the checkpointer refuses: its signed head 10 is gone.
    assert_refused(&f, 7).await?;
    Ok(())
}

#[tokio::test]
async fn database_and_file_checkpoints_that_disagree_are_reported() -> TestResult {
    let f = fixture().await?;
    append_n(&f, 4).await?;
    let first = signed(&f).await?;
    append_n(&f, 4).await?;
    signed(&f).await?;
    tamper(&f, &["DELETE FROM audit_checkpoints"]).await?;
    let (seq, kind, detail) = first_problem(&f).await?.ok_or("deleted checkpoints not noticed")?;
    assert_eq!((seq, kind), (first.seq, ProblemKind::CheckpointMismatch));
    assert!(detail.contains("missing from the database"), "{detail}");

    // The other way round: checkpoints the file lacks.
    let g = fixture().await?;
    append_n(&g, 3).await?;
    let cp = signed(&g).await?;
    std::fs::write(&g.log.checkpoint_file().path, "")?;
    let (seq, kind, _) = first_problem(&g).await?.ok_or("emptied checkpoint file not noticed")?;
    assert_eq!((seq, kind), (cp.seq, ProblemKind::CheckpointMismatch));
    Ok(())
}

/// The database went away between the checkpoint file and the table (seen in CI when PostgreSQL
/// restarted under load): the next checkpoint puts the file's signed tail back, audited, and the
/// log verifies. A row deleted below the database's newest checkpoint is not put back: that is
/// not what a failed insert leaves, and verify keeps reporting it.
#[tokio::test]
async fn a_checkpoint_the_database_missed_is_recovered_from_the_file_but_a_deleted_older_one_is_not() -> TestResult {
    let f = fixture().await?;
    append_n(&f, 3).await?;
    let older = signed(&f).await?;
    append_n(&f, 3).await?;
    let lost = signed(&f).await?;
    // What the failed insert leaves: the newest checkpoint in the file only.
    tamper(&f, &[&format!("DELETE FROM audit_checkpoints WHERE seq = {}", lost.seq)]).await?;
    let (seq, kind, _) = first_problem(&f).await?.ok_or("the missing row is a finding until recovered")?;
    assert_eq!((seq, kind), (lost.seq, ProblemKind::CheckpointMismatch));
    append_n(&f, 2).await?;
    let next = signed(&f).await?;
    assert!(next.seq > lost.seq);
    let restored: Vec<(i64, Vec<u8>)> = sqlx::query_as("SELECT seq, signature FROM audit_checkpoints ORDER BY seq").fetch_all(&f.t.db.pool).await?;
    assert_eq!(restored.iter().map(|r| r.0).collect::<Vec<_>>(), vec![older.seq, lost.seq, next.seq]);
    assert_eq!(hex::encode(&restored[1].1), lost.signature, "the file's signature, not a new one");
    let recorded: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE action = 'audit.checkpoint_recovered' AND target_id = $1")
        .bind(lost.seq.to_string())
        .fetch_one(&f.t.db.pool)
        .await?;
    assert_eq!(recorded, 1);
    assert_eq!(first_problem(&f).await?, None);

    // A deleted row below the newest stays missing, and reported.
    tamper(&f, &[&format!("DELETE FROM audit_checkpoints WHERE seq = {}", older.seq)]).await?;
    append_n(&f, 1).await?;
    signed(&f).await?;
    let (seq, kind, detail) = first_problem(&f).await?.ok_or("a deleted older checkpoint must stay a finding")?;
    assert_eq!((seq, kind), (older.seq, ProblemKind::CheckpointMismatch), "{detail}");
    Ok(())
}

#[tokio::test]
async fn new_events_reusing_deleted_numbers_are_a_fork_and_an_acknowledgement_resumes_signing() -> TestResult {
    let f = fixture().await?;
    append_n(&f, 8).await?;
    signed(&f).await?;
    append_n(&f, 4).await?;
    tamper(&f, &["DELETE FROM audit_log WHERE seq > 9"]).await?;
    // The application goes on writing: its new entries take the numbers 10, 11, 12 again.
    append_n(&f, 3).await?;
    let (seq, kind, detail) = first_problem(&f).await?.ok_or("reused numbers not detected")?;
    assert_eq!((seq, kind), (10, ProblemKind::Fork), "{detail}");
    assert_refused(&f, 10).await?;

    // An admin investigates and acknowledges: audited, and the checkpointer signs again.
    let ack = f.log.acknowledge(&f.t.db, "admin@aurora.example", "restored from backup; see ticket 42").await?;
    let (lines, _) = Witness::read_from(f.log.witness().path(), 0)?;
    assert!(lines.iter().any(|l| matches!(l, Ok(WitnessLine::Acknowledged { seq, .. }) if *seq == ack.seq)));
    let cp = signed(&f).await?;
    assert_eq!(cp.seq, ack.seq);
    let acknowledged: i64 =
        sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE action = 'audit.tamper_acknowledged' AND actor_label = 'admin@aurora.example'")
            .fetch_one(&f.t.db.pool)
            .await?;
    assert_eq!(acknowledged, 1);
    // What was lost stays reported.
    assert_eq!(first_problem(&f).await?.map(|p| (p.0, p.1)), Some((10, ProblemKind::Fork)));
    Ok(())
}

#[tokio::test]
async fn mac_keys_rotate_and_every_version_still_verifies() -> TestResult {
    let f = fixture().await?;
    append_n(&f, 3).await?;
    let mut ring = licentia_crypto::KeyRing::load(&f.dir.0.join("keys/audit-mac"), false)?;
    assert_eq!(ring.add_version()?, 2);
    let rotated = open_log(&f.dir.0)?;
    for i in 0..3 {
        rotated.append_alone(&f.t.db, event(i)).await?;
    }
    let versions: Vec<i32> = sqlx::query_scalar("SELECT mac_key FROM audit_log ORDER BY seq").fetch_all(&f.t.db.pool).await?;
    assert_eq!(versions, vec![1, 1, 1, 2, 2, 2]);
    let report = rotated.verify(&f.t.db).await?;
    assert!(report.ok(), "{:?}", report.problem);
    // A verifier that lost version 1 cannot vouch for the first entries.
    std::fs::remove_file(f.dir.0.join("keys/audit-mac/v1.key"))?;
    let without_v1 = open_log(&f.dir.0)?;
    let p = without_v1.verify(&f.t.db).await?.problem.ok_or("unknown key accepted")?;
    assert_eq!((p.seq, p.kind), (1, ProblemKind::BadMac));
    assert!(p.detail.contains("unknown"), "{}", p.detail);
    Ok(())
}

#[tokio::test]
async fn the_application_role_may_only_insert_and_select_audit_rows() -> TestResult {
    let f = fixture().await?;
    let app = f.t.db.restricted().await?;
    let role: String = sqlx::query_scalar("SELECT current_user::text").fetch_one(&app.pool).await?;
    assert_eq!(role, licentia_db::APP_ROLE);
    for i in 0..3 {
        f.log.append_alone(&app, event(i)).await?;
    }
    assert!(matches!(f.log.checkpoint(&app).await?, CheckpointOutcome::Signed(_)), "appending and checkpointing need nothing more");
    for sql in [
        "UPDATE audit_log SET action = 'x' WHERE seq = 1",
        "DELETE FROM audit_log WHERE seq = 3",
        "TRUNCATE audit_log",
        "UPDATE audit_checkpoints SET seq = 9",
        "DELETE FROM audit_checkpoints",
        "ALTER TABLE audit_log DISABLE TRIGGER USER",
        "DROP TABLE audit_checkpoints",
    ] {
        let err = sqlx::query(sql).execute(&app.pool).await.err().ok_or(format!("{sql} succeeded as the application"))?;
        let code = err.as_database_error().and_then(|e| e.code()).map(|c| c.into_owned());
        assert_eq!(code.as_deref(), Some("42501"), "{sql}: {err}");
    }
    assert_eq!(first_problem(&f).await?, None);
    Ok(())
}

#[tokio::test]
async fn a_writer_that_finds_the_chain_locked_waits_in_pending_and_is_chained_after_its_commit() -> TestResult {
    use licentia_audit::Appended;
    let f = fixture().await?;
    append_n(&f, 2).await?;
    let mut holder = f.t.db.begin().await?;
    let first = f.log.append(&mut holder, event(10)).await?;
    assert!(matches!(first, Appended::Chained(h) if h.seq == 3), "{first:?}");
    // Meanwhile two others write; neither waits for the holder's commit.
    let mut second = f.t.db.begin().await?;
    assert_eq!(f.log.append(&mut second, event(11)).await?, Appended::Pending);
    second.commit().await?;
    let mut rolled_back = f.t.db.begin().await?;
    assert_eq!(f.log.append(&mut rolled_back, AuditEvent::new("test.rolled_back", Outcome::Success)).await?, Appended::Pending);
    rolled_back.rollback().await?;
    holder.commit().await?;
    assert!(f.log.committed(&f.t.db, first).await?.is_some_and(|h| h.seq == 3));
    // The pending entry is chained by its writer after the commit, with nothing in between.
    let head = f.log.committed(&f.t.db, Appended::Pending).await?.ok_or("nothing chained")?;
    assert_eq!(head.seq, 4);
    let rows: Vec<(i64, String)> = sqlx::query_as("SELECT seq, target_id FROM audit_log ORDER BY seq").fetch_all(&f.t.db.pool).await?;
    assert_eq!(rows.iter().map(|r| r.0).collect::<Vec<_>>(), vec![1, 2, 3, 4]);
    assert_eq!(rows[3].1, "11");
    let pending: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_pending").fetch_one(&f.t.db.pool).await?;
    assert_eq!(pending, 0, "the rolled-back entry left nothing");
    let report = f.log.verify(&f.t.db).await?;
    assert!(report.ok() && report.witnessed_heads == 4, "{report:?}");
    Ok(())
}
