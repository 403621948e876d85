//! Versioned master keys (key-encryption keys). Each version is a 32-byte file `v<N>.key` (mode
//! 0600) in the master-key folder; the highest version wraps new data keys, older versions only
//! unwrap until every data key has been re-wrapped and the version is retired (its file deleted).

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use crate::envelope::{DataKey, EnvelopeError, unwrap_key, wrap_key};
use crate::keys::KeyError;

/// Versioned 32-byte secrets, one file `v<N>.key` each: the master keys that wrap artifact data
/// keys, and the audit log's MAC keys.
#[derive(Clone)]
pub struct KeyRing {
    dir: PathBuf,
    keys: BTreeMap<u32, [u8; 32]>,
}

impl fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyRing {{ dir: {}, versions: {:?} }}", self.dir.display(), self.keys.keys().collect::<Vec<_>>())
    }
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> KeyError + '_ {
    move |source| KeyError::Io { path: path.to_owned(), source }
}

impl KeyRing {
    /// Loads every `v<N>.key` in `dir`; with `generate`, creates version 1 when there is none.
    pub fn load(dir: &Path, generate: bool) -> Result<Self, KeyError> {
        let mut keys = BTreeMap::new();
        match std::fs::read_dir(dir) {
            Ok(entries) => {
                for entry in entries {
                    let path = entry.map_err(io(dir))?.path();
                    let Some(version) = path
                        .file_name()
                        .and_then(|n| n.to_str())
                        .and_then(|n| n.strip_prefix('v'))
                        .and_then(|n| n.strip_suffix(".key"))
                        .and_then(|n| n.parse::<u32>().ok())
                    else {
                        continue;
                    };
                    let bytes = std::fs::read(&path).map_err(io(&path))?;
                    let key: [u8; 32] =
                        bytes.try_into().map_err(|_| KeyError::Invalid { name: "MASTER_KEY", message: format!("{} is not 32 bytes", path.display()) })?;
                    keys.insert(version, key);
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io(dir)(e)),
        }
        let mut ring = Self { dir: dir.to_owned(), keys };
        if ring.keys.is_empty() {
            if !generate {
                return Err(KeyError::Invalid { name: "MASTER_KEY", message: format!("no master key in {}", dir.display()) });
            }
            ring.add_version()?;
        }
        Ok(ring)
    }

    pub fn current_version(&self) -> u32 {
        self.keys.keys().next_back().copied().unwrap_or(0)
    }

    pub fn versions(&self) -> Vec<u32> {
        self.keys.keys().copied().collect()
    }

    /// Creates the next version (written with mode 0600, never overwriting) and makes it current.
    pub fn add_version(&mut self) -> Result<u32, KeyError> {
        let version = self.current_version() + 1;
        let key = crate::random::bytes::<32>().map_err(|_| KeyError::Invalid { name: "MASTER_KEY", message: "no randomness".into() })?;
        crate::keys::write_private(&self.dir.join(format!("v{version}.key")), &key)?;
        self.keys.insert(version, key);
        Ok(version)
    }

    /// Deletes an old version's key file. The caller checks first that no data key uses it.
    pub fn retire(&mut self, version: u32) -> Result<(), KeyError> {
        if version == self.current_version() {
            return Err(KeyError::Invalid { name: "MASTER_KEY", message: "the current version cannot be retired".into() });
        }
        let path = self.dir.join(format!("v{version}.key"));
        std::fs::remove_file(&path).map_err(io(&path))?;
        self.keys.remove(&version);
        Ok(())
    }

    /// HMAC-SHA256 of `message` under version `version`; `None` when that version is not loaded.
    pub fn hmac_sign(&self, version: u32, message: &[u8]) -> Option<Vec<u8>> {
        let key = self.keys.get(&version)?;
        Some(ring::hmac::sign(&ring::hmac::Key::new(ring::hmac::HMAC_SHA256, key), message).as_ref().to_vec())
    }

    /// Checks an HMAC-SHA256 tag in constant time; an unknown version never verifies.
    pub fn hmac_verify(&self, version: u32, message: &[u8], tag: &[u8]) -> bool {
        self.keys.get(&version).is_some_and(|key| ring::hmac::verify(&ring::hmac::Key::new(ring::hmac::HMAC_SHA256, key), message, tag).is_ok())
    }

    /// Wraps with the current version: (version, wrapped key).
    pub fn wrap(&self, artifact_id: &[u8; 16], dek: &DataKey) -> Result<(u32, Vec<u8>), EnvelopeError> {
        let v = self.current_version();
        let key = self.keys.get(&v).ok_or(EnvelopeError::Unwrap)?;
        Ok((v, wrap_key(key, v, artifact_id, dek)?))
    }

    pub fn unwrap(&self, version: u32, artifact_id: &[u8; 16], wrapped: &[u8]) -> Result<DataKey, EnvelopeError> {
        let key = self.keys.get(&version).ok_or(EnvelopeError::Unwrap)?;
        unwrap_key(key, version, artifact_id, wrapped)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotation_keeps_old_keys_usable_until_retired() -> Result<(), Box<dyn std::error::Error>> {
        let dir = std::env::temp_dir().join(format!("licentia-ring-{}", uuid::Uuid::new_v4()));
        let mut ring = KeyRing::load(&dir, true)?;
        assert_eq!(ring.current_version(), 1);
        let dek = DataKey::generate()?;
        let (v1, w1) = ring.wrap(&[1; 16], &dek)?;
        assert_eq!(ring.add_version()?, 2);
        let reloaded = KeyRing::load(&dir, false)?;
        assert_eq!(reloaded.versions(), vec![1, 2]);
        let back = reloaded.unwrap(v1, &[1; 16], &w1)?;
        let (v2, w2) = reloaded.wrap(&[1; 16], &back)?;
        assert_eq!(v2, 2);
        assert!(ring.retire(2).is_err(), "current version");
        ring.retire(1)?;
        assert!(KeyRing::load(&dir, false)?.unwrap(1, &[1; 16], &w1).is_err());
        assert!(KeyRing::load(&dir, false)?.unwrap(2, &[1; 16], &w2).is_ok());
        let tag = ring.hmac_sign(2, b"entry").ok_or("version 2 is loaded")?;
        assert!(ring.hmac_verify(2, b"entry", &tag));
        assert!(!ring.hmac_verify(2, b"entrz", &tag), "another message");
        assert!(!ring.hmac_verify(1, b"entry", &tag), "a retired version verifies nothing");
        assert!(ring.hmac_sign(7, b"entry").is_none());
        let _ = std::fs::remove_dir_all(&dir);
        Ok(())
    }
}
