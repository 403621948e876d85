//! Encrypted artifacts as the use cases write and read them: envelope encryption (a data key per
//! artifact, wrapped by the master key ring) into the blob store, whole-file reads checked against
//! the stored SHA-256, and what a file may be called and claim to be.

use licentia_crypto::envelope::{Binding, DEFAULT_SEGMENT, DataKey, Decryptor, Encryptor};
use licentia_db::artifacts::Artifact;
use licentia_domain::{ArtifactId, OrganisationId, UserId};
use licentia_store::StorageKey;
use uuid::Uuid;

use crate::error::{AppError, AppResult};
use crate::state::AppState;

/// A display name safe for headers and pages: the last path component, no control characters or
/// quotes, at most 200 characters. Storage never uses it.
pub fn sanitise_filename(raw: &str) -> String {
    let base = raw.rsplit(['/', '\\']).next().unwrap_or("");
    let clean: String = base.chars().filter(|c| !c.is_control() && !is_invisible_format(*c) && !matches!(c, '"' | '\\' | '/' | ';')).take(200).collect();
    let clean = clean.trim().trim_start_matches('.').to_owned();
    if clean.is_empty() { "file".to_owned() } else { clean }
}

/// Unicode bidirectional controls and invisible format characters: a right-to-left override makes
/// `a\u{202E}gnp.exe` display as `aexe.png` (Trojan Source, CVE-2021-42574).
fn is_invisible_format(c: char) -> bool {
    matches!(c, '\u{061C}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2069}' | '\u{FEFF}')
}

/// The content type the bytes show, from their first bytes.
pub fn sniff(head: &[u8], declared: Option<&str>) -> &'static str {
    let starts = |m: &[u8]| head.starts_with(m);
    if starts(b"%PDF-") {
        "application/pdf"
    } else if starts(b"\x89PNG\r\n\x1a\n") {
        "image/png"
    } else if starts(b"\xff\xd8\xff") {
        "image/jpeg"
    } else if starts(b"GIF87a") || starts(b"GIF89a") {
        "image/gif"
    } else if starts(b"PK\x03\x04") {
        "application/zip"
    } else if is_text(head) {
        if declared.is_some_and(|d| d.starts_with("text/csv")) { "text/csv" } else { "text/plain" }
    } else {
        "application/octet-stream"
    }
}

fn is_text(head: &[u8]) -> bool {
    let valid = match std::str::from_utf8(head) {
        Ok(_) => true,
        // A multi-byte character cut at the end of the sniffed window is still text.
        Err(e) => e.error_len().is_none() && head.len() - e.valid_up_to() < 4,
    };
    valid && !head.contains(&0)
}

/// A declared type is honoured only when the bytes agree with it: `image/png` that is really a
/// PDF (or an executable) is refused.
pub fn declared_matches(declared: Option<&str>, sniffed: &str) -> bool {
    match declared.map(|d| d.split(';').next().unwrap_or("").trim().to_ascii_lowercase()) {
        None => true,
        Some(d) if d.is_empty() || d == "application/octet-stream" => true,
        Some(d) if d.starts_with("text/") => sniffed.starts_with("text/"),
        Some(d) => d == sniffed,
    }
}

pub fn binding(id: ArtifactId, version: i32) -> Binding {
    Binding { artifact_id: *id.as_uuid().as_bytes(), version: u32::try_from(version).unwrap_or(0) }
}

pub fn check_type(head: &[u8], declared: Option<&str>) -> AppResult<&'static str> {
    let sniffed = sniff(head, declared);
    if declared_matches(declared, sniffed) {
        Ok(sniffed)
    } else {
        Err(AppError::UnsupportedMediaType { expected: "a declared content type that matches the file's bytes" })
    }
}

/// Decrypts a whole artifact into memory and checks its digest (datasets and model weights,
/// which the server itself reads; bounded by the upload limit).
pub async fn read_all(state: &AppState, a: &Artifact) -> AppResult<Vec<u8>> {
    let mut out = Vec::with_capacity(usize::try_from(a.size_bytes).unwrap_or(0));
    read_pieces(state, a, |piece| {
        out.extend_from_slice(&piece);
        Ok(true)
    })
    .await?;
    Ok(out)
}

