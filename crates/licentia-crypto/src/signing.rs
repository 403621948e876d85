//! ed25519 signing keys (ring) with a short key id, used for audit checkpoints.

use std::fmt;

use ring::signature::{self, Ed25519KeyPair, KeyPair as _};

#[derive(Debug, thiserror::Error)]
pub enum SigningError {
    #[error("the ed25519 key is malformed")]
    BadKey,
    #[error("no randomness available to generate a key")]
    NoRandomness,
}

/// An ed25519 key pair. `Debug` shows only the key id.
pub struct SigningKey {
    pair: Ed25519KeyPair,
    pkcs8: Vec<u8>,
}

impl SigningKey {
    /// A fresh key as a PKCS#8 v2 document.
    pub fn generate_pkcs8() -> Result<Vec<u8>, SigningError> {
        let rng = ring::rand::SystemRandom::new();
        Ed25519KeyPair::generate_pkcs8(&rng).map(|d| d.as_ref().to_vec()).map_err(|_| SigningError::NoRandomness)
    }

    pub fn from_pkcs8(der: &[u8]) -> Result<Self, SigningError> {
        let pair = Ed25519KeyPair::from_pkcs8_maybe_unchecked(der).map_err(|_| SigningError::BadKey)?;
        Ok(Self { pair, pkcs8: der.to_vec() })
    }

    pub fn pkcs8(&self) -> &[u8] {
        &self.pkcs8
    }

    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        self.pair.sign(message).as_ref().to_vec()
    }

    pub fn verifying_key(&self) -> VerifyingKey {
        VerifyingKey(self.pair.public_key().as_ref().to_vec())
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SigningKey({})", self.verifying_key().key_id())
    }
}

/// The public half of a [`SigningKey`].
#[derive(Clone, PartialEq, Eq)]
pub struct VerifyingKey(Vec<u8>);

impl VerifyingKey {
    pub fn from_bytes(raw: &[u8]) -> Self {
        Self(raw.to_vec())
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The first 8 bytes of SHA-256 of the public key, hex: short enough to print beside every
    /// checkpoint, long enough that two keys of one deployment never collide.
    pub fn key_id(&self) -> String {
        let digest = ring::digest::digest(&ring::digest::SHA256, &self.0);
        hex::encode(&digest.as_ref()[..8])
    }

    pub fn verify(&self, message: &[u8], sig: &[u8]) -> bool {
        signature::UnparsedPublicKey::new(&signature::ED25519, &self.0).verify(message, sig).is_ok()
    }
}

impl fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "VerifyingKey({})", self.key_id())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_verify_and_fail_on_any_change() -> Result<(), SigningError> {
        let key = SigningKey::from_pkcs8(&SigningKey::generate_pkcs8()?)?;
        let sig = key.sign(b"checkpoint 42");
        let vk = key.verifying_key();
        assert!(vk.verify(b"checkpoint 42", &sig));
        assert!(!vk.verify(b"checkpoint 43", &sig));
        assert!(!vk.verify(b"checkpoint 42", &sig[..63]));
        let other = SigningKey::from_pkcs8(&SigningKey::generate_pkcs8()?)?;
        assert!(!other.verifying_key().verify(b"checkpoint 42", &sig));
        assert_ne!(vk.key_id(), other.verifying_key().key_id());
        Ok(())
    }

    #[test]
    fn debug_never_prints_key_material() -> Result<(), SigningError> {
        let der = SigningKey::generate_pkcs8()?;
        let key = SigningKey::from_pkcs8(&der)?;
        let shown = format!("{key:?}");
        assert!(!shown.contains(&hex::encode(&der)));
        assert!(shown.starts_with("SigningKey("));
        Ok(())
    }
}
