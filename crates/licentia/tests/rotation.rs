//! Master key rotation against real artifacts: rotate, interrupt the re-wrap, resume, retire.

use licentia::rotation::{self, RotationError};
use licentia_crypto::KeyRing;
use licentia_crypto::envelope::{Binding, DataKey, decrypt_all, encrypt_all};
use licentia_db::artifacts::Artifact;
use licentia_db::testing::TestDb;
use licentia_domain::{OrgKind, OrgName};

type Res<T> = Result<T, Box<dyn std::error::Error>>;

struct Stored {
    id: uuid::Uuid,
    plain: Vec<u8>,
    ciphertext: Vec<u8>,
}

async fn seed(t: &TestDb, ring: &KeyRing, n: usize) -> Res<Vec<Stored>> {
    let mut conn = t.db.pool.acquire().await?;
    let org = licentia_db::organisations::insert(&mut conn, &OrgName::parse("Aurora")?, OrgKind::Licensor).await?;
    let mut out = Vec::new();
    for i in 0..n {
        let id = uuid::Uuid::now_v7();
        let plain = format!("artifact {i} content").repeat(1000).into_bytes();
        let dek = DataKey::generate()?;
        let ciphertext = encrypt_all(&dek, Binding { artifact_id: *id.as_bytes(), version: 1 }, 4096, &plain)?;
        let (v, wrapped) = ring.wrap(id.as_bytes(), &dek)?;
        let a = Artifact {
            id: licentia_domain::ArtifactId::from_uuid(id),
            organisation_id: org.id,
            attached_kind: "organisation".into(),
            attached_id: org.id.as_uuid(),
            version: 1,
            filename: format!("{i}.txt"),
            content_type: "text/plain".into(),
            size_bytes: plain.len() as i64,
            sha256: ring::digest::digest(&ring::digest::SHA256, &plain).as_ref().to_vec(),
            storage_key: uuid::Uuid::new_v4().simple().to_string(),
            key_version: v as i32,
            wrapped_key: wrapped,
            segment_size: 4096,
            created_by: None,
            created_at: chrono::Utc::now(),
            shredded_at: None,
        };
        licentia_db::artifacts::insert(&mut conn, &a).await?;
        out.push(Stored { id, plain, ciphertext });
    }
    Ok(out)
}

async fn all_decrypt(t: &TestDb, ring: &KeyRing, stored: &[Stored]) -> Res<()> {
    for s in stored {
        let (v, wrapped): (i32, Vec<u8>) =
            sqlx::query_as("SELECT key_version, wrapped_key FROM artifacts WHERE id = $1").bind(s.id).fetch_one(&t.db.pool).await?;
        let dek = ring.unwrap(v as u32, s.id.as_bytes(), &wrapped)?;
        assert_eq!(decrypt_all(&dek, Binding { artifact_id: *s.id.as_bytes(), version: 1 }, &s.ciphertext, 5000)?, s.plain);
    }
    Ok(())
}