/// An erased artifact's content is gone on purpose (its data key was destroyed): 410, before any
/// attempt to unwrap a key that is no longer there.
pub fn still_readable(a: &Artifact) -> AppResult<()> {
    match a.shredded_at {
        Some(at) => Err(AppError::Gone { message: format!("this content was erased on {} (its data key was destroyed)", at.format("%Y-%m-%d %H:%M UTC")) }),
        None => Ok(()),
    }
}

/// Decrypts an artifact a segment at a time, handing each plaintext piece to `each` until it
/// answers `false`. Every segment is authenticated before it is handed over; read to the end,
/// the plaintext's SHA-256 is checked against the stored one too.
pub async fn read_pieces(state: &AppState, a: &Artifact, mut each: impl FnMut(Vec<u8>) -> AppResult<bool>) -> AppResult<()> {
    still_readable(a)?;
    let dek = state.keyring.unwrap(u32::try_from(a.key_version).unwrap_or(0), a.id.as_uuid().as_bytes(), &a.wrapped_key).map_err(|_| AppError::Integrity)?;
    let key = StorageKey::parse(&a.storage_key).map_err(AppError::internal)?;
    let mut file = state.store.open(&key).await.map_err(AppError::internal)?;
    let mut dec = Decryptor::new(&dek, binding(a.id, a.version)).map_err(AppError::internal)?;
    let mut sha = ring::digest::Context::new(&ring::digest::SHA256);
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = file.read(&mut buf).await.map_err(AppError::internal)?;
        if n == 0 {
            break;
        }
        let piece = dec.push(&buf[..n]).map_err(|_| AppError::Integrity)?;
        sha.update(&piece);
        if !piece.is_empty() && !each(piece)? {
            return Ok(());
        }
    }
    let last = dec.finish().map_err(|_| AppError::Integrity)?;
    sha.update(&last);
    if sha.finish().as_ref() != a.sha256.as_slice() {
        return Err(AppError::Integrity);
    }
    if !last.is_empty() {
        each(last)?;
    }
    Ok(())
}

/// Records an uploaded artifact whose blob is already stored: its row and audit entry in one
/// transaction, or, when that fails, no row and no blob (unreferenced ciphertext is deleted).
pub async fn record_upload(state: &AppState, actor: &crate::Actor, artifact: &Artifact) -> AppResult<()> {
    let stored = async {
        let mut tx = state.db.begin().await?;
        licentia_db::artifacts::insert(&mut tx, artifact).await?;
        let event = actor.event("artifact.uploaded", licentia_audit::Outcome::Success).target("artifact", artifact.id).details(serde_json::json!({
            "attached_kind": artifact.attached_kind, "attached_id": artifact.attached_id, "size": artifact.size_bytes,
            "content_type": artifact.content_type, "filename": artifact.filename,
        }));
        let seq = state.audit(&mut tx, event).await?;
        tx.commit().await.map_err(licentia_db::DbError::from)?;
        Ok::<licentia_audit::Appended, AppError>(seq)
    }
    .await;
    match stored {
        Ok(seq) => {
            state.audited(seq).await;
            Ok(())
        }
        Err(e) => {
            if let Ok(key) = StorageKey::parse(&artifact.storage_key) {
                let _ = state.store.delete(&key).await;
            }
            Err(e)
        }
    }
}

/// What a garbage collection of the blob store found and did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct GcReport {
    pub blobs: usize,
    /// Blobs no artifact row refers to.
    pub orphans: usize,
    /// Orphans old enough to delete (younger ones may belong to an upload still in flight, whose
    /// row is written after its blob).
    pub deleted: usize,
}

