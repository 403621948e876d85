//! Evidence packs: one tar archive per agreement that an auditor (or either party) can check
//! offline, with nothing but the installation's public key.
//!
//! Layout:
//! - `manifest.json`: a signed envelope (ed25519, the installation's audit key, the same form as a
//!   run receipt) over `{format, agreement, generated_at, generated_by, files: [{path, sha256,
//!   bytes}], checkpoint}`; every other file of the archive is listed with its SHA-256;
//! - `agreement.json`: the agreement, its versions (number, title, text SHA-256, author, time)
//!   and the acceptances;
//! - `versions/N.txt` and `versions/N.pdf`: each version the requester may read, its text of
//!   record (whose SHA-256 is the one both parties accepted) and its PDF;
//! - `licences.json` and `receipts/RUN.json`: the training licences under the agreement and the
//!   signed receipts of their runs;
//! - `audit/entries.jsonl`: the agreement's audit entries with their canonical bytes (base64),
//!   `audit/chain.jsonl`: the chain's links (seq, previous hash, hash) from the first of them to
//!   the signed checkpoint that covers them, `audit/checkpoint.json`: that checkpoint.
//!
//! [`verify`] recomputes every digest, the manifest's signature, each entry's hash from its
//! canonical bytes, the links up to the checkpoint's head and the checkpoint's signature, and
//! every receipt; the first failure names the file. What the links between the agreement's entries
//! prove: the entries of other objects are not in the pack (a licensee must not read them), so
//! their hashes are taken as the pack states them, under the manifest's signature; an auditor
//! with the whole log checks those too with `licentia audit verify`.

use std::collections::BTreeMap;

use base64::Engine as _;
use chrono::Utc;
use licentia_audit::Outcome;
use licentia_crypto::signing::VerifyingKey;
use licentia_db::agreements::AgreementRow;
use serde_json::{Value, json};

use crate::error::{AppError, AppResult};
use crate::state::AppState;
use crate::{Actor, policy};

pub const FORMAT: &str = "licentia-evidence/1";

fn sha_hex(bytes: &[u8]) -> String {
    hex::encode(ring::digest::digest(&ring::digest::SHA256, bytes))
}

fn json_bytes(v: &Value) -> AppResult<Vec<u8>> {
    serde_json::to_vec_pretty(v).map_err(AppError::internal)
}

