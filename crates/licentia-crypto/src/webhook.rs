//! Standard Webhooks signatures (standardwebhooks.com, "Signature scheme", v1): the signed content
//! is `{webhook-id}.{webhook-timestamp}.{body}`, signed with HMAC-SHA256 under the endpoint's
//! secret, sent as `webhook-signature: v1,<base64>`. Secrets are 32 random bytes, shown to their
//! owner once as `whsec_<base64>`, and stored sealed by the installation's key ring (bound to the
//! endpoint's id, like an artifact's data key), so a database dump holds none of them.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::KeyRing;
use crate::envelope::{DataKey, EnvelopeError};

/// An endpoint's signing secret. `Debug` never prints it.
#[derive(Clone)]
pub struct WebhookSecret([u8; 32]);

impl fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WebhookSecret(<redacted>)")
    }
}

impl WebhookSecret {
    pub fn generate() -> Result<Self, EnvelopeError> {
        crate::random::bytes::<32>().map(Self).map_err(|_| EnvelopeError::NoRandomness)
    }

    /// The form receivers configure: `whsec_` and the base64 of the secret's bytes.
    pub fn reveal(&self) -> String {
        format!("whsec_{}", STANDARD.encode(self.0))
    }

    /// `v1,<base64 of HMAC-SHA256(secret, "{id}.{timestamp}.{body}")>`.
    pub fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        sign(&self.0, id, timestamp, body)
    }

    /// Sealed with the current master key version, bound to `endpoint_id`: (version, sealed).
    pub fn seal(&self, ring: &KeyRing, endpoint_id: &[u8; 16]) -> Result<(u32, Vec<u8>), EnvelopeError> {
        ring.wrap(endpoint_id, &DataKey::from_bytes(self.0))
    }

    pub fn unseal(ring: &KeyRing, version: u32, endpoint_id: &[u8; 16], sealed: &[u8]) -> Result<Self, EnvelopeError> {
        ring.unwrap(version, endpoint_id, sealed).map(|k| Self(*k.bytes()))
    }
}

/// The scheme's signature under a key of any length (the specification allows 24 to 64 bytes).
pub fn sign(key: &[u8], id: &str, timestamp: i64, body: &[u8]) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, key);
    let mut ctx = ring::hmac::Context::with_key(&key);
    ctx.update(id.as_bytes());
    ctx.update(b".");
    ctx.update(timestamp.to_string().as_bytes());
    ctx.update(b".");
    ctx.update(body);
    format!("v1,{}", STANDARD.encode(ctx.sign().as_ref()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The worked example of the Standard Webhooks reference library (crate `standardwebhooks`
    /// 1.0.1, `tests::test_sign`): secret `whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD`, id
    /// `msg_27UH4WbU6Z5A5EzD8u03UvzRbpk`, timestamp 1649367553 and the body below give
    /// `v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=`.
    #[test]
    fn signs_the_specification_s_example() -> Result<(), Box<dyn std::error::Error>> {
        let key = STANDARD.decode("C2FVsBQIhrscChlQIMV+b5sSYspob7oD")?;
        let body = br#"{"email":"test@example.com","username":"test_user"}"#;
        assert_eq!(sign(&key, "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk", 1_649_367_553, body), "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=");
        let secret = WebhookSecret([9; 32]);
        assert_eq!(secret.reveal(), format!("whsec_{}", STANDARD.encode([9u8; 32])));
        Ok(())
    }

    #[test]
    fn a_sealed_secret_opens_only_for_its_endpoint() -> Result<(), Box<dyn std::error::Error>> {
        let dir = std::env::temp_dir().join(format!("licentia-whsec-{}", uuid::Uuid::new_v4()));
        let ring = KeyRing::load(&dir, true)?;
        let secret = WebhookSecret::generate()?;
        let (v, sealed) = secret.seal(&ring, &[7; 16])?;
        assert_eq!(WebhookSecret::unseal(&ring, v, &[7; 16], &sealed)?.reveal(), secret.reveal());
        assert!(WebhookSecret::unseal(&ring, v, &[8; 16], &sealed).is_err(), "bound to its endpoint");
        let _ = std::fs::remove_dir_all(dir);
        Ok(())
    }
}
