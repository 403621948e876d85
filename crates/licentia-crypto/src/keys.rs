//! Where secrets come from: the environment (`LICENTIA_<NAME>` as base64, or `LICENTIA_<NAME>_FILE`
//! as a path), else a key file under `<data dir>/keys/`, else (first start) a new key written to
//! that file with mode 0600. Never the database.

use std::fmt;
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;

use crate::signing::SigningKey;

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("{name}: {message}")]
    Invalid { name: &'static str, message: String },
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
}

/// The secrets one Licentia node needs. `Debug` prints only which keys are loaded.
pub struct KeyMaterial {
    /// PKCS#8 ed25519 key that signs access tokens.
    pub jwt_pkcs8: Vec<u8>,
    /// PKCS#8 ed25519 key that signs audit checkpoints.
    pub audit_pkcs8: Vec<u8>,
    /// 32-byte HMAC key for CSRF tokens.
    pub csrf_secret: Vec<u8>,
    /// Versioned HMAC keys that authenticate every audit entry (`<keys dir>/audit-mac/v<N>.key`,
    /// or the directory `LICENTIA_AUDIT_MAC_KEYS_DIR`): outside the database, so that database
    /// access alone cannot forge or re-chain entries.
    pub audit_macs: crate::KeyRing,
}

impl fmt::Debug for KeyMaterial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyMaterial {{ jwt: <redacted>, audit: <redacted>, csrf: <redacted>, audit_macs: {:?} }}", self.audit_macs.versions())
    }
}

enum Kind {
    Ed25519,
    Secret32,
}

impl KeyMaterial {
    /// Loads every key, generating missing ones into `keys_dir` when `generate` is true (the
    /// development default). With `generate` false a missing key is an error: production deploys
    /// provide keys and must not silently mint new ones on each node.
    pub fn load(keys_dir: &Path, generate: bool) -> Result<Self, KeyError> {
        Ok(Self {
            jwt_pkcs8: load_one(keys_dir, "JWT_KEY", "jwt_ed25519.pk8", Kind::Ed25519, generate)?,
            audit_pkcs8: load_one(keys_dir, "AUDIT_KEY", "audit_ed25519.pk8", Kind::Ed25519, generate)?,
            csrf_secret: load_one(keys_dir, "CSRF_KEY", "csrf.key", Kind::Secret32, generate)?,
            audit_macs: crate::KeyRing::load(&Self::audit_mac_dir(keys_dir), generate)?,
        })
    }

    /// Where the audit MAC keys live: `LICENTIA_AUDIT_MAC_KEYS_DIR`, else `<keys dir>/audit-mac`.
    pub fn audit_mac_dir(keys_dir: &Path) -> PathBuf {
        std::env::var_os("LICENTIA_AUDIT_MAC_KEYS_DIR").map(PathBuf::from).unwrap_or_else(|| keys_dir.join("audit-mac"))
    }
}

fn load_one(dir: &Path, env: &'static str, file: &str, kind: Kind, generate: bool) -> Result<Vec<u8>, KeyError> {
    let invalid = |message: String| KeyError::Invalid { name: env, message };
    let bytes = if let Ok(b64) = std::env::var(format!("LICENTIA_{env}")) {
        B64.decode(b64.trim()).map_err(|e| invalid(format!("not base64: {e}")))?
    } else if let Ok(path) = std::env::var(format!("LICENTIA_{env}_FILE")) {
        let path = PathBuf::from(path);
        fs::read(&path).map_err(|source| KeyError::Io { path, source })?
    } else {
        let path = dir.join(file);
        match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && generate => {
                let fresh = match kind {
                    Kind::Ed25519 => SigningKey::generate_pkcs8().map_err(|e| invalid(e.to_string()))?,
                    Kind::Secret32 => crate::random::bytes::<32>().map_err(|_| invalid("no randomness".into()))?.to_vec(),
                };
                write_private(&path, &fresh)?;
                fresh
            }
            Err(source) => return Err(KeyError::Io { path, source }),
        }
    };
    match kind {
        Kind::Ed25519 => {
            SigningKey::from_pkcs8(&bytes).map_err(|e| invalid(e.to_string()))?;
        }
        Kind::Secret32 if bytes.len() < 32 => return Err(invalid("must be at least 32 bytes".into())),
        Kind::Secret32 => {}
    }
    Ok(bytes)
}

/// Writes a new key file readable by its owner only, refusing to overwrite an existing one.
pub(crate) fn write_private(path: &Path, bytes: &[u8]) -> Result<(), KeyError> {
    let io = |source| KeyError::Io { path: path.to_owned(), source };
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).map_err(io)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            fs::set_permissions(parent, fs::Permissions::from_mode(0o700)).map_err(io)?;
        }
    }
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut f = options.open(path).map_err(io)?;
    f.write_all(bytes).map_err(io)?;
    f.sync_all().map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_generated_once_with_mode_0600_and_reloaded() -> Result<(), KeyError> {
        let dir = std::env::temp_dir().join(format!("licentia-keys-{}", uuid::Uuid::new_v4()));
        let first = KeyMaterial::load(&dir, true)?;
        let second = KeyMaterial::load(&dir, true)?;
        assert_eq!(first.jwt_pkcs8, second.jwt_pkcs8);
        assert_eq!(first.csrf_secret, second.csrf_secret);
        assert_ne!(first.jwt_pkcs8, first.audit_pkcs8);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = fs::metadata(dir.join("jwt_ed25519.pk8")).map_err(|source| KeyError::Io { path: dir.clone(), source })?.permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert!(!format!("{first:?}").contains(&format!("{:?}", first.csrf_secret)));
        let _ = fs::remove_dir_all(&dir);
        Ok(())
    }

    #[test]
    fn missing_keys_are_an_error_when_generation_is_off() {
        let dir = std::env::temp_dir().join(format!("licentia-keys-{}", uuid::Uuid::new_v4()));
        assert!(KeyMaterial::load(&dir, false).is_err());
    }

    #[test]
    fn a_corrupt_key_file_is_refused() -> Result<(), KeyError> {
        let dir = std::env::temp_dir().join(format!("licentia-keys-{}", uuid::Uuid::new_v4()));
        fs::create_dir_all(&dir).map_err(|source| KeyError::Io { path: dir.clone(), source })?;
        fs::write(dir.join("jwt_ed25519.pk8"), b"garbage").map_err(|source| KeyError::Io { path: dir.clone(), source })?;
        assert!(matches!(KeyMaterial::load(&dir, true), Err(KeyError::Invalid { name: "JWT_KEY", .. })));
        let _ = fs::remove_dir_all(&dir);
        Ok(())
    }
}