/// The pack of `a` as `actor` may see it: versions up to what they may read, and (for a licensee)
/// only the audit entries of its own organisation's users. The export itself is audited first,
/// so the pack holds its own entry, and a checkpoint is signed to cover it.
#[tracing::instrument(skip_all, fields(actor = %actor.user_id))]
pub async fn build(state: &AppState, actor: &Actor, a: &AgreementRow) -> AppResult<Vec<u8>> {
    state.audit_alone(actor.event("agreement.evidence_exported", Outcome::Success).target("agreement", a.id)).await?;
    crate::checkpoints::checkpoint(state).await?;
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut files: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let mut conn = state.db.pool.acquire().await.map_err(licentia_db::DbError::from)?;
    let max = policy::readable_max(actor, a);
    let versions = licentia_db::agreements::versions(&mut conn, a.id, max).await?;
    let acceptances = licentia_db::agreements::acceptances(&mut conn, a.id).await?;
    let mut listed = Vec::new();
    for summary in &versions {
        let v = licentia_db::agreements::version(&mut conn, a.id, summary.number, max).await?;
        let pdf = crate::agreements::version_pdf(&mut conn, a, &v, &acceptances).await?;
        files.insert(format!("versions/{}.txt", v.number), v.text.clone().into_bytes());
        files.insert(format!("versions/{}.pdf", v.number), pdf);
        listed.push(json!({
            "number": v.number, "title": v.title, "text_sha256": hex::encode(&v.text_sha256),
            "author": v.author_name, "comment": v.comment, "created_at": v.created_at,
        }));
    }
    let agreement = json!({
        "id": a.id, "kind": a.kind, "title": a.title, "status": a.status,
        "licensor": { "id": a.licensor_id, "name": a.licensor_name },
        "licensee": { "id": a.licensee_id, "name": a.licensee_name },
        "executed_version": a.executed_version, "executed_at": a.executed_at,
        "versions": listed, "acceptances": acceptances,
    });
    files.insert("agreement.json".into(), json_bytes(&agreement)?);
    let licences: Vec<_> =
        licentia_db::training::licences(&mut conn, policy::licensee_scope(actor)).await?.into_iter().filter(|l| l.agreement_id == a.id).collect();
    files.insert("licences.json".into(), json_bytes(&serde_json::to_value(&licences).map_err(AppError::internal)?)?);
    for r in licentia_db::training::runs(&mut conn, policy::licensee_scope(actor)).await? {
        if r.agreement_id == a.id
            && let Some(receipt) = &r.receipt
        {
            files.insert(format!("receipts/{}.json", r.id), json_bytes(receipt)?);
        }
    }
    let mut entries = licentia_db::audit::for_target(&mut conn, &a.id.to_string(), 10_000).await?;
    if actor.is_licensee() {
        let own = actor.organisation_id.as_uuid();
        entries.retain(|e| e.organisation_id == Some(own));
    }
    let last = entries.last().map_or(0, |e| e.seq);
    let checkpoint =
        match entries.first() {
            Some(_) => Some(licentia_db::audit::checkpoint_covering(&mut conn, last).await?.ok_or_else(|| AppError::Conflict {
                message: "no signed checkpoint covers this agreement's audit entries yet; try again in a minute".into(),
            })?),
            None => None,
        };
    let mut lines = String::new();
    for e in &entries {
        lines.push_str(
            &serde_json::to_string(
                &json!({ "seq": e.seq, "canonical": b64.encode(&e.canonical), "prev_hash": hex::encode(&e.prev_hash), "hash": hex::encode(&e.hash) }),
            )
            .map_err(AppError::internal)?,
        );
        lines.push('\n');
    }
    files.insert("audit/entries.jsonl".into(), lines.into_bytes());
    if let (Some(first), Some(c)) = (entries.first(), &checkpoint) {
        let mut chain = String::new();
        for (seq, prev, hash) in licentia_db::audit::links(&mut conn, first.seq, c.seq).await? {
            chain.push_str(
                &serde_json::to_string(&json!({ "seq": seq, "prev_hash": hex::encode(prev), "hash": hex::encode(hash) })).map_err(AppError::internal)?,
            );
            chain.push('\n');
        }
        files.insert("audit/chain.jsonl".into(), chain.into_bytes());
        let cp = licentia_audit::Checkpoint::from_row(c);
        files.insert("audit/checkpoint.json".into(), json_bytes(&serde_json::to_value(&cp).map_err(AppError::internal)?)?);
    }
    drop(conn);
    let manifest = json!({
        "format": FORMAT,
        "agreement": a.id,
        "generated_at": Utc::now(),
        "generated_by": { "user": actor.user_id, "organisation": actor.organisation_id },
        "files": files.iter().map(|(p, b)| json!({ "path": p, "sha256": sha_hex(b), "bytes": b.len() })).collect::<Vec<_>>(),
        "audit_entries": entries.len(),
        "checkpoint_seq": checkpoint.as_ref().map(|c| c.seq),
    });
    let signed = crate::receipts::sign(state.audit_log.signing_key(), &manifest);
    files.insert("manifest.json".into(), json_bytes(&signed)?);
    let mut out = tar::Builder::new(Vec::new());
    out.mode(tar::HeaderMode::Deterministic);
    // The manifest first: a reader sees what to expect before the rest.
    let order = std::iter::once("manifest.json".to_owned()).chain(files.keys().filter(|p| *p != "manifest.json").cloned()).collect::<Vec<_>>();
    for path in order {
        let data = &files[&path];
        let mut h = tar::Header::new_ustar();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_mtime(0);
        out.append_data(&mut h, &path, data.as_slice()).map_err(AppError::internal)?;
    }
    out.into_inner().map_err(AppError::internal)
}

/// What a verified pack holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub agreement: String,
    pub files: usize,
    pub audit_entries: usize,
    pub checkpoint_seq: Option<i64>,
    pub receipts: usize,
}

fn fail(file: &str, why: impl std::fmt::Display) -> String {
    format!("{file}: {why}")
}

