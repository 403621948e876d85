//! This node's witness: an append-only file outside the database that receives every committed
//! head (sequence number and hash), and the checkpointer's own findings.
//!
//! Deleting the newest entries and rewinding the head leaves a chain that is consistent in
//! itself; only something the database cannot rewrite remembers that it was longer. Heads are
//! handed over after each commit without waiting ([`Witness::record`]) and written by one thread
//! that appends whatever has queued up and then fsyncs once (group commit), so concurrent writers
//! never queue behind each other's fsync. A crash can lose the last few heads of the witness, never
//! add one the database lacks: a missing line is harmless, an extra one would be a false alarm.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{AuditError, Head};

/// One line of a witness file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum WitnessLine {
    /// A head committed by this node.
    Head { seq: i64, hash: String },
    /// The checkpointer found the database not extending what it had signed or witnessed, and
    /// refuses to sign until an admin acknowledges.
    TamperSuspected {
        seq: i64,
        /// What was found (absent in lines written before the kind was recorded).
        #[serde(default)]
        problem: Option<crate::ProblemKind>,
        detail: String,
        at: DateTime<Utc>,
    },
    /// An admin acknowledged the suspicion (`licentia audit acknowledge`); the checkpointer
    /// resumes from this head. The lost entries stay reported by `verify`.
    Acknowledged { seq: i64, hash: String, by: String, reason: String, at: DateTime<Utc> },
}

enum Msg {
    Line(String),
    Flush(tokio::sync::oneshot::Sender<Result<(), String>>),
}

/// A handle on this node's witness file; cheap to share, its writer thread ends when the last
/// handle is dropped.
#[derive(Clone)]
pub struct Witness {
    path: PathBuf,
    tx: Arc<Mutex<mpsc::Sender<Msg>>>,
    failures: Arc<AtomicU64>,
}

impl std::fmt::Debug for Witness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Witness({})", self.path.display())
    }
}

impl Witness {
    /// Starts the writer for `path` (created with its directory on the first write).
    pub fn open(path: impl Into<PathBuf>) -> Self {
        let path = path.into();
        let (tx, rx) = mpsc::channel();
        let failures = Arc::new(AtomicU64::new(0));
        let (p, f) = (path.clone(), failures.clone());
        // A plain thread: fsync blocks, and the async runtime's threads must not.
        let spawned = std::thread::Builder::new().name("audit-witness".into()).spawn(move || writer(&p, &rx, &f));
        if let Err(e) = spawned {
            tracing::error!(error = %e, "cannot start the audit witness writer");
            failures.fetch_add(1, Ordering::Relaxed);
        }
        Self { path, tx: Arc::new(Mutex::new(tx)), failures }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes that failed since start (also logged); counted in `/metrics`.
    pub fn failures(&self) -> u64 {
        self.failures.load(Ordering::Relaxed)
    }

    fn send(&self, msg: Msg) -> bool {
        match self.tx.lock() {
            Ok(tx) => tx.send(msg).is_ok(),
            Err(_) => false,
        }
    }

    /// Queues a committed head; returns at once.
    pub fn record(&self, head: &Head) {
        let line = WitnessLine::Head { seq: head.seq, hash: hex::encode(head.hash) };
        if let Ok(text) = serde_json::to_string(&line)
            && !self.send(Msg::Line(text))
        {
            self.failures.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Waits until everything queued so far is on disk.
    pub async fn flush(&self) -> Result<(), AuditError> {
        let (done, wait) = tokio::sync::oneshot::channel();
        let failed = |message: String| AuditError::Witness { path: self.path.clone(), message };
        if !self.send(Msg::Flush(done)) {
            return Err(failed("the writer has stopped".into()));
        }
        wait.await.map_err(|_| failed("the writer has stopped".into()))?.map_err(failed)
    }

    /// Appends a finding or an acknowledgement and waits for it to be on disk.
    pub async fn append(&self, line: &WitnessLine) -> Result<(), AuditError> {
        let text = serde_json::to_string(line).map_err(|e| AuditError::Witness { path: self.path.clone(), message: e.to_string() })?;
        if !self.send(Msg::Line(text)) {
            return Err(AuditError::Witness { path: self.path.clone(), message: "the writer has stopped".into() });
        }
        self.flush().await
    }

    /// Every line of the file at `path`, from byte `from` on; a line that does not parse is an
    /// error string so that verification reports it. Returns the lines and the offset reached
    /// (a partly written last line is left for the next read).
    pub fn read_from(path: &Path, from: u64) -> Result<(Vec<Result<WitnessLine, String>>, u64), AuditError> {
        use std::io::{Read as _, Seek as _};
        let io = |e: std::io::Error| AuditError::Witness { path: path.to_owned(), message: e.to_string() };
        let mut f = match std::fs::File::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((Vec::new(), 0)),
            Err(e) => return Err(io(e)),
        };
        f.seek(std::io::SeekFrom::Start(from)).map_err(io)?;
        let mut bytes = Vec::new();
        f.read_to_end(&mut bytes).map_err(io)?;
        let complete = bytes.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
        let lines = String::from_utf8_lossy(&bytes[..complete])
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str::<WitnessLine>(l).map_err(|e| format!("unreadable witness line: {e}")))
            .collect();
        Ok((lines, from + complete as u64))
    }

    /// The witness files of every node in `dir` (`witness-*.jsonl`), sorted by name.
    pub fn files_in(dir: &Path) -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .map(|entries| {
                entries
                    .filter_map(Result::ok)
                    .map(|e| e.path())
                    .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("witness-") && n.ends_with(".jsonl")))
                    .collect()
            })
            .unwrap_or_default();
        files.sort();
        files
    }

    /// The file name for node `node`: `witness-<node>.jsonl`, the name reduced to safe characters.
    pub fn file_name(node: &str) -> String {
        let safe: String = node.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '.' || c == '_' { c } else { '_' }).take(64).collect();
        format!("witness-{}.jsonl", if safe.is_empty() { "node" } else { &safe })
    }
}