#[tokio::test]
async fn rotate_interrupt_resume_and_retire_keep_every_artifact_readable() -> Res<()> {
    let t = TestDb::migrated().await?;
    let dir = std::env::temp_dir().join(format!("licentia-rot-{}", uuid::Uuid::new_v4()));
    let mut ring = KeyRing::load(&dir, true)?;
    let stored = seed(&t, &ring, 7).await?;
    let keys = licentia_crypto::KeyMaterial::load(&dir.join("node-keys"), true)?;
    let audit = &licentia_audit::AuditLog::new(
        keys.audit_macs.clone(),
        licentia_crypto::SigningKey::from_pkcs8(&keys.audit_pkcs8)?,
        licentia_audit::CheckpointFile::new(dir.join("checkpoints/audit-checkpoints.jsonl")),
        licentia_audit::Witness::open(dir.join("checkpoints/witness-test.jsonl")),
    );

    assert_eq!(rotation::add_version(&t.db, audit, &mut ring).await?, 2);
    // A rotation killed after three keys: the rest are still on version 1 and still readable.
    let first = rotation::rewrap(&t.db, audit, &ring, Some(3)).await?;
    assert_eq!(first.rewrapped, 3);
    assert_eq!(rotation::status(&t.db, &ring).await?, vec![(1, 4, true), (2, 3, true)]);
    all_decrypt(&t, &ring, &stored).await?;
    assert!(matches!(rotation::retire(&t.db, audit, &mut ring, 1).await, Err(RotationError::InUse { version: 1, count: 4 })));

    // Resuming finishes the job and touches each remaining key exactly once.
    let wrapped_before: Vec<Vec<u8>> = sqlx::query_scalar("SELECT wrapped_key FROM artifacts WHERE key_version = 2 ORDER BY id").fetch_all(&t.db.pool).await?;
    let second = rotation::rewrap(&t.db, audit, &ring, None).await?;
    assert_eq!(second.rewrapped, 4);
    let wrapped_after: Vec<Vec<u8>> =
        sqlx::query_scalar("SELECT wrapped_key FROM artifacts WHERE id IN (SELECT id FROM artifacts ORDER BY id LIMIT 3) ORDER BY id")
            .fetch_all(&t.db.pool)
            .await?;
    assert_eq!(wrapped_before, wrapped_after, "already re-wrapped keys were wrapped again");
    assert_eq!(rotation::rewrap(&t.db, audit, &ring, None).await?.rewrapped, 0, "nothing left to do");
    assert_eq!(rotation::status(&t.db, &ring).await?, vec![(1, 0, true), (2, 7, true)]);
    all_decrypt(&t, &ring, &stored).await?;

    rotation::retire(&t.db, audit, &mut ring, 1).await?;
    assert!(!dir.join("v1.key").exists());
    let reloaded = KeyRing::load(&dir, false)?;
    assert_eq!(reloaded.versions(), vec![2]);
    all_decrypt(&t, &reloaded, &stored).await?;
    let audited: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE action LIKE 'keys.%'").fetch_one(&t.db.pool).await?;
    assert!(audited >= 4, "rotation, re-wraps and retirement are audited");
    let report = audit.verify(&t.db).await?;
    assert!(report.ok() && report.witnessed_heads as i64 == audited, "every entry keyed and witnessed: {report:?}");
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

#[tokio::test]
async fn webhook_and_totp_secrets_move_with_the_master_key_and_hold_its_retirement() -> Res<()> {
    let t = TestDb::migrated().await?;
    let dir = std::env::temp_dir().join(format!("licentia-rot-{}", uuid::Uuid::new_v4()));
    let mut ring = KeyRing::load(&dir, true)?;
    let keys = licentia_crypto::KeyMaterial::load(&dir.join("node-keys"), true)?;
    let audit = &licentia_audit::AuditLog::new(
        keys.audit_macs.clone(),
        licentia_crypto::SigningKey::from_pkcs8(&keys.audit_pkcs8)?,
        licentia_audit::CheckpointFile::new(dir.join("checkpoints/audit-checkpoints.jsonl")),
        licentia_audit::Witness::open(dir.join("checkpoints/witness-test.jsonl")),
    );
    let mut conn = t.db.pool.acquire().await?;
    let org = licentia_db::organisations::insert(&mut conn, &OrgName::parse("Aurora")?, OrgKind::Licensor).await?;
    let user = licentia_db::users::insert(
        &mut conn,
        licentia_db::users::NewUser {
            organisation_id: org.id,
            email: &licentia_domain::Email::parse("admin@aurora.example")?,
            display_name: "Admin",
            password_hash: "x",
            role: licentia_domain::Role::Admin,
        },
    )
    .await?;
    let id = uuid::Uuid::now_v7();
    let secret = licentia_crypto::webhook::WebhookSecret::generate()?;
    let (v, sealed) = secret.seal(&ring, id.as_bytes())?;
    let endpoint = licentia_db::webhooks::NewEndpoint {
        id,
        organisation_id: org.id,
        url: "https://hooks.example.com/licentia",
        description: "",
        events: &["*".to_owned()],
        secret_version: v as i32,
        secret_sealed: &sealed,
        allow_private: false,
        created_by: user,
    };
    licentia_db::webhooks::insert(&mut conn, endpoint).await?;
    // The admin's authenticator-app secret, sealed by the same ring and bound to the user.
    let totp = licentia_crypto::totp::TotpSecret::generate()?;
    let (tv, tsealed) = totp.seal(&ring, user.as_uuid().as_bytes())?;
    assert!(licentia_db::factors::put_pending_totp(&mut conn, user, tv as i32, &tsealed).await?);
    drop(conn);

    assert_eq!(rotation::add_version(&t.db, audit, &mut ring).await?, 2);
    assert_eq!(rotation::status(&t.db, &ring).await?, vec![(1, 2, true), (2, 0, true)], "both secrets count as keys version 1 wraps");
    assert!(matches!(rotation::retire(&t.db, audit, &mut ring, 1).await, Err(RotationError::InUse { version: 1, count: 2 })));
    assert_eq!(rotation::rewrap(&t.db, audit, &ring, None).await?.rewrapped, 2);
    let (tv2, tresealed): (i32, Vec<u8>) = sqlx::query_as("SELECT key_version, sealed_secret FROM totp_credentials").fetch_one(&t.db.pool).await?;
    let (v2, resealed): (i32, Vec<u8>) = sqlx::query_as("SELECT secret_version, secret_sealed FROM webhook_endpoints").fetch_one(&t.db.pool).await?;
    rotation::retire(&t.db, audit, &mut ring, 1).await?;
    let opened = licentia_crypto::webhook::WebhookSecret::unseal(&KeyRing::load(&dir, false)?, v2 as u32, id.as_bytes(), &resealed)?;
    assert_eq!((v2, opened.reveal()), (2, secret.reveal()), "the same secret, now under version 2");
    let reopened = licentia_crypto::totp::TotpSecret::unseal(&KeyRing::load(&dir, false)?, tv2 as u32, user.as_uuid().as_bytes(), &tresealed)?;
    assert_eq!((tv2, reopened.code_at(1_000_000)), (2, totp.code_at(1_000_000)), "the same TOTP secret, now under version 2");
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
