//! argon2id password hashing (OWASP Password Storage Cheat Sheet: m = 19 MiB, t = 2, p = 1).
//!
//! Both functions are CPU-heavy (tens of milliseconds): callers on an async runtime run them on a
//! blocking thread.

use std::sync::OnceLock;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("password hashing failed: {0}")]
    Hash(String),
}

fn hasher() -> Result<Argon2<'static>, PasswordError> {
    let params = Params::new(19 * 1024, 2, 1, None).map_err(|e| PasswordError::Hash(e.to_string()))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// A PHC-format argon2id hash of `password` with a fresh random salt.
pub fn hash(password: &str) -> Result<String, PasswordError> {
    let salt_bytes = crate::random::bytes::<16>().map_err(|_| PasswordError::Hash("no randomness".into()))?;
    let salt = SaltString::encode_b64(&salt_bytes).map_err(|e| PasswordError::Hash(e.to_string()))?;
    hasher()?.hash_password(password.as_bytes(), &salt).map(|h| h.to_string()).map_err(|e| PasswordError::Hash(e.to_string()))
}

/// Whether `candidate` matches `phc`. A malformed stored hash counts as a mismatch (and costs the
/// same time, since the dummy hash is checked instead) rather than an error the caller could leak.
pub fn verify(phc: &str, candidate: &str) -> bool {
    let Ok(argon) = hasher() else { return false };
    match PasswordHash::new(phc) {
        Ok(parsed) => argon.verify_password(candidate.as_bytes(), &parsed).is_ok(),
        Err(_) => {
            verify_dummy(candidate);
            false
        }
    }
}

/// Spends the same work as a real verification against a hash nobody can match. Used for unknown
/// users so that an attacker cannot tell from timing which e-mail addresses exist.
pub fn verify_dummy(candidate: &str) {
    static DUMMY: OnceLock<Option<String>> = OnceLock::new();
    let dummy = DUMMY.get_or_init(|| hash("licentia-dummy-password-never-matches").ok());
    if let (Some(phc), Ok(argon)) = (dummy, hasher())
        && let Ok(parsed) = PasswordHash::new(phc)
    {
        let _ = argon.verify_password(candidate.as_bytes(), &parsed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_salted_argon2id_and_verify() -> Result<(), PasswordError> {
        let a = hash("correct horse battery staple")?;
        let b = hash("correct horse battery staple")?;
        assert_ne!(a, b, "same password, same hash: no salt");
        assert!(a.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{a}");
        assert!(verify(&a, "correct horse battery staple"));
        assert!(!verify(&a, "correct horse battery stapl"));
        Ok(())
    }

    #[test]
    fn malformed_stored_hash_is_a_mismatch_not_a_panic() {
        assert!(!verify("not a phc string", "anything"));
        assert!(!verify("", ""));
    }
}