/// Checks a pack offline against the trusted key; the error names the file that failed.
pub fn verify(archive: &[u8], trusted: &VerifyingKey) -> Result<Verified, String> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut files: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let mut reader = tar::Archive::new(archive);
    for entry in reader.entries().map_err(|e| fail("archive", e))? {
        let mut entry = entry.map_err(|e| fail("archive", e))?;
        let path = entry.path().map_err(|e| fail("archive", e))?.to_string_lossy().into_owned();
        if path.split('/').any(|s| s == ".." || s.is_empty()) || path.starts_with('/') {
            return Err(fail(&path, "a path outside the pack"));
        }
        let mut data = Vec::new();
        std::io::Read::read_to_end(&mut entry, &mut data).map_err(|e| fail(&path, e))?;
        if files.insert(path.clone(), data).is_some() {
            return Err(fail(&path, "appears twice"));
        }
    }
    let envelope: Value =
        serde_json::from_slice(files.get("manifest.json").ok_or_else(|| fail("manifest.json", "missing"))?).map_err(|e| fail("manifest.json", e))?;
    match crate::receipts::verify(&envelope, trusted) {
        crate::receipts::Verdict::Valid => {}
        other => return Err(fail("manifest.json", format!("signature check failed: {other:?}"))),
    }
    let manifest = &envelope["receipt"];
    if manifest["format"] != FORMAT {
        return Err(fail("manifest.json", "not a licentia evidence pack"));
    }
    let listed = manifest["files"].as_array().ok_or_else(|| fail("manifest.json", "no file list"))?;
    let mut seen = 0;
    for f in listed {
        let path = f["path"].as_str().ok_or_else(|| fail("manifest.json", "a file without a path"))?;
        let data = files.get(path).ok_or_else(|| fail(path, "listed in the manifest but missing"))?;
        if f["sha256"].as_str() != Some(sha_hex(data).as_str()) || f["bytes"].as_u64() != Some(data.len() as u64) {
            return Err(fail(path, "its SHA-256 differs from the manifest's"));
        }
        seen += 1;
    }
    if let Some(extra) = files.keys().find(|p| *p != "manifest.json" && !listed.iter().any(|f| f["path"].as_str() == Some(p.as_str()))) {
        return Err(fail(extra, "not listed in the manifest"));
    }
    // The texts are the ones whose hashes the agreement lists (and both parties accepted).
    let agreement: Value =
        serde_json::from_slice(files.get("agreement.json").ok_or_else(|| fail("agreement.json", "missing"))?).map_err(|e| fail("agreement.json", e))?;
    for v in agreement["versions"].as_array().into_iter().flatten() {
        let path = format!("versions/{}.txt", v["number"]);
        let text = files.get(&path).ok_or_else(|| fail(&path, "missing"))?;
        if v["text_sha256"].as_str() != Some(sha_hex(text).as_str()) {
            return Err(fail(&path, "its SHA-256 is not the version's text hash"));
        }
    }
    // Audit entries: each hash recomputed from its canonical bytes, then linked to the checkpoint.
    let entries_text = String::from_utf8(files.get("audit/entries.jsonl").cloned().unwrap_or_default()).map_err(|e| fail("audit/entries.jsonl", e))?;
    let mut entry_hashes = BTreeMap::new();
    for line in entries_text.lines().filter(|l| !l.trim().is_empty()) {
        let e: Value = serde_json::from_str(line).map_err(|err| fail("audit/entries.jsonl", err))?;
        let canonical = b64.decode(e["canonical"].as_str().unwrap_or_default()).map_err(|err| fail("audit/entries.jsonl", err))?;
        let prev = hex::decode(e["prev_hash"].as_str().unwrap_or_default()).map_err(|err| fail("audit/entries.jsonl", err))?;
        let hash = hex::encode(licentia_audit::chain_hash(&prev, &canonical));
        if e["hash"].as_str() != Some(hash.as_str()) {
            return Err(fail("audit/entries.jsonl", format!("entry {} does not hash to its recorded hash", e["seq"])));
        }
        entry_hashes.insert(e["seq"].as_i64().unwrap_or(-1), (prev, hash));
    }
    let checkpoint_seq = if entry_hashes.is_empty() {
        None
    } else {
        let cp: licentia_audit::Checkpoint =
            serde_json::from_slice(files.get("audit/checkpoint.json").ok_or_else(|| fail("audit/checkpoint.json", "missing"))?)
                .map_err(|e| fail("audit/checkpoint.json", e))?;
        if !cp.signature_ok(trusted) {
            return Err(fail("audit/checkpoint.json", "the checkpoint's signature does not verify"));
        }
        let chain = String::from_utf8(files.get("audit/chain.jsonl").cloned().unwrap_or_default()).map_err(|e| fail("audit/chain.jsonl", e))?;
        let mut previous: Option<String> = None;
        let mut last: Option<(i64, String)> = None;
        for line in chain.lines().filter(|l| !l.trim().is_empty()) {
            let l: Value = serde_json::from_str(line).map_err(|e| fail("audit/chain.jsonl", e))?;
            let seq = l["seq"].as_i64().unwrap_or(-1);
            let (prev, hash) = (l["prev_hash"].as_str().unwrap_or_default().to_owned(), l["hash"].as_str().unwrap_or_default().to_owned());
            if let Some(p) = &previous
                && *p != prev
            {
                return Err(fail("audit/chain.jsonl", format!("the link at {seq} does not follow the one before")));
            }
            if let Some((eprev, ehash)) = entry_hashes.get(&seq)
                && (hex::encode(eprev) != prev || *ehash != hash)
            {
                return Err(fail("audit/chain.jsonl", format!("entry {seq} differs from audit/entries.jsonl")));
            }
            previous = Some(hash.clone());
            last = Some((seq, hash));
        }
        if let Some(missing) = entry_hashes.keys().find(|s| **s > last.as_ref().map_or(0, |l| l.0)) {
            return Err(fail("audit/chain.jsonl", format!("entry {missing} is past the chain's end")));
        }
        match last {
            Some((seq, hash)) if seq == cp.seq && hash == cp.hash => Some(cp.seq),
            _ => return Err(fail("audit/chain.jsonl", "the chain does not end at the checkpoint's head")),
        }
    };
    let mut receipts = 0;
    for (path, data) in files.iter().filter(|(p, _)| p.starts_with("receipts/")) {
        let r: Value = serde_json::from_slice(data).map_err(|e| fail(path, e))?;
        if crate::receipts::verify(&r, trusted) != crate::receipts::Verdict::Valid {
            return Err(fail(path, "the receipt's signature does not verify"));
        }
        receipts += 1;
    }
    Ok(Verified {
        agreement: manifest["agreement"].as_str().unwrap_or_default().to_owned(),
        files: seen,
        audit_entries: entry_hashes.len(),
        checkpoint_seq,
        receipts,
    })
}
