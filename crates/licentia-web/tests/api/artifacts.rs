//! Encrypted artifacts over HTTP: round trip, tampering of every kind, scoping, limits, types.

use actix_web::http::StatusCode;
use serde_json::Value;

use crate::helpers::*;

const MARKER: &[u8] = b"LICENTIA-PLAINTEXT-MARKER-7f3a";

/// A multipart body with the attachment fields and one file.
pub fn multipart(attached_id: &str, filename: &str, content_type: &str, data: &[u8]) -> (String, Vec<u8>) {
    let boundary = "licentia-test-boundary-8d1c";
    let mut body = Vec::new();
    for (name, value) in [("attached_kind", "organisation"), ("attached_id", attached_id)] {
        body.extend_from_slice(format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n").as_bytes());
    }
    body.extend_from_slice(
        format!("--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{filename}\"\r\nContent-Type: {content_type}\r\n\r\n").as_bytes(),
    );
    body.extend_from_slice(data);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// A PDF-looking file of `len` bytes with the marker repeated through it.
fn sample(len: usize) -> Vec<u8> {
    let mut v = b"%PDF-1.7\n".to_vec();
    let mut i = 0u32;
    while v.len() < len {
        v.extend_from_slice(MARKER);
        v.extend_from_slice(format!(" line {i}\n").as_bytes());
        i += 1;
    }
    v.truncate(len);
    v
}

async fn upload(app: &TestApp, token: &str, org: &str, name: &str, ct: &str, data: &[u8]) -> Res<Reply> {
    let (content_type, body) = multipart(org, name, ct, data);
    app.send_body(app.post("/api/v1/artifacts").bearer_auth(token).insert_header(("content-type", content_type)), body).await
}

/// Downloads content over a raw connection, so that a response the server cuts short (integrity
/// abort) is seen exactly: `Err` with the bytes that arrived before the cut.
async fn download(app: &TestApp, token: &str, id: &str) -> Res<(StatusCode, Result<Vec<u8>, Vec<u8>>)> {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let addr = app.srv.addr();
    let mut conn = tokio::net::TcpStream::connect(addr).await?;
    let request = format!("GET /api/v1/artifacts/{id}/content HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n");
    conn.write_all(request.as_bytes()).await?;
    let mut raw = Vec::new();
    // A reset connection after an abort is the expected end of a bad download.
    let _ = conn.read_to_end(&mut raw).await;
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").ok_or("no HTTP header")?;
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let body = raw[split + 4..].to_vec();
    let status: u16 = head.split_whitespace().nth(1).ok_or("no status")?.parse()?;
    let length: Option<usize> =
        head.lines().find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_owned())).and_then(|v| v.parse().ok());
    let status = StatusCode::from_u16(status)?;
    match length {
        Some(n) if n == body.len() => Ok((status, Ok(body))),
        _ => Ok((status, Err(body))),
    }
}

fn blob_files(app: &TestApp) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![app.dir.join("blobs")];
    while let Some(d) = stack.pop() {
        if let Ok(entries) = std::fs::read_dir(&d) {
            for e in entries.flatten() {
                if e.path().is_dir() {
                    stack.push(e.path());
                } else {
                    out.push(e.path());
                }
            }
        }
    }
    out
}

#[actix_web::test]
async fn an_upload_is_encrypted_at_rest_and_downloads_intact() -> TestResult {
    let app = spawn_app().await?;
    let token = app.token("licensee").await?;
    let data = sample(300_000);
    let r = upload(&app, &token, &app.licensee_a.to_string(), "../../contract v2.pdf", "application/pdf", &data).await?;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let meta: Value = r.json();
    assert_eq!(meta["filename"], "contract v2.pdf", "path components are dropped");
    assert_eq!(meta["content_type"], "application/pdf");
    assert_eq!(meta["size_bytes"], 300_000);
    let digest = ring::digest::digest(&ring::digest::SHA256, &data);
    assert_eq!(meta["sha256"].as_str(), Some(hex::encode(digest.as_ref()).as_str()));
    assert!(meta.get("wrapped_key").is_none() && meta.get("storage_key").is_none());
    let id = meta["id"].as_str().ok_or("no id")?.to_owned();

    let files = blob_files(&app);
    assert_eq!(files.len(), 1);
    let on_disk = std::fs::read(&files[0])?;
    assert!(on_disk.len() > data.len());
    assert!(!on_disk.windows(MARKER.len()).any(|w| w == MARKER), "plaintext marker found at rest");
    assert!(!on_disk.windows(8).any(|w| w == b"%PDF-1.7"));

    let (status, body) = download(&app, &token, &id).await?;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body.map_err(|_| "download cut short")?, data);
    let res = app.get(&format!("/api/v1/artifacts/{id}/content")).bearer_auth(&token).send().await?;
    let cd = res.headers().get("content-disposition").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    assert!(cd.starts_with("attachment; filename=\"contract v2.pdf\""), "{cd}");
    let audited = app.count("SELECT count(*) FROM audit_log WHERE action IN ('artifact.uploaded', 'artifact.downloaded')").await?;
    assert!(audited >= 3);
    Ok(())
}

