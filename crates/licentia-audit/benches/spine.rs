//! `cargo bench -p licentia-audit`: what the tamper-evident audit log costs.
//!
//! Prints, from one run against the local PostgreSQL: audited appends per second (hash chain, MAC,
//! head lock, canonical bytes, and the witness file fed after each commit) beside plain INSERTs of the same rows into a copy of the table without
//! the chain, sequential and with 8 concurrent writers, each row in its own transaction as in the
//! application; then argon2id hashes and verifications per second (the cost of one login).

use std::time::Instant;

use licentia_audit::{AuditEvent, AuditLog, CheckpointFile, Outcome, Witness};
use licentia_db::testing::TestDb;
use serde_json::json;

type Res<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

fn event(i: usize) -> AuditEvent {
    AuditEvent::new("bench.action", Outcome::Success)
        .actor(Some(uuid::Uuid::new_v4()), Some(format!("user{i}@example.org")), Some(uuid::Uuid::new_v4()))
        .target("thing", i)
        .details(json!({ "i": i, "note": "a typical small details document" }))
}

async fn audited(db: &licentia_db::Db, log: &AuditLog, n: usize) -> Res<()> {
    for i in 0..n {
        log.append_alone(db, event(i)).await?;
    }
    Ok(())
}

/// The same row content, inserted without chain, lock or hashing.
async fn plain(db: &licentia_db::Db, n: usize, offset: i64) -> Res<()> {
    for i in 0..n {
        let e = event(i);
        let mut tx = db.begin().await?;
        sqlx::query(
            "INSERT INTO bench_plain (seq, occurred_at, actor_id, actor_label, organisation_id, action, target_kind, target_id, outcome, details, prev_hash, hash, canonical)
             VALUES ($1, now(), $2, $3, $4, $5, $6, $7, $8, $9, $10, $10, $10)",
        )
        .bind(offset + i as i64 + 1)
        .bind(e.actor_id)
        .bind(&e.actor_label)
        .bind(e.organisation_id)
        .bind(e.action)
        .bind(e.target_kind)
        .bind(&e.target_id)
        .bind(e.outcome.as_str())
        .bind(&e.details)
        .bind(vec![0u8; 32])
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
    }
    Ok(())
}

async fn timed<F, Fut>(writers: usize, per_writer: usize, f: F) -> Res<f64>
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = Res<()>> + Send + 'static,
{
    let start = Instant::now();
    let tasks: Vec<_> = (0..writers).map(|w| tokio::spawn(f(w))).collect();
    for t in tasks {
        t.await??;
    }
    Ok((writers * per_writer) as f64 / start.elapsed().as_secs_f64())
}

#[tokio::main]
async fn main() -> Res<()> {
    let n: usize = std::env::var("BENCH_ROWS").ok().and_then(|v| v.parse().ok()).unwrap_or(2000);
    let t = TestDb::migrated().await.map_err(|e| e.to_string())?;
    let dir = std::env::temp_dir().join(format!("licentia-audit-bench-{}", uuid::Uuid::new_v4()));
    let keys = licentia_crypto::KeyMaterial::load(&dir.join("keys"), true)?;
    let log = AuditLog::new(
        keys.audit_macs,
        licentia_crypto::SigningKey::from_pkcs8(&keys.audit_pkcs8)?,
        CheckpointFile::new(dir.join("checkpoints/audit-checkpoints.jsonl")),
        Witness::open(dir.join("checkpoints/witness-bench.jsonl")),
    );
    sqlx::query("CREATE TABLE bench_plain (LIKE audit_log INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING INDEXES)").execute(&t.db.pool).await?;
    // Warm the pool and the caches for both paths.
    audited(&t.db, &log, 50).await?;
    plain(&t.db, 50, 10_000_000).await?;

    println!("audit log appends vs plain INSERT of the same rows ({n} rows per run, one transaction per row)");
    println!("{:<28} {:>14} {:>14} {:>8}", "writers", "audited rows/s", "plain rows/s", "ratio");
    for writers in [1usize, 8] {
        let per = n / writers;
        let (db, l) = (t.db.clone(), log.clone());
        let a = timed(writers, per, move |_| {
            let (db, l) = (db.clone(), l.clone());
            async move { audited(&db, &l, per).await }
        })
        .await?;
        let db = t.db.clone();
        let base = 20_000_000 * writers as i64;
        let p = timed(writers, per, move |w| {
            let db = db.clone();
            async move { plain(&db, per, base + (w * per) as i64).await }
        })
        .await?;
        println!("{:<28} {:>14.0} {:>14.0} {:>7.2}x", format!("{writers} concurrent"), a, p, a / p);
    }
    let report = log.verify(&t.db).await?;
    let start = Instant::now();
    let again = log.verify(&t.db).await?;
    println!(
        "verify: {} entries in {:.3} s ({:.0} entries/s), chain ok: {}",
        again.entries,
        start.elapsed().as_secs_f64(),
        again.entries as f64 / start.elapsed().as_secs_f64(),
        report.ok()
    );
    let _ = std::fs::remove_dir_all(&dir);

    println!("\nargon2id (m = 19 MiB, t = 2, p = 1): the cost of one login, one core");
    let rounds = 20;
    let start = Instant::now();
    let mut hash = String::new();
    for _ in 0..rounds {
        hash = licentia_crypto::password::hash("correct horse battery staple")?;
    }
    let hashes = rounds as f64 / start.elapsed().as_secs_f64();
    let start = Instant::now();
    for _ in 0..rounds {
        licentia_crypto::password::verify(&hash, "correct horse battery staple");
    }
    let verifies = rounds as f64 / start.elapsed().as_secs_f64();
    println!("hash: {hashes:.1}/s ({:.1} ms each); verify (= one login): {verifies:.1}/s ({:.1} ms each)", 1000.0 / hashes, 1000.0 / verifies);
    Ok(())
}
