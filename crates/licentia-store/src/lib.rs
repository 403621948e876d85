//! Where encrypted artifact bytes live. The store only ever sees ciphertext.
//!
//! [`BlobStore`] is the one interface: the local filesystem ([`LocalStore`], the default) or
//! S3-compatible object storage ([`s3::S3Store`]), chosen by configuration.
//!
//! The local filesystem store writes to `<root>/tmp/<random>.part`, fsyncs, and renames into
//! `<root>/blobs/<ab>/<key>` (then fsyncs the folder), so a crash never leaves a half-written blob
//! under a real name; leftover `.part` files are removed by [`LocalStore::clean_temp`] at start.
//! Storage keys are generated here (32 hex digits) and checked on every access, so no client text
//! ever becomes a path.

use std::path::{Path, PathBuf};

use tokio::io::AsyncWriteExt as _;

pub mod s3;
pub mod testing;

pub use s3::S3Store;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("no such blob")]
    NotFound,
    #[error("invalid storage key")]
    BadKey,
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("object storage: {0}")]
    Remote(String),
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> StoreError + '_ {
    move |source| {
        if source.kind() == std::io::ErrorKind::NotFound { StoreError::NotFound } else { StoreError::Io { path: path.to_owned(), source } }
    }
}

/// A server-generated blob name: exactly 32 lower-case hex digits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorageKey(String);

impl StorageKey {
    pub fn generate() -> Self {
        Self(uuid::Uuid::new_v4().simple().to_string())
    }
    pub fn parse(s: &str) -> Result<Self, StoreError> {
        if s.len() == 32 && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) { Ok(Self(s.to_owned())) } else { Err(StoreError::BadKey) }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[derive(Debug, Clone)]
pub struct LocalStore {
    root: PathBuf,
}

impl LocalStore {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The final path of a blob (tests use it to tamper with ciphertext on disk).
    pub fn path_of(&self, key: &StorageKey) -> PathBuf {
        self.root.join("blobs").join(&key.0[..2]).join(&key.0)
    }

    fn tmp_dir(&self) -> PathBuf {
        self.root.join("tmp")
    }

    /// Starts a new blob under a fresh key.
    pub async fn create(&self) -> Result<LocalWriter, StoreError> {
        let dir = self.tmp_dir();
        tokio::fs::create_dir_all(&dir).await.map_err(io(&dir))?;
        let key = StorageKey::generate();
        let tmp = dir.join(format!("{}.part", key.0));
        let file = tokio::fs::OpenOptions::new().write(true).create_new(true).open(&tmp).await.map_err(io(&tmp))?;
        Ok(LocalWriter { file: Some(tokio::io::BufWriter::with_capacity(256 * 1024, file)), tmp, dest: self.path_of(&key), key, written: 0 })
    }

    pub async fn open(&self, key: &StorageKey) -> Result<tokio::fs::File, StoreError> {
        let path = self.path_of(key);
        tokio::fs::File::open(&path).await.map_err(io(&path))
    }

    pub async fn delete(&self, key: &StorageKey) -> Result<(), StoreError> {
        let path = self.path_of(key);
        tokio::fs::remove_file(&path).await.map_err(io(&path))
    }

    /// Every committed blob with the time it was written.
    pub fn list(&self) -> Result<Vec<(StorageKey, std::time::SystemTime)>, StoreError> {
        let base = self.root.join("blobs");
        let mut out = Vec::new();
        let shards = match std::fs::read_dir(&base) {
            Ok(s) => s,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
            Err(e) => return Err(io(&base)(e)),
        };
        for shard in shards.flatten() {
            let Ok(files) = std::fs::read_dir(shard.path()) else { continue };
            for f in files.flatten() {
                let (Some(name), Ok(meta)) = (f.file_name().to_str().map(str::to_owned), f.metadata()) else { continue };
                if let (Ok(key), Ok(modified)) = (StorageKey::parse(&name), meta.modified()) {
                    out.push((key, modified));
                }
            }
        }
        Ok(out)
    }

    /// Removes temp files left by a crash; returns how many.
    pub fn clean_temp(&self) -> Result<usize, StoreError> {
        let dir = self.tmp_dir();
        let mut n = 0;
        match std::fs::read_dir(&dir) {
            Ok(entries) => {
                for e in entries.flatten() {
                    if e.path().extension().is_some_and(|x| x == "part") && std::fs::remove_file(e.path()).is_ok() {
                        n += 1;
                    }
                }
                Ok(n)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(0),
            Err(e) => Err(io(&dir)(e)),
        }
    }
}

/// A blob being written. Dropping it without [`LocalWriter::commit`] leaves only a `.part` file,
/// which [`LocalWriter::abort`] (or the next start) removes.
pub struct LocalWriter {
    file: Option<tokio::io::BufWriter<tokio::fs::File>>,
    tmp: PathBuf,
    dest: PathBuf,
    key: StorageKey,
    written: u64,
}

impl LocalWriter {
    pub fn key(&self) -> &StorageKey {
        &self.key
    }

    pub fn written(&self) -> u64 {
        self.written
    }

    pub async fn write(&mut self, bytes: &[u8]) -> Result<(), StoreError> {
        let f = self.file.as_mut().ok_or(StoreError::BadKey)?;
        f.write_all(bytes).await.map_err(io(&self.tmp))?;
        self.written += bytes.len() as u64;
        Ok(())
    }