fn writer(path: &Path, rx: &mpsc::Receiver<Msg>, failures: &AtomicU64) {
    let mut file: Option<std::fs::File> = None;
    let mut failed_since_flush: Option<String> = None;
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        batch.extend(rx.try_iter());
        let mut text = String::new();
        let mut waiters = Vec::new();
        for m in batch {
            match m {
                Msg::Line(l) => {
                    text.push_str(&l);
                    text.push('\n');
                }
                Msg::Flush(w) => waiters.push(w),
            }
        }
        if !text.is_empty()
            && let Err(e) = write_synced(&mut file, path, text.as_bytes())
        {
            failures.fetch_add(1, Ordering::Relaxed);
            tracing::error!(path = %path.display(), error = %e, "audit witness write failed");
            failed_since_flush = Some(e.to_string());
            file = None;
        }
        if !waiters.is_empty() {
            let result = failed_since_flush.take().map_or(Ok(()), Err);
            for w in waiters {
                let _ = w.send(result.clone());
            }
        }
    }
}

fn write_synced(file: &mut Option<std::fs::File>, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if file.is_none() {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        *file = Some(std::fs::OpenOptions::new().create(true).append(true).open(path)?);
    }
    let f = file.as_mut().ok_or_else(|| std::io::Error::other("witness file not open"))?;
    f.write_all(bytes)?;
    f.sync_data()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn heads_reach_the_file_in_order_and_reads_resume_where_they_stopped() -> Result<(), AuditError> {
        let dir = std::env::temp_dir().join(format!("licentia-witness-{}", uuid::Uuid::new_v4()));
        let path = dir.join(Witness::file_name("node/1"));
        assert!(path.ends_with("witness-node_1.jsonl"));
        let w = Witness::open(&path);
        for seq in 1..=50 {
            w.record(&Head { seq, hash: [seq as u8; 32] });
        }
        w.flush().await?;
        let (lines, offset) = Witness::read_from(&path, 0)?;
        let seqs: Vec<i64> = lines
            .iter()
            .filter_map(|l| match l {
                Ok(WitnessLine::Head { seq, .. }) => Some(*seq),
                _ => None,
            })
            .collect();
        assert_eq!(seqs, (1..=50).collect::<Vec<_>>());
        w.append(&WitnessLine::TamperSuspected { seq: 51, problem: None, detail: "x".into(), at: Utc::now() }).await?;
        let (more, _) = Witness::read_from(&path, offset)?;
        assert!(matches!(more.as_slice(), [Ok(WitnessLine::TamperSuspected { seq: 51, .. })]), "{more:?}");
        assert_eq!(Witness::files_in(&dir), vec![path.clone()]);
        assert_eq!(w.failures(), 0);
        let _ = std::fs::remove_dir_all(&dir);
        Ok(())
    }
}
