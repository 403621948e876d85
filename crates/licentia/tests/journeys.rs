//! The three users' journeys in a real headless Chromium (Debian's `chromium`, driven by
//! `tests/browser/journeys.mjs` through playwright-core) against a real `licentia serve` with the
//! demo workspace: a manager drafts and submits a licence, a second manager reads the redline and
//! approves, the licensee accepts, the manager countersigns and issues a training licence, the
//! licensee uploads a dataset, launches a run and watches it finish, then fine-tunes the version of
//! the demo's model that the licensor published with `licentia model train` (the licence grants
//! it), the manager reads the model's lineage, the auditor filters, verifies and exports the log. One screenshot per step lands in
//! `LICENTIA_SCREENSHOTS` (default `target/screenshots`; README's pictures are
//! `docs/screenshots/`, refreshed with `LICENTIA_SCREENSHOTS=docs/screenshots`).
//!
//! The server sends its e-mail to the local SMTP server `.ci/run` starts (aiosmtpd, writing a
//! maildir: `LICENTIA_TEST_SMTP`, `LICENTIA_TEST_SMTP_MAILDIR`), and the test finds the reviewer's
//! notice of the waiting approval there.
//!
//! `.ci/run` installs Chromium and the script's npm packages and sets `LICENTIA_REQUIRE_BROWSER=1`
//! and `LICENTIA_REQUIRE_SMTP_TEST=1`. Elsewhere, a machine without them skips this test (or its
//! e-mail part) with one line saying what to install.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{Res, TempDir, start_with};
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
    let ready = ready && script_dir.join("node_modules/axe-core").exists();
    if !ready {
        let how = format!(
            "the browser journeys need Chromium at {chromium} and tests/browser's npm packages: `apt-get install chromium chromium-driver && npm ci --prefix tests/browser`"
        );
        if std::env::var("LICENTIA_REQUIRE_BROWSER").as_deref() == Ok("1") {
            return Err(format!("LICENTIA_REQUIRE_BROWSER=1: {how}").into());
        }
        // Straight to the terminal: the test harness hides what a passing test prints with eprintln!.
        std::io::Write::write_fmt(&mut std::io::stderr(), format_args!("SKIPPED {how}\n")).ok();
        return Ok(());
    }
    let smtp = match (std::env::var("LICENTIA_TEST_SMTP"), std::env::var("LICENTIA_TEST_SMTP_MAILDIR")) {
        (Ok(addr), Ok(dir)) if !addr.is_empty() => Some((addr, PathBuf::from(dir))),
        _ if std::env::var("LICENTIA_REQUIRE_SMTP_TEST").as_deref() == Ok("1") => {
            return Err("LICENTIA_REQUIRE_SMTP_TEST=1 but LICENTIA_TEST_SMTP / LICENTIA_TEST_SMTP_MAILDIR are not set".into());
        }
        _ => {
            // Straight to the terminal: the test harness hides what a passing test prints with eprintln!.
            std::io::Write::write_fmt(
                &mut std::io::stderr(),
                format_args!(
                    "SKIPPED the journey's e-mail check: no local SMTP server (see .ci/run: aiosmtpd, LICENTIA_TEST_SMTP, LICENTIA_TEST_SMTP_MAILDIR)\n"
                ),
            )
            .ok();
            None
        }
    };

    let t = TestDb::empty().await?;
    let data = TempDir::new();
    let smtp_url = smtp.as_ref().map(|(addr, _)| format!("smtp://{addr}")).unwrap_or_default();
    let server = start_with(&t.url, &data, &[("LICENTIA_SMTP_URL", &smtp_url), ("LICENTIA_MAIL_FROM", "Licentia <licentia@aurora.example>")])?;
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
    // The licensor publishes version 1 of the demo's model from its own data (here the same
    // columns), as an operator would: `licentia model train`, its own audit witness file.
    let model: String = sqlx::query_scalar("SELECT id::text FROM ip_assets WHERE kind = 'model'").fetch_one(&t.db.pool).await?;
    let published = common::licentia(&t.url, &data)
        .env("LICENTIA_NODE_ID", "journey-cli")
        .args(["model", "train", "--asset", &model, "--target", "target", "--epochs", "5", "--as", "manager@aurora.example", "--data"])
        .arg(&csv)
        .output()?;
    assert!(published.status.success(), "{}", String::from_utf8_lossy(&published.stderr));

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
    let runs: Vec<(String, i32, bool)> =
        sqlx::query_as("SELECT status, epochs_done, base_version IS NOT NULL FROM runs ORDER BY created_at").fetch_all(&t.db.pool).await?;
    assert_eq!(runs, vec![("succeeded".to_owned(), 40, false), ("succeeded".to_owned(), 5, true)], "from random weights, then fine-tuned");

    // The reviewer was told by e-mail that the version waited for approval (sent by the server's
    // mail loop through SMTP, not from the request).
    if let Some((_, maildir)) = smtp {
        let id: uuid::Uuid = sqlx::query_scalar("SELECT id FROM agreements WHERE title LIKE 'Journey licence %'").fetch_one(&t.db.pool).await?;
        let link = format!("{}/agreements/{id}", server.base);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        let found = loop {
            let found = ["new", "cur"]
                .iter()
                .filter_map(|sub| std::fs::read_dir(maildir.join(sub)).ok())
                .flatten()
                .filter_map(|e| e.ok().and_then(|e| std::fs::read_to_string(e.path()).ok()))
                .map(|m| unfold_quoted_printable(&m))
                .find(|m| m.contains(&link) && m.contains("Approval waiting") && m.contains("To: reviewer@aurora.example"));
            if found.is_some() || std::time::Instant::now() > deadline {
                break found;
            }
            std::thread::sleep(std::time::Duration::from_millis(500));
        };
        let mail = found.ok_or_else(|| format!("no approval notice for the reviewer with {link} in {}", maildir.display()))?;
        assert!(mail.contains("waits for a second manager's approval"), "{mail}");
    }
    server.stop()?;
    Ok(())
}

/// A message body as written, with quoted-printable's soft line breaks and `=3D` undone (lettre
/// encodes a plain-text body with lines over 76 characters that way).
fn unfold_quoted_printable(m: &str) -> String {
    m.replace("=\r\n", "").replace("=\n", "").replace("=3D", "=")
}