#[actix_web::test]
async fn every_kind_of_tampering_aborts_the_download_and_is_audited() -> TestResult {
    let app = spawn_app().await?;
    let token = app.token("manager").await?;
    // Nine full 64 KiB segments and a short last one: larger than what the server checks before
    // answering (256 KiB), so late damage is met mid-stream.
    let data = sample(600_000);
    let org = app.licensor.to_string();
    let mut ids = Vec::new();
    for i in 0..10 {
        let r = upload(&app, &token, &org, &format!("f{i}.pdf"), "application/pdf", &data).await?;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        ids.push(r.json()["id"].as_str().ok_or("no id")?.to_owned());
    }
    let mut paths = Vec::new();
    for id in &ids {
        let key: String = sqlx::query_scalar("SELECT storage_key FROM artifacts WHERE id = $1::uuid").bind(id).fetch_one(&app.t.db.pool).await?;
        paths.push(app.dir.join("blobs/blobs").join(&key[..2]).join(&key));
    }
    const HEADER: usize = 15;
    const SEG: usize = 64 * 1024 + 16;
    let edit = |p: &std::path::Path, f: &dyn Fn(&mut Vec<u8>)| -> Res<()> {
        let mut b = std::fs::read(p)?;
        f(&mut b);
        std::fs::write(p, b)?;
        Ok(())
    };
    edit(&paths[0], &|b| b[5] ^= 1)?; // header (segment size)
    edit(&paths[1], &|b| b[HEADER + SEG + 100] ^= 1)?; // second segment's ciphertext
    edit(&paths[2], &|b| b[HEADER + SEG - 3] ^= 1)?; // first segment's tag
    edit(&paths[3], &|b| b.truncate(HEADER + 9 * SEG))?; // last segment dropped
    edit(&paths[4], &|b| {
        let extra = b[HEADER..HEADER + SEG].to_vec();
        b.extend_from_slice(&extra)
    })?; // a segment appended
    edit(&paths[5], &|b| {
        let (s1, s2) = (b[HEADER..HEADER + SEG].to_vec(), b[HEADER + SEG..HEADER + 2 * SEG].to_vec());
        b[HEADER..HEADER + SEG].copy_from_slice(&s2);
        b[HEADER + SEG..HEADER + 2 * SEG].copy_from_slice(&s1);
    })?; // two segments swapped
    // Artifact 7's ciphertext and wrapped key moved onto artifact 6's row.
    std::fs::copy(&paths[7], &paths[6])?;
    sqlx::query("UPDATE artifacts SET wrapped_key = (SELECT wrapped_key FROM artifacts WHERE id = $2::uuid) WHERE id = $1::uuid")
        .bind(&ids[6])
        .bind(&ids[7])
        .execute(&app.t.db.pool)
        .await?;
    // The stored digest altered: every segment authenticates, the whole file does not match.
    sqlx::query("UPDATE artifacts SET sha256 = decode(repeat('00', 32), 'hex') WHERE id = $1::uuid").bind(&ids[8]).execute(&app.t.db.pool).await?;
    edit(&paths[9], &|b| b[HEADER + 7 * SEG + 10] ^= 4)?; // a late segment, met mid-stream

    for (i, id) in ids.iter().enumerate().filter(|(i, _)| *i != 7) {
        let (status, body) = download(&app, &token, id).await.map_err(|e| format!("case {i}: {e}"))?;
        match body {
            // Refused before streaming (the data key does not unwrap): an error, no content.
            Ok(full) if status != StatusCode::OK => {
                assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "case {i}");
                assert!(!full.windows(MARKER.len()).any(|w| w == MARKER), "case {i}");
            }
            Ok(full) => panic!("case {i}: tampered artifact downloaded ({status}, {} bytes)", full.len()),
            Err(partial) => {
                assert!(partial.len() < data.len(), "case {i}");
                assert!(data.starts_with(&partial), "case {i}: bytes that are not the original's reached the client");
            }
        }
    }
    // The untouched one still downloads.
    assert_eq!(download(&app, &token, &ids[7]).await?.1.map_err(|_| "intact artifact failed")?, data);
    // Each failure is audited (the stream's entry is written just after the response ends).
    let mut failures = 0;
    for _ in 0..50 {
        failures = app.count("SELECT count(*) FROM audit_log WHERE action = 'artifact.integrity_failed'").await?;
        if failures >= 9 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(failures, 9);
    Ok(())
}

