//! The S3 backend against a real S3-compatible server.

use licentia_store::{BlobStore, StoreError};

#[tokio::test]
async fn multipart_blobs_appear_only_when_complete_and_read_back_intact() -> Result<(), StoreError> {
    let Some(endpoint) = licentia_store::testing::endpoint() else { return Ok(()) };
    let store = BlobStore::S3(licentia_store::testing::fresh_bucket(&endpoint).await?);
    // 20 MiB: three multipart parts of 8 MiB.
    let data: Vec<u8> = (0..20 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    let mut w = store.create().await?;
    for chunk in data.chunks(300_000) {
        w.write(chunk).await?;
    }
    let key = w.key().clone();
    assert!(matches!(store.open(&key).await, Err(StoreError::NotFound)), "visible before completion");
    let key = w.commit().await?;
    assert_eq!(store.read_all(&key).await?, data);

    let mut aborted = store.create().await?;
    aborted.write(&data[..1000]).await?;
    let ghost = aborted.key().clone();
    aborted.abort().await;
    assert!(matches!(store.open(&ghost).await, Err(StoreError::NotFound)));

    store.delete(&key).await?;
    assert!(matches!(store.open(&key).await, Err(StoreError::NotFound)));
    Ok(())
}
