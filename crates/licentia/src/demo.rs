//! The demo workspace: seeded into an empty database so that a first `cargo run` shows something.
//! Passwords are random and printed once; they are never stored anywhere but as argon2 hashes.

use licentia_audit::{AuditEvent, AuditLog, Outcome};
use licentia_db::{Db, organisations, users};
use licentia_domain::ip::asset::{AssetInput, ValidAsset};
use licentia_domain::{Email, OrgKind, OrgName, Password, Role};
use serde_json::json;

#[derive(Debug, Clone)]
pub struct DemoLogin {
    pub email: String,
    pub password: String,
    pub role: Role,
    pub organisation: String,
}

const LICENSOR: &str = "Aurora Innovations";
const LICENSEES: [&str; 2] = ["Borealis Analytics", "Cirrus Robotics"];

/// (e-mail, display name, role, organisation)
const PEOPLE: [(&str, &str, Role, &str); 6] = [
    ("admin@aurora.example", "Ada Admin", Role::Admin, LICENSOR),
    ("manager@aurora.example", "Max Manager", Role::Manager, LICENSOR),
    ("reviewer@aurora.example", "Rita Reviewer", Role::Manager, LICENSOR),
    ("auditor@aurora.example", "Otto Auditor", Role::Auditor, LICENSOR),
    ("licensee@borealis.example", "Bea Borealis", Role::Licensee, LICENSEES[0]),
    ("licensee@cirrus.example", "Cy Cirrus", Role::Licensee, LICENSEES[1]),
];

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error(transparent)]
    Db(#[from] licentia_db::DbError),
    #[error(transparent)]
    Audit(#[from] licentia_audit::AuditError),
    #[error("{0}")]
    Other(String),
}

/// Seeds the demo workspace when the database has no organisation yet; returns the logins created
/// (empty when the database already had data). Safe to call from several nodes at once.
pub async fn seed_if_empty(db: &Db, audit: &AuditLog) -> Result<Vec<DemoLogin>, DemoError> {
    let mut tx = db.begin().await?;
    licentia_db::pool::advisory_xact_lock(&mut tx, 0x4c49_4345_4e54_4941).await?;
    if organisations::count(&mut tx).await? > 0 {
        return Ok(Vec::new());
    }
    let mut org_ids = std::collections::HashMap::new();
    let org_name = |s: &str| OrgName::parse(s).map_err(|e| DemoError::Other(e.to_string()));
    let licensor = organisations::insert(&mut tx, &org_name(LICENSOR)?, OrgKind::Licensor).await?;
    organisations::set_country(&mut tx, licensor.id, Some("DE")).await?;
    // A licensor requires a second factor of admins and managers. The demo keeps it for its admin
    // (whose first login sets up an authenticator app) and lifts it for its managers, so that the
    // printed manager logins open the workspace straight away; /admin/organisations turns it
    // back on.
    organisations::set_second_factor_roles(&mut tx, licensor.id, &[Role::Admin]).await?;
    org_ids.insert(LICENSOR, licensor.id);
    // Where each licensee is established: export control and the country of use decide by it.
    for (name, country) in LICENSEES.into_iter().zip(["NL", "US"]) {
        let o = organisations::insert(&mut tx, &org_name(name)?, OrgKind::Licensee).await?;
        organisations::set_country(&mut tx, o.id, Some(country)).await?;
        org_ids.insert(name, o.id);
    }
    let mut logins = Vec::new();
    let mut user_ids = std::collections::HashMap::new();
    for (email, name, role, org) in PEOPLE {
        let password = licentia_crypto::random::token().map_err(|_| DemoError::Other("no randomness".into()))?.chars().take(20).collect::<String>();
        let checked = Password::parse(&password).map_err(|e| DemoError::Other(e.to_string()))?;
        let hash = tokio::task::spawn_blocking(move || licentia_crypto::password::hash(checked.expose()))
            .await
            .map_err(|e| DemoError::Other(e.to_string()))?
            .map_err(|e| DemoError::Other(e.to_string()))?;
        let email_v = Email::parse(email).map_err(|e| DemoError::Other(e.to_string()))?;
        let org_id = *org_ids.get(org).ok_or_else(|| DemoError::Other(format!("no organisation {org}")))?;
        let u = users::insert(&mut tx, users::NewUser { organisation_id: org_id, email: &email_v, display_name: name, password_hash: &hash, role }).await?;
        user_ids.insert(email, u);
        logins.push(DemoLogin { email: email.into(), password, role, organisation: org.into() });
    }
    // A small portfolio, parsed through the same validation as user input. The EP application
    // claims the US patent's priority: a family of two.
    let mut portfolio = portfolio();
    let mut asset_ids = Vec::new();
    for i in 0..portfolio.len() {
        if i == 1 {
            portfolio[1].parent_id = asset_ids.first().map(|id: &licentia_domain::AssetId| id.to_string());
            portfolio[1].relation = Some("priority_claim".into());
        }
        let valid = ValidAsset::parse(&portfolio[i]).map_err(|e| DemoError::Other(format!("demo asset: {e}")))?;
        let row = licentia_app::assets::new_row(licensor.id, &valid);
        asset_ids.push(licentia_db::assets::upsert(&mut tx, &row, None).await?.id);
    }
    let agreements = seed_agreements(&mut tx, licensor.id, &org_ids, &user_ids, &asset_ids).await?;
    let event = AuditEvent::new("demo.seeded", Outcome::Success)
        .actor(None, Some("licentia".into()), Some(licensor.id.as_uuid()))
        .details(json!({ "organisations": 1 + LICENSEES.len(), "users": PEOPLE.len(), "assets": portfolio.len(), "agreements": agreements }));
    let head = audit.append(&mut tx, event).await?;
    tx.commit().await.map_err(licentia_db::DbError::from)?;
    audit.committed(db, head).await?;
    Ok(logins)
}

/// Two agreements: an executed non-exclusive licence of the US patent, the SDK and the model to
/// Borealis (so its portal has something to show), and an exclusive licence of the PCT
/// application to Cirrus waiting in review for the second manager (four eyes).
// Money as major_minor (`25_000_00` is 25,000.00), as in the fee table.
#[allow(clippy::inconsistent_digit_grouping)]
async fn seed_agreements(
    tx: &mut licentia_db::PgConnection,
    licensor: licentia_domain::OrganisationId,
    orgs: &std::collections::HashMap<&str, licentia_domain::OrganisationId>,
    users: &std::collections::HashMap<&str, licentia_domain::UserId>,
    assets: &[licentia_domain::AssetId],
) -> Result<usize, DemoError> {
    use licentia_domain::agreement::{AgreementKind, MilestoneInput, TermsInput};
    let other = |e: &dyn std::fmt::Display| DemoError::Other(format!("demo agreement: {e}"));
    let manager = *users.get("manager@aurora.example").ok_or_else(|| other(&"no manager"))?;
    let today = chrono::Utc::now().date_naive();
    let year_start = chrono::NaiveDate::from_ymd_opt(chrono::Datelike::year(&today), 1, 1).unwrap_or(today);
    let specs = [
        (
            AgreementKind::NonExclusiveLicence,
            "Borealis platform licence",
            LICENSEES[0],
            vec![assets[0], assets[4], assets[5]],
            TermsInput {
                territory: vec!["DE".into(), "FR".into(), "NL".into(), "US".into()],
                effective_date: Some(year_start.to_string()),
                end_date: Some((year_start + chrono::Months::new(60)).to_string()),
                currency: Some("EUR".into()),
                upfront_fee: Some(25_000_00),
                royalty_bp: Some(350),
                fee_per_run: Some(20_00),
                fee_per_1000_compute_units: Some(1_50),
                fee_per_1000_predictions: Some(10),
                minimum_annual_royalty: Some(40_000_00),
                ..Default::default()
            },
            true,
        ),
        (
            AgreementKind::ExclusiveLicence,
            "Cirrus exclusive licence: credit scoring",
            LICENSEES[1],
            vec![assets[2]],
            TermsInput {
                worldwide: true,
                excluded: vec!["CN".into()],
                fields: vec!["consumer credit".into()],
                effective_date: Some((year_start + chrono::Months::new(12)).to_string()),
                currency: Some("USD".into()),
                royalty_bp: Some(500),
                sublicensing: true,
                sublicence_share_bp: Some(3000),
                milestones: vec![MilestoneInput {
                    name: "First commercial deployment".into(),
                    amount: 100_000_00,
                    due: (year_start + chrono::Months::new(18)).to_string(),
                }],
                ..Default::default()
            },
            false,
        ),
    ];
    let mut n = 0;
    for (kind, title, licensee, covered, input, executed) in specs {
        let terms = input.parse().map_err(|e| other(&e))?;
        let licensee_id = *orgs.get(licensee).ok_or_else(|| other(&"no licensee"))?;
        let mut covered_rows = Vec::new();
        for id in &covered {
            covered_rows.push(licentia_db::assets::get(tx, *id, licentia_db::assets::AssetScope::All).await?);
        }
        let draft = licentia_app::agreements::Draft::new(kind, title.into(), LICENSOR.into(), licensee.into(), None, covered_rows, terms, Default::default());
        let id = licentia_domain::AgreementId::new();
        let new = licentia_db::agreements::NewAgreement { id, licensor_id: licensor, licensee_id, parent_id: None, kind, title, created_by: manager };
        let sha = licentia_app::agreements::insert_with_first_version(tx, &new, &covered, &draft, "demo draft").await.map_err(|e| other(&e))?;
        if executed {
            let reviewer = *users.get("reviewer@aurora.example").ok_or_else(|| other(&"no reviewer"))?;
            let bea = *users.get("licensee@borealis.example").ok_or_else(|| other(&"no licensee user"))?;
            licentia_db::agreements::set_approved(tx, id, Some(reviewer), Some(1)).await?;
            licentia_db::agreements::accept(tx, id, "licensee", 1, &sha, bea).await?;
            licentia_db::agreements::accept(tx, id, "licensor", 1, &sha, manager).await?;
            licentia_db::agreements::set_executed(tx, id, 1).await?;
            licentia_db::agreements::set_status(tx, id, licentia_domain::agreement::Status::Active, Some(1)).await?;
            // A training licence under it, so that the demo licensee can train straight away.
            let now = chrono::Utc::now();
            let licence = licentia_db::training::Licence {
                id: licentia_domain::LicenceId::new(),
                agreement_id: id,
                organisation_id: licensee_id,
                templates: vec!["tabular-binary-mlp".into(), "logistic-regression".into()],
                valid_from: now,
                valid_until: now + chrono::Months::new(36),
                quota_runs: Some(100),
                quota_compute_units: Some(5_000_000),
                quota_prediction_rows: Some(1_000_000),
                reset_period: "monthly".into(),
                overage: "refuse".into(),
                overage_percent: 0,
                allow_model_download: false,
                max_concurrent_runs: None,
                failed_runs_billed: false,
                model_versions: Vec::new(),
                created_at: now,
                agreement_status: licentia_domain::agreement::Status::Active,
                agreement_title: title.into(),
            };
            licentia_db::training::insert_licence(tx, &licence, manager).await?;
        } else {
            licentia_db::agreements::set_status(tx, id, licentia_domain::agreement::Status::InReview, Some(1)).await?;
        }
        n += 1;
    }
    Ok(n)
}

/// The demo portfolio: a granted US patent, a pending EP application, a PCT application, an EU
/// trade mark, the SDK's copyright and the licensed model.
fn portfolio() -> Vec<AssetInput> {
    let s = |v: &str| Some(v.to_owned());
    vec![
        AssetInput {
            kind: "patent".into(),
            status: s("granted"),
            title: "Adaptive gradient clipping for federated training".into(),
            jurisdiction: s("US"),
            application_number: s("16/123,456"),
            grant_number: s("US 11,234,567 B2"),
            filing_date: s("2019-08-01"),
            grant_date: s("2022-03-10"),
            abstract_text: s("Clipping per-client gradients by an adaptive quantile keeps federated training stable."),
            inventors: vec!["Ada Okafor".into(), "Lin Wei".into()],
            claims_count: Some(20),
            tags: vec!["ml".into(), "federated".into()],
            owners: vec!["Aurora Innovations".into()],
            ..Default::default()
        },
        AssetInput {
            kind: "patent".into(),
            status: s("published"),
            title: "Adaptive gradient clipping for federated training".into(),
            jurisdiction: s("EP"),
            application_number: s("EP 20 187 654.3"),
            priority_date: s("2019-08-01"),
            filing_date: s("2020-07-24"),
            publication_date: s("2021-02-03"),
            abstract_text: s("European counterpart of US 11,234,567."),
            tags: vec!["ml".into(), "federated".into()],
            owners: vec!["Aurora Innovations".into()],
            ..Default::default()
        },
        AssetInput {
            kind: "patent".into(),
            status: s("filed"),
            title: "Privacy-preserving credit scoring with tabular neural networks".into(),
            jurisdiction: s("WO"),
            application_number: s("PCT/US2025/041234"),
            priority_date: s("2024-09-15"),
            filing_date: s("2025-09-10"),
            pct: true,
            tags: vec!["ml".into(), "credit".into()],
            owners: vec!["Aurora Innovations".into()],
            ..Default::default()
        },
        AssetInput {
            kind: "trademark".into(),
            status: s("registered"),
            title: "AURORA (word mark)".into(),
            jurisdiction: s("EM"),
            application_number: s("018123456"),
            filing_date: s("2018-01-15"),
            registration_date: s("2018-06-20"),
            mark_text: s("AURORA"),
            mark_type: s("word"),
            nice_classes: vec![9, 42],
            goods_services: s("Software; machine-learning platforms as a service."),
            owners: vec!["Aurora Innovations".into()],
            ..Default::default()
        },
        AssetInput {
            kind: "copyright".into(),
            title: "Aurora training SDK".into(),
            work_type: s("software"),
            authors: vec!["Aurora Innovations".into()],
            version: s("3.2"),
            ..Default::default()
        },
        AssetInput {
            kind: "model".into(),
            title: "Credit risk MLP (tabular-binary-mlp)".into(),
            template: s("tabular-binary-mlp"),
            description: s("Input, 64 relu, 64 relu, sigmoid; the reference model licensees train on their own data."),
            ..Default::default()
        },
    ]
}

/// The one-time message with the demo logins.
pub fn print_logins(logins: &[DemoLogin], base: &str) {
    println!("\nDemo workspace created. These logins are shown once (only their hashes are stored):");
    for l in logins {
        println!("  DEMO-LOGIN {:<10} {:<28} {}   ({})", l.role.as_str(), l.email, l.password, l.organisation);
    }
    println!("The admin's first login sets up a second factor (an authenticator app); the managers' does not (/admin/organisations sets who must).");
    println!("Open {base}/login to start. Lost them? `licentia user create` makes new accounts.\n");
}
