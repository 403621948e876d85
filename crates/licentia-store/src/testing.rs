//! Test support for the S3 backend: the endpoint of a local S3-compatible server (moto in server
//! mode in CI, see `.ci/run`) and a fresh bucket per test.

use crate::s3::S3Settings;
use crate::{S3Store, StoreError};

/// `LICENTIA_TEST_S3_ENDPOINT`, e.g. `http://127.0.0.1:5005`. When it is unset the S3 tests say so
/// and pass, unless `LICENTIA_REQUIRE_S3_TEST=1` (set by `.ci/run`), where they fail instead.
pub fn endpoint() -> Option<String> {
    match std::env::var("LICENTIA_TEST_S3_ENDPOINT") {
        Ok(e) if !e.is_empty() => Some(e),
        _ => {
            assert!(std::env::var("LICENTIA_REQUIRE_S3_TEST").as_deref() != Ok("1"), "LICENTIA_REQUIRE_S3_TEST=1 but LICENTIA_TEST_S3_ENDPOINT is unset");
            // Straight to the terminal: the test harness hides what a passing test prints with eprintln!.
            std::io::Write::write_fmt(
                &mut std::io::stderr(),
                format_args!("SKIPPED an S3 test: set LICENTIA_TEST_S3_ENDPOINT to a local S3-compatible server (moto_server, MinIO)\n"),
            )
            .ok();
            None
        }
    }
}

/// Creates a new bucket (a plain `PUT /<bucket>`, which moto accepts unsigned) and a store on it.
pub async fn fresh_bucket(endpoint: &str) -> Result<S3Store, StoreError> {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let bucket = format!("licentia-test-{}", uuid::Uuid::new_v4().simple());
    let host = endpoint.trim_start_matches("http://").trim_end_matches('/').to_owned();
    let io = |e: std::io::Error| StoreError::Remote(e.to_string());
    let mut conn = tokio::net::TcpStream::connect(&host).await.map_err(io)?;
    conn.write_all(format!("PUT /{bucket} HTTP/1.1\r\nHost: {host}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").as_bytes()).await.map_err(io)?;
    let mut reply = Vec::new();
    conn.read_to_end(&mut reply).await.map_err(io)?;
    if !reply.starts_with(b"HTTP/1.1 200") {
        return Err(StoreError::Remote(format!("bucket creation failed: {}", String::from_utf8_lossy(&reply[..reply.len().min(200)]))));
    }
    S3Store::new(&S3Settings {
        bucket,
        endpoint: Some(endpoint.to_owned()),
        region: "us-east-1".into(),
        access_key_id: Some("testing".into()),
        secret_access_key: Some("testing".into()),
    })
}
