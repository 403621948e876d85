//! The embedded default: with no server answering, Licentia runs a private cluster in its data
//! folder over a Unix socket, and stops it again.

use licentia::database::EmbeddedPg;

#[actix_web::test]
async fn a_private_cluster_starts_serves_and_stops() -> Result<(), Box<dyn std::error::Error>> {
    if licentia::database::find_pg_bin().is_none() {
        // Not silently green: say why this machine cannot run it.
        // Straight to the terminal: the test harness hides what a passing test prints with eprintln!.
        std::io::Write::write_fmt(&mut std::io::stderr(), format_args!("SKIPPED: no PostgreSQL server binaries on this machine\n")).ok();
        return Ok(());
    }
    let dir = std::env::temp_dir().join(format!("licentia-pg-{}", uuid::Uuid::new_v4()));
    let pg = EmbeddedPg::start(&dir)?;
    let db = licentia_db::Db::connect(&pg.url(), &Default::default()).await?;
    db.migrate().await?;
    assert!(db.ready().await?);
    let tables: i64 =
        sqlx::query_scalar("SELECT count(*) FROM information_schema.tables WHERE table_name IN ('users', 'audit_log')").fetch_one(&db.pool).await?;
    assert_eq!(tables, 2);
    db.pool.close().await;
    pg.stop();
    assert!(!dir.join("data/postmaster.pid").exists(), "the cluster is still running");
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
