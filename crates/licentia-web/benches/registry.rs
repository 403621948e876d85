//! `cargo bench -p licentia-web --bench registry`: registry list and full-text search latency
//! through the whole HTTP stack (auth, scoping, serialisation) beside the same SQL run directly
//! with sqlx, at 1,000 and 100,000 assets, so the growth is visible.

use std::time::Instant;

use licentia_crypto::KeyMaterial;
use licentia_db::assets::{AssetFilter, AssetScope};
use licentia_db::testing::TestDb;
use licentia_domain::{Email, OrgKind, OrgName, Role};
use licentia_web::{AppState, WebSettings};

type Res<T> = Result<T, Box<dyn std::error::Error>>;

fn percentiles(mut v: Vec<f64>) -> (f64, f64) {
    v.sort_by(f64::total_cmp);
    let at = |p: f64| v[((v.len() as f64 - 1.0) * p).round() as usize];
    (at(0.5), at(0.99))
}

async fn seed(t: &TestDb, org: uuid::Uuid, from: i64, to: i64) -> Res<()> {
    sqlx::query(
        "INSERT INTO ip_assets (id, organisation_id, kind, status, title, jurisdiction, application_number, filing_date, tags, details)
         SELECT gen_random_uuid(), $1,
                CASE WHEN (i * 7) % 4 = 0 THEN 'trademark' ELSE 'patent' END, 'filed',
                'Method for ' || (ARRAY['federated','gradient','sparse','quantised','robust','private'])[1 + (i / 5) % 6] || ' learning number ' || i,
                (ARRAY['US','EP','CN','JP','GB','DE','FR'])[1 + (i / 11) % 7], 'APP' || i, DATE '2015-01-01' + (i % 3000)::int,
                ARRAY['ml'], jsonb_build_object('abstract', 'An abstract about ' || (ARRAY['clipping','pruning','distillation'])[1 + (i / 3) % 3] || ' ' || i)
         FROM generate_series($2::bigint, $3::bigint) AS i",
    )
    .bind(org)
    .bind(from)
    .bind(to)
    .execute(&t.db.pool)
    .await?;
    sqlx::query("ANALYZE ip_assets").execute(&t.db.pool).await?;
    Ok(())
}

#[actix_web::main]
async fn main() -> Res<()> {
    let t = TestDb::migrated().await.map_err(|e| e.to_string())?;
    let dir = std::env::temp_dir().join(format!("licentia-bench-{}", uuid::Uuid::new_v4()));
    let keys = KeyMaterial::load(&dir.join("keys"), true)?;
    let keyring = licentia_crypto::KeyRing::load(&dir.join("keys/master"), true)?;
    let store = licentia_store::BlobStore::Local(licentia_store::LocalStore::new(dir.join("blobs")));
    let state = AppState::new(t.db.clone(), &keys, keyring, store, WebSettings::for_data_dir(&dir))?;
    let mut conn = t.db.pool.acquire().await?;
    let org = licentia_db::organisations::insert(&mut conn, &OrgName::parse("Aurora")?, OrgKind::Licensor).await?;
    let hash = licentia_crypto::password::hash("benchmark password")?;
    licentia_db::users::insert(
        &mut conn,
        licentia_db::users::NewUser {
            organisation_id: org.id,
            email: &Email::parse("m@aurora.example")?,
            display_name: "m",
            password_hash: &hash,
            role: Role::Manager,
        },
    )
    .await?;
    drop(conn);
    let app_state = state.clone();
    let srv = actix_test::start(move || licentia_web::app(app_state.clone()));
    let client = awc::Client::default();
    let mut login =
        client.post(srv.url("/api/v1/auth/token")).send_json(&serde_json::json!({ "email": "m@aurora.example", "password": "benchmark password" })).await?;
    let token = login.json::<serde_json::Value>().await?["token"].as_str().unwrap_or_default().to_owned();

    let rounds = 200;
    println!("registry latency, {rounds} sequential requests each (ms): API over HTTP vs the same query through sqlx");
    println!("{:<10} {:<28} {:>10} {:>10} {:>10} {:>10}", "assets", "query", "API p50", "API p99", "SQL p50", "SQL p99");
    let mut seeded = 0i64;
    for size in [1_000i64, 100_000] {
        seed(&t, org.id.as_uuid(), seeded + 1, size).await?;
        seeded = size;
        for (name, path, filter) in [
            ("first page (50)", "/api/v1/assets?limit=50", AssetFilter::default()),
            (
                "search 'gradient clipping'",
                "/api/v1/assets?limit=50&q=gradient%20clipping",
                AssetFilter { q: Some("gradient clipping".into()), ..Default::default() },
            ),
            (
                "filter kind+jurisdiction",
                "/api/v1/assets?limit=50&kind=trademark&jurisdiction=EP",
                AssetFilter { kind: Some("trademark".into()), jurisdiction: Some("EP".into()), ..Default::default() },
            ),
            ("search, no match", "/api/v1/assets?limit=50&q=blockchain", AssetFilter { q: Some("blockchain".into()), ..Default::default() }),
        ] {
            let mut api = Vec::with_capacity(rounds);
            for _ in 0..rounds {
                let start = Instant::now();
                let mut r = client.get(srv.url(path)).bearer_auth(&token).send().await?;
                let _ = r.body().limit(8 * 1024 * 1024).await?;
                api.push(start.elapsed().as_secs_f64() * 1000.0);
            }
            let mut sql = Vec::with_capacity(rounds);
            let mut conn = t.db.pool.acquire().await?;
            for _ in 0..rounds {
                let start = Instant::now();
                let rows = licentia_db::assets::list(&mut conn, &filter, AssetScope::All, 51).await?;
                std::hint::black_box(rows.len());
                sql.push(start.elapsed().as_secs_f64() * 1000.0);
            }
            let (a50, a99) = percentiles(api);
            let (s50, s99) = percentiles(sql);
            println!("{:<10} {:<28} {:>10.2} {:>10.2} {:>10.2} {:>10.2}", size, name, a50, a99, s50, s99);
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