#[actix_web::test]
async fn other_organisations_get_404_and_auditors_never_read_datasets() -> TestResult {
    let app = spawn_app().await?;
    let a = app.token("licensee").await?;
    let b = app.token("licensee_b").await?;
    let r = upload(&app, &a, &app.licensee_a.to_string(), "mine.csv", "text/csv", b"x,y\n1,2\n").await?;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let id = r.json()["id"].as_str().ok_or("no id")?.to_owned();
    for path in [format!("/api/v1/artifacts/{id}"), format!("/api/v1/artifacts/{id}/content")] {
        let foreign = app.get_as(&b, &path).await?;
        assert_eq!(foreign.status, StatusCode::NOT_FOUND, "{path}");
        assert!(!foreign.body.contains("mine.csv"));
    }
    // B cannot attach to A's organisation either.
    let r = upload(&app, &b, &app.licensee_a.to_string(), "x.csv", "text/csv", b"a\n").await?;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    // A dataset-kind artifact (the datasets feature creates them; here the row is made directly).
    sqlx::query("UPDATE artifacts SET attached_kind = 'dataset' WHERE id = $1::uuid").bind(&id).execute(&app.t.db.pool).await?;
    let auditor = app.token("auditor").await?;
    assert_eq!(app.get_as(&auditor, &format!("/api/v1/artifacts/{id}")).await?.status, StatusCode::OK, "metadata is visible");
    let denied = app.get_as(&auditor, &format!("/api/v1/artifacts/{id}/content")).await?;
    assert_eq!(denied.status, StatusCode::FORBIDDEN);
    assert!(!denied.body.contains("x,y"));
    let (status, body) = download(&app, &a, &id).await?;
    assert_eq!((status, body.ok()), (StatusCode::OK, Some(b"x,y\n1,2\n".to_vec())), "the owner still reads it");
    Ok(())
}

