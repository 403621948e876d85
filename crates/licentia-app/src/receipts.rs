//! Signed run receipts: ed25519 (the platform's audit key) over the canonical JSON of what a run
//! did, so that a licensee or an auditor can check offline, with `licentia receipt verify FILE`,
//! that the platform vouches for these rows, epochs, units and hashes.

use base64::Engine as _;
use licentia_crypto::signing::VerifyingKey;
use serde_json::{Value, json};

use licentia_crypto::SigningKey;

/// `{"receipt": payload, "algorithm": "ed25519", "key_id", "public_key", "signature"}`.
pub fn sign(key: &SigningKey, payload: &Value) -> Value {
    let bytes = licentia_audit::canonical::to_bytes(payload);
    let sig = key.sign(&bytes);
    let vk = key.verifying_key();
    let b64 = base64::engine::general_purpose::STANDARD;
    json!({
        "receipt": payload,
        "algorithm": "ed25519",
        "key_id": vk.key_id(),
        "public_key": b64.encode(vk.as_bytes()),
        "signature": b64.encode(sig),
    })
}

#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    Valid,
    /// Signed by a key other than the trusted one.
    UnknownKey(String),
    BadSignature,
    Malformed(String),
}

/// Checks a receipt against the trusted key (the platform's audit verifying key).
pub fn verify(receipt: &Value, trusted: &VerifyingKey) -> Verdict {
    let b64 = base64::engine::general_purpose::STANDARD;
    let (Some(payload), Some(sig), Some(key)) = (receipt.get("receipt"), receipt["signature"].as_str(), receipt["public_key"].as_str()) else {
        return Verdict::Malformed("a receipt has receipt, public_key and signature".into());
    };
    if receipt["algorithm"] != "ed25519" {
        return Verdict::Malformed("only ed25519 receipts exist".into());
    }
    let (Ok(sig), Ok(key)) = (b64.decode(sig), b64.decode(key)) else { return Verdict::Malformed("signature or key is not base64".into()) };
    if key != trusted.as_bytes() {
        return Verdict::UnknownKey(VerifyingKey::from_bytes(&key).key_id());
    }
    if trusted.verify(&licentia_audit::canonical::to_bytes(payload), &sig) { Verdict::Valid } else { Verdict::BadSignature }
}