    /// Flushes, fsyncs and renames into place; after this the blob is visible under its key.
    pub async fn commit(mut self) -> Result<StorageKey, StoreError> {
        let mut f = self.file.take().ok_or(StoreError::BadKey)?;
        f.flush().await.map_err(io(&self.tmp))?;
        let file = f.into_inner();
        file.sync_all().await.map_err(io(&self.tmp))?;
        drop(file);
        if let Some(parent) = self.dest.parent() {
            tokio::fs::create_dir_all(parent).await.map_err(io(parent))?;
        }
        tokio::fs::rename(&self.tmp, &self.dest).await.map_err(io(&self.dest))?;
        if let Some(parent) = self.dest.parent()
            && let Ok(dir) = tokio::fs::File::open(parent).await
        {
            let _ = dir.sync_all().await;
        }
        Ok(self.key.clone())
    }

    pub async fn abort(mut self) {
        self.file.take();
        let _ = tokio::fs::remove_file(&self.tmp).await;
    }
}

/// The configured blob store.
#[derive(Debug, Clone)]
pub enum BlobStore {
    Local(LocalStore),
    S3(S3Store),
}

/// A blob being written to either store. Nothing is visible under its key before `commit`.
pub enum BlobWriter {
    Local(LocalWriter),
    S3(s3::S3Writer),
}

/// A blob being read, a buffer at a time.
pub enum BlobReader {
    Local(tokio::fs::File),
    S3(s3::S3Reader),
}

impl BlobStore {
    pub async fn create(&self) -> Result<BlobWriter, StoreError> {
        match self {
            BlobStore::Local(l) => l.create().await.map(BlobWriter::Local),
            BlobStore::S3(s) => s.create().await.map(BlobWriter::S3),
        }
    }

    pub async fn open(&self, key: &StorageKey) -> Result<BlobReader, StoreError> {
        match self {
            BlobStore::Local(l) => l.open(key).await.map(BlobReader::Local),
            BlobStore::S3(s) => s.open(key).await.map(BlobReader::S3),
        }
    }

    pub async fn delete(&self, key: &StorageKey) -> Result<(), StoreError> {
        match self {
            BlobStore::Local(l) => l.delete(key).await,
            BlobStore::S3(s) => s.delete(key).await,
        }
    }

    /// Every committed blob with the time it was written (for garbage collection).
    pub async fn list(&self) -> Result<Vec<(StorageKey, std::time::SystemTime)>, StoreError> {
        match self {
            BlobStore::Local(l) => l.list(),
            BlobStore::S3(s) => s.list().await,
        }
    }

    /// Removes what crashed uploads left behind (local temp files; S3 multipart uploads that were
    /// never completed are invisible and expire by the bucket's lifecycle rule).
    pub fn clean_temp(&self) -> Result<usize, StoreError> {
        match self {
            BlobStore::Local(l) => l.clean_temp(),
            BlobStore::S3(_) => Ok(0),
        }
    }

    /// Reads a whole blob (tests and small files only).
    pub async fn read_all(&self, key: &StorageKey) -> Result<Vec<u8>, StoreError> {
        let mut r = self.open(key).await?;
        let mut out = Vec::new();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = r.read(&mut buf).await?;
            if n == 0 {
                return Ok(out);
            }
            out.extend_from_slice(&buf[..n]);
        }
    }
}

impl BlobWriter {
    pub fn key(&self) -> &StorageKey {
        match self {
            BlobWriter::Local(w) => w.key(),
            BlobWriter::S3(w) => w.key(),
        }
    }

    pub async fn write(&mut self, bytes: &[u8]) -> Result<(), StoreError> {
        match self {
            BlobWriter::Local(w) => w.write(bytes).await,
            BlobWriter::S3(w) => w.write(bytes).await,
        }
    }

    pub async fn commit(self) -> Result<StorageKey, StoreError> {
        match self {
            BlobWriter::Local(w) => w.commit().await,
            BlobWriter::S3(w) => w.commit().await,
        }
    }

    pub async fn abort(self) {
        match self {
            BlobWriter::Local(w) => w.abort().await,
            BlobWriter::S3(w) => w.abort().await,
        }
    }
}

impl BlobReader {
    /// Fills `buf` from the blob; 0 at the end.
    pub async fn read(&mut self, buf: &mut [u8]) -> Result<usize, StoreError> {
        match self {
            BlobReader::Local(f) => {
                use tokio::io::AsyncReadExt as _;
                f.read(buf).await.map_err(|e| StoreError::Io { path: PathBuf::from("<blob>"), source: e })
            }
            BlobReader::S3(r) => r.read(buf).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn blobs_appear_only_when_committed_and_temp_files_are_cleaned() -> Result<(), StoreError> {
        let root = std::env::temp_dir().join(format!("licentia-store-{}", uuid::Uuid::new_v4()));
        let store = LocalStore::new(&root);
        let mut w = store.create().await?;
        w.write(b"ciphertext").await?;
        let key = w.key().clone();
        assert!(!store.path_of(&key).exists(), "visible before commit");
        let key = w.commit().await?;
        assert_eq!(tokio::fs::read(store.path_of(&key)).await.map_err(io(&root))?, b"ciphertext");
        let mut crashed = store.create().await?;
        crashed.write(b"half").await?;
        std::mem::forget(crashed);
        assert_eq!(store.clean_temp()?, 1);
        assert!(matches!(StorageKey::parse("../../etc/passwd"), Err(StoreError::BadKey)));
        assert!(StorageKey::parse(key.as_str()).is_ok());
        let _ = std::fs::remove_dir_all(&root);
        Ok(())
    }
}