#[actix_web::test]
async fn oversized_and_spoofed_uploads_are_refused_and_leave_nothing_behind() -> TestResult {
    let app = spawn_with(|s| s.max_upload = 100 * 1024).await?;
    let token = app.token("manager").await?;
    let org = app.licensor.to_string();
    let exact = upload(&app, &token, &org, "ok.pdf", "application/pdf", &sample(100 * 1024)).await?;
    assert_eq!(exact.status, StatusCode::CREATED, "{}", exact.body);
    // One byte over, with Content-Length far over: refused before reading.
    let r = upload(&app, &token, &org, "big.pdf", "application/pdf", &sample(100 * 1024 + 1)).await?;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", r.body);
    let r = upload(&app, &token, &org, "huge.pdf", "application/pdf", &sample(400 * 1024)).await?;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    // A PDF declared as PNG, and an executable declared as text.
    let r = upload(&app, &token, &org, "cat.png", "image/png", &sample(1000)).await?;
    assert_eq!(r.status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{}", r.body);
    let r = upload(&app, &token, &org, "notes.txt", "text/plain", b"MZ\x90\x00\x03\x00\x00\x00\x04\x00").await?;
    assert_eq!(r.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    // Garbage instead of multipart.
    let r = app
        .send_body(app.post("/api/v1/artifacts").bearer_auth(&token).insert_header(("content-type", "multipart/form-data; boundary=x")), "not multipart")
        .await?;
    assert!(r.status.is_client_error(), "{}", r.status);
    assert_eq!(app.count("SELECT count(*) FROM artifacts").await?, 1);
    let files = blob_files(&app);
    assert_eq!(files.len(), 1, "only the accepted blob exists, no temp files: {files:?}");
    Ok(())
}

#[actix_web::test]
async fn the_attachments_partial_uploads_lists_and_downloads_from_the_browser() -> TestResult {
    let app = spawn_app().await?;
    let s = app.browser_login("licensee").await?;
    let org = app.licensee_a.to_string();
    let page = format!("/organisations/{org}");
    let (ct, body) = multipart(&org, "nda <signed>.pdf", "application/pdf", &sample(5000));
    // Without the CSRF token a multipart post from the browser changes nothing.
    let refused =
        app.send_body(app.post("/attachments").insert_header(("cookie", s.cookie.clone())).insert_header(("content-type", ct.clone())), body.clone()).await?;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(app.count("SELECT count(*) FROM artifacts").await?, 0);
    let ok = app
        .send_body(
            app.post(&format!("/attachments?csrf={}&return_to={page}", s.csrf)).insert_header(("cookie", s.cookie.clone())).insert_header(("content-type", ct)),
            body,
        )
        .await?;
    assert_eq!(ok.status, StatusCode::SEE_OTHER, "{}", ok.body);
    assert!(ok.header("location").unwrap_or_default().starts_with(&page));
    let shown = app.send(app.get(&page).insert_header(("cookie", s.cookie.clone()))).await?;
    assert_eq!(shown.status, StatusCode::OK);
    assert!(shown.body.contains("id=\"attachments\"") && shown.body.contains("nda &#60;signed&#62;.pdf"), "{}", shown.body);
    let link_at = shown.body.find("/api/v1/artifacts/").ok_or("no download link")?;
    let link: String = shown.body[link_at..].chars().take_while(|c| *c != '"').collect();
    let file = app.send(app.get(&link).insert_header(("cookie", s.cookie.clone()))).await?;
    assert_eq!(file.status, StatusCode::OK);
    assert!(file.body.starts_with("%PDF-1.7"));
    // Another licensee sees neither the page nor the file.
    let other = app.browser_login("licensee_b").await?;
    assert_eq!(app.send(app.get(&page).insert_header(("cookie", other.cookie.clone()))).await?.status, StatusCode::NOT_FOUND);
    assert_eq!(app.send(app.get(&link).insert_header(("cookie", other.cookie.clone()))).await?.status, StatusCode::NOT_FOUND);
    Ok(())
}

#[actix_web::test]
async fn with_the_s3_backend_the_bucket_holds_only_ciphertext_and_tampering_is_caught() -> TestResult {
    let Some(endpoint) = licentia_store::testing::endpoint() else { return Ok(()) };
    let s3 = licentia_store::testing::fresh_bucket(&endpoint).await?;
    let app = spawn_full(|_| {}, Some(licentia_store::BlobStore::S3(s3.clone()))).await?;
    let token = app.token("manager").await?;
    let data = sample(700_000);
    let r = upload(&app, &token, &app.licensor.to_string(), "s3.pdf", "application/pdf", &data).await?;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let id = r.json()["id"].as_str().ok_or("no id")?.to_owned();
    let key: String = sqlx::query_scalar("SELECT storage_key FROM artifacts WHERE id = $1::uuid").bind(&id).fetch_one(&app.t.db.pool).await?;
    let key = licentia_store::StorageKey::parse(&key)?;
    let in_bucket = app.store.read_all(&key).await?;
    assert!(!in_bucket.windows(MARKER.len()).any(|w| w == MARKER), "plaintext in the bucket");
    assert_eq!(download(&app, &token, &id).await?.1.map_err(|_| "download cut short")?, data);
    let mut tampered = in_bucket.clone();
    tampered[15 + 6 * (64 * 1024 + 16) + 1] ^= 1;
    s3.put_raw(&key, tampered).await?;
    let (_, body) = download(&app, &token, &id).await?;
    let partial = body.err().ok_or("tampered S3 object downloaded whole")?;
    assert!(data.starts_with(&partial) && partial.len() < data.len());
    Ok(())
}
