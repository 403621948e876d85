//! The audit chain against a real PostgreSQL: every kind of tampering is caught with the right
//! sequence number, concurrent appends stay gapless, and a rollback leaves nothing behind.

use licentia_audit::{AuditEvent, CheckpointFile, Outcome, ProblemKind, append, checkpoint, verify};
use licentia_crypto::SigningKey;
use licentia_db::testing::TestDb;
use serde_json::json;

type TestResult = Result<(), Box<dyn std::error::Error>>;

struct Fixture {
    t: TestDb,
    key: SigningKey,
    file: CheckpointFile,
    _dir: TempDir,
}

struct TempDir(std::path::PathBuf);
impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

async fn fixture() -> Result<Fixture, Box<dyn std::error::Error>> {
    let t = TestDb::migrated().await?;
    let key = SigningKey::from_pkcs8(&SigningKey::generate_pkcs8()?)?;
    let dir = std::env::temp_dir().join(format!("licentia-audit-{}", uuid::Uuid::new_v4()));
    let file = CheckpointFile::new(dir.join("checkpoints.jsonl"));
    Ok(Fixture { t, key, file, _dir: TempDir(dir) })
}

async fn append_n(f: &Fixture, n: usize) -> TestResult {
    for i in 0..n {
        let mut tx = f.t.db.begin().await?;
        let event = AuditEvent::new("test.action", Outcome::Success)
            .actor(Some(uuid::Uuid::new_v4()), Some(format!("user{i}@example.org")), None)
            .target("thing", i)
            .details(json!({ "i": i, "note": "x" }));
        append(&mut tx, event).await?;
        tx.commit().await?;
    }
    Ok(())
}

/// Runs `sql` as the superuser with the append-only triggers switched off: what an attacker with
/// database access would do.
async fn tamper(f: &Fixture, sql: &[&'static str]) -> TestResult {
    let mut tx = f.t.db.begin().await?;
    sqlx::query("ALTER TABLE audit_log DISABLE TRIGGER USER").execute(&mut *tx).await?;
    sqlx::query("ALTER TABLE audit_checkpoints DISABLE TRIGGER USER").execute(&mut *tx).await?;
    for s in sql {
        sqlx::query(*s).execute(&mut *tx).await?;
    }
    sqlx::query("ALTER TABLE audit_log ENABLE TRIGGER USER").execute(&mut *tx).await?;
    sqlx::query("ALTER TABLE audit_checkpoints ENABLE TRIGGER USER").execute(&mut *tx).await?;
    tx.commit().await?;
    Ok(())
}

async fn first_problem(f: &Fixture) -> Result<Option<(i64, ProblemKind, String)>, Box<dyn std::error::Error>> {
    let report = verify(&f.t.db, &f.key.verifying_key(), Some(&f.file)).await?;
    Ok(report.problem.map(|p| (p.seq, p.kind, p.detail)))
}

#[tokio::test]
async fn an_untouched_log_verifies() -> TestResult {
    let f = fixture().await?;
    append_n(&f, 12).await?;
    assert!(checkpoint(&f.t.db, &f.key, &f.file).await?.is_some());
    append_n(&f, 3).await?;
    let report = verify(&f.t.db, &f.key.verifying_key(), Some(&f.file)).await?;
    assert!(report.ok(), "{:?}", report.problem);
    assert_eq!((report.entries, report.last_seq, report.checkpoints_checked), (15, 15, 1));
    // Nothing new to sign: no second checkpoint for the same head.
    assert!(checkpoint(&f.t.db, &f.key, &f.file).await?.is_some());
    assert!(checkpoint(&f.t.db, &f.key, &f.file).await?.is_none());
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
    checkpoint(&f.t.db, &f.key, &f.file).await?.ok_or("no checkpoint")?;
    // A careful attacker deletes the last three rows, the database checkpoints, and rewinds the
    // head so the shorter chain is consistent in itself. Only the file outside the database knows.
    tamper(
        &f,
        &[
            "DELETE FROM audit_log WHERE seq > 7",
            "DELETE FROM audit_checkpoints",
            "UPDATE audit_head SET seq = 7, hash = (SELECT hash FROM audit_log WHERE seq = 7)",
        ],
    )
    .await?;
    let internal_only = verify(&f.t.db, &f.key.verifying_key(), None).await?;
    assert!(internal_only.ok(), "without the file the truncation is invisible by construction");
    assert_eq!(first_problem(&f).await?.map(|p| (p.0, p.1)), Some((8, ProblemKind::TruncatedTail)));
    Ok(())
}

#[tokio::test]
async fn a_rechained_tail_without_a_new_signature_is_a_fork() -> TestResult {
    let f = fixture().await?;
    append_n(&f, 6).await?;
    checkpoint(&f.t.db, &f.key, &f.file).await?.ok_or("no checkpoint")?;
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
        .bind(&hash)
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
    let mallory = SigningKey::from_pkcs8(&SigningKey::generate_pkcs8()?)?;
    let forged = checkpoint(&f.t.db, &mallory, &f.file).await?.ok_or("no checkpoint")?;
    let (seq, kind, detail) = first_problem(&f).await?.ok_or("foreign key accepted")?;
    assert_eq!((seq, kind), (forged.seq, ProblemKind::BadSignature));
    assert!(detail.contains("unknown key"), "{detail}");

    let g = fixture().await?;
    append_n(&g, 3).await?;
    let mut cp = checkpoint(&g.t.db, &g.key, &g.file).await?.ok_or("no checkpoint")?;
    cp.signature.truncate(cp.signature.len() - 2);
    std::fs::write(&g.file.path, serde_json::to_string(&cp)? + "\n")?;
    assert_eq!(first_problem(&g).await?.map(|p| p.1), Some(ProblemKind::BadSignature));
    Ok(())
}

#[tokio::test]
async fn two_hundred_concurrent_appends_leave_a_contiguous_verifying_chain() -> TestResult {
    let f = fixture().await?;
    let mut tasks = Vec::new();
    for i in 0..200 {
        let db = f.t.db.clone();
        tasks.push(tokio::spawn(async move {
            let mut tx = db.begin().await?;
            append(&mut tx, AuditEvent::new("test.concurrent", Outcome::Success).target("n", i)).await?;
            tx.commit().await?;
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
    let seq = append(&mut tx, AuditEvent::new("test.rolled_back", Outcome::Success)).await?;
    assert_eq!(seq, 3);
    tx.rollback().await?;
    append_n(&f, 1).await?;
    let rows: Vec<(i64, String)> = sqlx::query_as("SELECT seq, action FROM audit_log ORDER BY seq").fetch_all(&f.t.db.pool).await?;
    assert_eq!(rows.len(), 3);
    assert!(rows.iter().all(|(_, a)| a != "test.rolled_back"));
    assert_eq!(rows.last().map(|r| r.0), Some(3));
    assert_eq!(first_problem(&f).await?, None);
    Ok(())
}
