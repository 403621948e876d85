//! S3-compatible object storage (AWS S3, MinIO, ...) through the `object_store` crate. Uploads are
//! S3 multipart uploads: the object exists only once the upload completes, so a crash mid-way never
//! leaves a visible half-written blob. Reads stream.

use std::sync::Arc;

use bytes::Bytes;
use futures_util::StreamExt as _;
use futures_util::stream::BoxStream;
use object_store::aws::{AmazonS3Builder, S3ConditionalPut};
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt as _, PutMode, PutOptions, WriteMultipart};

use crate::{StorageKey, StoreError};

#[derive(Debug, Clone)]
pub struct S3Settings {
    pub bucket: String,
    /// e.g. `http://127.0.0.1:9000` for MinIO; `None` for AWS itself.
    pub endpoint: Option<String>,
    pub region: String,
    /// From the environment when `None` (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, ...).
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
}

#[derive(Clone)]
pub struct S3Store {
    inner: Arc<dyn ObjectStore>,
    bucket: String,
}

impl std::fmt::Debug for S3Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "S3Store({})", self.bucket)
    }
}

fn remote(e: impl std::fmt::Display) -> StoreError {
    StoreError::Remote(e.to_string())
}

fn path(key: &StorageKey) -> ObjectPath {
    ObjectPath::from(format!("blobs/{}/{}", &key.as_str()[..2], key.as_str()))
}

impl S3Store {
    pub fn new(s: &S3Settings) -> Result<Self, StoreError> {
        // Conditional writes (`If-None-Match: *`) make `put_new` refuse to replace an object.
        let mut b = AmazonS3Builder::from_env().with_bucket_name(&s.bucket).with_region(&s.region).with_conditional_put(S3ConditionalPut::ETagMatch);
        if let Some(endpoint) = &s.endpoint {
            b = b.with_endpoint(endpoint).with_allow_http(endpoint.starts_with("http://")).with_virtual_hosted_style_request(false);
        }
        if let (Some(id), Some(secret)) = (&s.access_key_id, &s.secret_access_key) {
            b = b.with_access_key_id(id).with_secret_access_key(secret);
        }
        Ok(Self { inner: Arc::new(b.build().map_err(remote)?), bucket: s.bucket.clone() })
    }

    pub async fn create(&self) -> Result<S3Writer, StoreError> {
        let key = StorageKey::generate();
        let upload = self.inner.put_multipart(&path(&key)).await.map_err(remote)?;
        // 8 MiB parts (S3's minimum is 5 MiB), at most two in flight: bounded memory.
        Ok(S3Writer { key, upload: WriteMultipart::new_with_chunk_size(upload, 8 * 1024 * 1024) })
    }

    pub async fn open(&self, key: &StorageKey) -> Result<S3Reader, StoreError> {
        match self.inner.get(&path(key)).await {
            Ok(r) => Ok(S3Reader { stream: r.into_stream(), pending: Bytes::new() }),
            Err(object_store::Error::NotFound { .. }) => Err(StoreError::NotFound),
            Err(e) => Err(remote(e)),
        }
    }

    pub async fn delete(&self, key: &StorageKey) -> Result<(), StoreError> {
        self.inner.delete(&path(key)).await.map_err(remote)
    }

    /// Every blob under `blobs/` with its last-modified time.
    pub async fn list(&self) -> Result<Vec<(StorageKey, std::time::SystemTime)>, StoreError> {
        let prefix = ObjectPath::from("blobs");
        let mut stream = self.inner.list(Some(&prefix));
        let mut out = Vec::new();
        while let Some(meta) = stream.next().await {
            let meta = meta.map_err(remote)?;
            if let Some(Ok(key)) = meta.location.filename().map(StorageKey::parse) {
                out.push((key, std::time::SystemTime::from(meta.last_modified)));
            }
        }
        Ok(out)
    }

    /// Writes `name` (outside `blobs/`) only if no object has that name yet: `Ok(false)` when one
    /// does. With a bucket whose Object Lock default retention is on, such an object can then be
    /// neither replaced nor deleted before the retention ends, by the application or anyone else.
    pub async fn put_new(&self, name: &str, bytes: Vec<u8>) -> Result<bool, StoreError> {
        let opts = PutOptions { mode: PutMode::Create, ..Default::default() };
        match self.inner.put_opts(&ObjectPath::from(name), bytes.into(), opts).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::AlreadyExists { .. }) => Ok(false),
            Err(e) => Err(remote(e)),
        }
    }

    /// The names of the objects under `prefix/`, in name order.
    pub async fn names_under(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        let dir = ObjectPath::from(prefix);
        let mut stream = self.inner.list(Some(&dir));
        let mut names = Vec::new();
        while let Some(meta) = stream.next().await {
            names.push(meta.map_err(remote)?.location.to_string());
        }
        names.sort();
        Ok(names)
    }

    /// The names and contents of the objects under `prefix/`, in name order.
    pub async fn read_prefix(&self, prefix: &str) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        let mut out = Vec::new();
        for name in self.names_under(prefix).await? {
            let bytes = self.inner.get(&ObjectPath::from(name.as_str())).await.map_err(remote)?.bytes().await.map_err(remote)?;
            out.push((name, bytes.to_vec()));
        }
        Ok(out)
    }

    /// Deletes any object by name (tests use it to play an attacker with bucket access).
    pub async fn delete_named(&self, name: &str) -> Result<(), StoreError> {
        self.inner.delete(&ObjectPath::from(name)).await.map_err(remote)
    }

    /// Overwrites a blob in place (tests use it to tamper with ciphertext in the bucket).
    pub async fn put_raw(&self, key: &StorageKey, bytes: Vec<u8>) -> Result<(), StoreError> {
        self.inner.put(&path(key), bytes.into()).await.map(|_| ()).map_err(remote)
    }
}

pub struct S3Writer {
    key: StorageKey,
    upload: WriteMultipart,
}

impl S3Writer {
    pub fn key(&self) -> &StorageKey {
        &self.key
    }

    pub async fn write(&mut self, bytes: &[u8]) -> Result<(), StoreError> {
        self.upload.wait_for_capacity(2).await.map_err(remote)?;
        self.upload.write(bytes);
        Ok(())
    }

    pub async fn commit(self) -> Result<StorageKey, StoreError> {
        self.upload.finish().await.map_err(remote)?;
        Ok(self.key)
    }

    pub async fn abort(self) {
        let _ = self.upload.abort().await;
    }
}

pub struct S3Reader {
    stream: BoxStream<'static, object_store::Result<Bytes>>,
    pending: Bytes,
}

impl S3Reader {
    pub async fn read(&mut self, buf: &mut [u8]) -> Result<usize, StoreError> {
        while self.pending.is_empty() {
            match self.stream.next().await {
                Some(Ok(b)) => self.pending = b,
                Some(Err(e)) => return Err(remote(e)),
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.pending.len());
        buf[..n].copy_from_slice(&self.pending.split_to(n));
        Ok(n)
    }
}
