//! A CSV body typed while it arrives. The async side forwards each chunk (counting and hashing
//! it) over a bounded channel to a blocking thread that parses records as they come
//! ([`licentia_train::data::parse_csv_from`]), so an upload's memory follows the typed columns,
//! never the text: the body is not kept.

use std::fmt::Display;

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use licentia_train::data::{Limits, Table};

use crate::error::{AppError, AppResult};

/// A parsed upload: the typed table and what identifies the text the client sent.
#[derive(Debug)]
pub struct ParsedCsv {
    pub table: Table,
    /// SHA-256 of the CSV exactly as sent (what a licensee can check against their own file).
    pub sha256: Vec<u8>,
    pub bytes: u64,
}

/// Chunks three deep: the parser never waits long, the network never fills memory.
const DEPTH: usize = 4;

/// Parses a CSV body within `limits`: 413 past `max_bytes`, 422 naming line and column for a bad
/// file, 400 for an interrupted upload.
pub async fn parse_csv_stream<S, E>(mut body: S, limits: Limits) -> AppResult<ParsedCsv>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: Display,
{
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(DEPTH);
    let parser = tokio::task::spawn_blocking(move || licentia_train::data::parse_csv_from(ChannelReader { rx, current: Bytes::new() }, &limits));
    let mut sha = ring::digest::Context::new(&ring::digest::SHA256);
    let mut total = 0usize;
    let mut failure = None;
    while let Some(chunk) = body.next().await {
        let chunk = match chunk {
            Ok(c) => c,
            Err(e) => {
                failure = Some(AppError::BadRequest { message: format!("upload interrupted: {e}") });
                break;
            }
        };
        total = total.saturating_add(chunk.len());
        if total > limits.max_bytes {
            failure = Some(AppError::PayloadTooLarge { limit: limits.max_bytes });
            break;
        }
        sha.update(&chunk);
        if tx.send(chunk).await.is_err() {
            break; // the parser stopped at a bad line: its error says which
        }
    }
    drop(tx);
    let parsed = parser.await.map_err(AppError::internal)?;
    if let Some(f) = failure {
        return Err(f);
    }
    let table = parsed.map_err(|e| AppError::BadData { line: e.line, column: e.column.clone(), message: e.to_string() })?;
    Ok(ParsedCsv { table, sha256: sha.finish().as_ref().to_vec(), bytes: total as u64 })
}

/// The blocking end of the channel, as a reader.
struct ChannelReader {
    rx: tokio::sync::mpsc::Receiver<Bytes>,
    current: Bytes,
}

impl std::io::Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.current.is_empty() {
            match self.rx.blocking_recv() {
                Some(next) => self.current = next,
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current.split_to(n));
        Ok(n)
    }
}