/// Deletes blobs that no artifact row refers to and that are older than `grace` (or only counts
/// them with `dry_run`); audited when anything was deleted. `licentia blobs gc` and the start of
/// `licentia serve` call it.
pub async fn collect_garbage(state: &AppState, grace: std::time::Duration, dry_run: bool) -> AppResult<GcReport> {
    let blobs = state.store.list().await.map_err(AppError::internal)?;
    let mut conn = state.db.pool.acquire().await.map_err(licentia_db::DbError::from)?;
    let referenced = licentia_db::artifacts::storage_keys(&mut conn).await?;
    drop(conn);
    let now = std::time::SystemTime::now();
    let mut report = GcReport { blobs: blobs.len(), ..GcReport::default() };
    for (key, written) in blobs {
        if referenced.contains(key.as_str()) {
            continue;
        }
        report.orphans += 1;
        let old_enough = now.duration_since(written).is_ok_and(|age| age >= grace);
        if old_enough && !dry_run && state.store.delete(&key).await.is_ok() {
            report.deleted += 1;
        }
    }
    if report.deleted > 0 {
        let event = licentia_audit::AuditEvent::new("blobs.collected", licentia_audit::Outcome::Success)
            .actor(None, Some("licentia".into()), None)
            .details(serde_json::json!({ "blobs": report.blobs, "orphans": report.orphans, "deleted": report.deleted }));
        state.audit_alone(event).await?;
    }
    Ok(report)
}

/// A blob being encrypted into the store: a fresh data key, wrapped by the master key ring, and
/// the plaintext's SHA-256 and size counted as it goes.
struct Sealing {
    id: ArtifactId,
    enc: Encryptor,
    writer: licentia_store::BlobWriter,
    sha: ring::digest::Context,
    size: u64,
    key_version: u32,
    wrapped: Vec<u8>,
}

impl Sealing {
    const VERSION: i32 = 1;

    async fn begin(state: &AppState) -> AppResult<Self> {
        let id = ArtifactId::new();
        let dek = DataKey::generate().map_err(AppError::internal)?;
        let (key_version, wrapped) = state.keyring.wrap(id.as_uuid().as_bytes(), &dek).map_err(AppError::internal)?;
        let enc = Encryptor::new(&dek, binding(id, Self::VERSION), DEFAULT_SEGMENT).map_err(AppError::internal)?;
        let writer = state.store.create().await.map_err(AppError::internal)?;
        Ok(Self { id, enc, writer, sha: ring::digest::Context::new(&ring::digest::SHA256), size: 0, key_version, wrapped })
    }

    async fn push(&mut self, plain: &[u8]) -> AppResult<()> {
        self.sha.update(plain);
        self.size += plain.len() as u64;
        for chunk in plain.chunks(DEFAULT_SEGMENT) {
            let ct = self.enc.push(chunk).map_err(AppError::internal)?;
            self.writer.write(&ct).await.map_err(AppError::internal)?;
        }
        Ok(())
    }

    async fn commit(mut self, by: Option<UserId>, org: OrganisationId, kind: &str, attached: Uuid, filename: &str, content_type: &str) -> AppResult<Artifact> {
        let tail = match self.enc.finish() {
            Ok(tail) => tail,
            Err(e) => {
                self.writer.abort().await;
                return Err(AppError::internal(e));
            }
        };
        if let Err(e) = self.writer.write(&tail).await {
            self.writer.abort().await;
            return Err(AppError::internal(e));
        }
        let key = self.writer.commit().await.map_err(AppError::internal)?;
        Ok(Artifact {
            id: self.id,
            organisation_id: org,
            attached_kind: kind.to_owned(),
            attached_id: attached,
            version: Self::VERSION,
            filename: filename.to_owned(),
            content_type: content_type.to_owned(),
            size_bytes: i64::try_from(self.size).unwrap_or(i64::MAX),
            sha256: self.sha.finish().as_ref().to_vec(),
            storage_key: key.as_str().to_owned(),
            key_version: i32::try_from(self.key_version).unwrap_or(i32::MAX),
            wrapped_key: self.wrapped,
            segment_size: DEFAULT_SEGMENT as i32,
            created_by: by,
            created_at: chrono::Utc::now(),
            shredded_at: None,
        })
    }
}

/// Encrypts `bytes` into a new blob (documents the server writes itself, such as an executed
/// agreement's PDF); returns the row for the caller to insert in its own transaction.
#[allow(clippy::too_many_arguments)]
pub async fn store_bytes(
    state: &AppState,
    by: Option<UserId>,
    org: OrganisationId,
    kind: &str,
    attached: Uuid,
    filename: &str,
    content_type: &str,
    bytes: &[u8],
) -> AppResult<Artifact> {
    let mut sealing = Sealing::begin(state).await?;
    if let Err(e) = sealing.push(bytes).await {
        sealing.writer.abort().await;
        return Err(e);
    }
    sealing.commit(by, org, kind, attached, filename, content_type).await
}

