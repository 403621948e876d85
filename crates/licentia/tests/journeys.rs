//! The three users' journeys in a real headless Chromium (Debian's `chromium`, driven by
//! `tests/browser/journeys.mjs` through playwright-core) against a real `licentia serve` with the
//! demo workspace: a manager drafts and submits a licence, a second manager reads the redline and
//! approves, the licensee accepts, the manager countersigns and issues a training licence, the
//! licensee uploads a dataset, launches a run and watches it finish, the
//! auditor filters, verifies and exports the log. One screenshot per step lands in
//! `LICENTIA_SCREENSHOTS` (default `target/screenshots`; README's pictures are
//! `docs/screenshots/`, refreshed with `LICENTIA_SCREENSHOTS=docs/screenshots`).
//!
//! `.ci/run` installs Chromium and the script's one npm package. Elsewhere, a machine without them
//! fails this test with the command to run, unless `LICENTIA_SKIP_BROWSER=1` says to skip it.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{Res, TempDir, start};
use licentia_db::testing::TestDb;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[actix_web::test]
async fn managers_licensee_and_auditor_journeys_in_chromium() -> Res<()> {
    let root = repo_root();
    let script_dir = root.join("tests/browser");
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    let ready = Path::new(&chromium).exists() && script_dir.join("node_modules/playwright-core").exists();
    if !ready {
        if std::env::var("LICENTIA_SKIP_BROWSER").as_deref() == Ok("1") {
            eprintln!("SKIPPED (LICENTIA_SKIP_BROWSER=1): no Chromium or playwright-core here");
            return Ok(());
        }
        return Err(format!(
            "the browser journeys need Chromium at {chromium} and playwright-core in tests/browser: \
             `apt-get install chromium chromium-driver && npm ci --prefix tests/browser` (or set LICENTIA_SKIP_BROWSER=1)"
        )
        .into());
    }

    let t = TestDb::empty().await?;
    let data = TempDir::new();
    let server = start(&t.url, &data)?;
    let logins: serde_json::Map<String, serde_json::Value> = server.logins.iter().map(|(e, p)| (e.clone(), serde_json::Value::String(p.clone()))).collect();

    // A dataset with a learnable target: the licensee's run must reach "succeeded".
    std::fs::create_dir_all(&data.0)?;
    let csv = data.0.join("borealis-customers.csv");
    let mut text = String::from("age,income,tenure,target\n");
    for i in 0..600u32 {
        let (age, income, tenure) = (20 + i % 50, 1000 + (i * 37) % 4000, i % 12);
        text.push_str(&format!("{age},{income},{tenure},{}\n", u32::from(income + tenure * 100 > 3000)));
    }
    std::fs::write(&csv, text)?;

    let shots = std::env::var("LICENTIA_SCREENSHOTS").map(PathBuf::from).unwrap_or_else(|_| root.join("target/screenshots"));
    let shots = if shots.is_absolute() { shots } else { root.join(shots) };
    let status = Command::new("node")
        .arg(script_dir.join("journeys.mjs"))
        .current_dir(&script_dir)
        .env("LICENTIA_BASE", &server.base)
        .env("LICENTIA_LOGINS", serde_json::Value::Object(logins).to_string())
        .env("LICENTIA_CSV", &csv)
        .env("LICENTIA_SHOTS", &shots)
        .env("CHROMIUM", &chromium)
        .status()?;
    assert!(status.success(), "a journey step failed (see the output above and {}/failure.png)", shots.display());

    // What the clicks did, read back from the database rather than the pages.
    let (status, version): (String, i32) =
        sqlx::query_as("SELECT status, current_version FROM agreements WHERE title LIKE 'Journey licence %'").fetch_one(&t.db.pool).await?;
    assert_eq!((status.as_str(), version), ("executed", 2), "two versions, approved by the second manager, signed by both parties");
    let approver: String = sqlx::query_scalar(
        "SELECT u.email FROM audit_log l JOIN users u ON u.id = l.actor_id WHERE l.action = 'agreement.approved' ORDER BY l.seq DESC LIMIT 1",
    )
    .fetch_one(&t.db.pool)
    .await?;
    assert_eq!(approver, "reviewer@aurora.example", "four eyes: not the author");
    let parties: Vec<String> = sqlx::query_scalar(
        "SELECT x.party FROM agreement_acceptances x JOIN agreements a ON a.id = x.agreement_id WHERE a.title LIKE 'Journey licence %' ORDER BY x.party",
    )
    .fetch_all(&t.db.pool)
    .await?;
    assert_eq!(parties, ["licensee", "licensor"]);
    let runs: Vec<(String, i32)> = sqlx::query_as("SELECT status, epochs_done FROM runs").fetch_all(&t.db.pool).await?;
    assert_eq!(runs, vec![("succeeded".to_owned(), 40)]);
    server.stop()?;
    Ok(())
}