/// Where a stored artifact comes from and what it is.
#[derive(Debug, Clone, Copy)]
pub struct Origin<'a> {
    pub by: Option<UserId>,
    pub org: OrganisationId,
    pub kind: &'a str,
    pub attached: Uuid,
    pub filename: &'a str,
    pub content_type: &'a str,
}

/// Encrypts what a blocking `producer` writes into `pieces` (see [`ChannelWriter`]) as a new
/// artifact, a piece at a time: neither the plaintext nor the ciphertext is ever whole in memory.
/// The blob is committed only when the producer finished without error; otherwise it is deleted.
pub async fn store_produced(
    state: &AppState,
    origin: Origin<'_>,
    mut pieces: tokio::sync::mpsc::Receiver<Vec<u8>>,
    producer: tokio::task::JoinHandle<Result<(), String>>,
) -> AppResult<Artifact> {
    let mut sealing = Sealing::begin(state).await?;
    while let Some(piece) = pieces.recv().await {
        if let Err(e) = sealing.push(&piece).await {
            drop(pieces); // the producer's next write fails and it stops
            sealing.writer.abort().await;
            let _ = producer.await;
            return Err(e);
        }
    }
    match producer.await {
        Ok(Ok(())) => sealing.commit(origin.by, origin.org, origin.kind, origin.attached, origin.filename, origin.content_type).await,
        Ok(Err(e)) => {
            sealing.writer.abort().await;
            Err(AppError::internal(e))
        }
        Err(e) => {
            sealing.writer.abort().await;
            Err(AppError::internal(e))
        }
    }
}

/// A blocking [`std::io::Write`] that hands 1 MiB pieces to [`store_produced`] over a bounded
/// channel (so a fast producer waits for the store instead of filling memory).
pub struct ChannelWriter {
    tx: tokio::sync::mpsc::Sender<Vec<u8>>,
    buf: Vec<u8>,
}

impl ChannelWriter {
    pub const PIECE: usize = 1024 * 1024;

    pub fn new(tx: tokio::sync::mpsc::Sender<Vec<u8>>) -> Self {
        Self { tx, buf: Vec::with_capacity(Self::PIECE) }
    }

    fn send(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let piece = std::mem::replace(&mut self.buf, Vec::with_capacity(Self::PIECE));
        self.tx.blocking_send(piece).map_err(|_| std::io::Error::other("the store stopped reading"))
    }
}

impl std::io::Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= Self::PIECE {
            self.send()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.send()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filenames_lose_paths_controls_and_quotes() {
        assert_eq!(sanitise_filename("../../etc/passwd"), "passwd");
        assert_eq!(sanitise_filename("C:\\Users\\x\\report.pdf"), "report.pdf");
        assert_eq!(sanitise_filename("a\"b\r\n;c.txt"), "abc.txt");
        assert_eq!(sanitise_filename("..."), "file");
        assert_eq!(sanitise_filename(""), "file");
        assert_eq!(sanitise_filename("a\u{202E}gnp.exe"), "agnp.exe", "a right-to-left override disguises the extension");
        assert_eq!(sanitise_filename("\u{2067}report\u{2069}\u{200B}.pdf"), "report.pdf");
    }

    #[test]
    fn declared_types_must_match_the_bytes() {
        assert_eq!(sniff(b"%PDF-1.7 ...", None), "application/pdf");
        assert_eq!(sniff(b"a,b\n1,2\n", Some("text/csv")), "text/csv");
        assert_eq!(sniff(b"MZ\x90\x00\x03\x00", None), "application/octet-stream");
        assert!(declared_matches(Some("application/pdf"), "application/pdf"));
        assert!(!declared_matches(Some("image/png"), "application/pdf"), "a PDF posing as PNG");
        assert!(!declared_matches(Some("text/plain"), "application/octet-stream"), "binary posing as text");
        assert!(declared_matches(Some("application/octet-stream"), "image/png"));
    }
}
