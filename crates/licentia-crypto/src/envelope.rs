//! Envelope encryption of artifacts: a fresh 256-bit data key per artifact encrypts its content with
//! AES-256-GCM in fixed-size segments (a streaming AEAD in the style of Tink's
//! `AesGcmHkdfStreaming`, without the HKDF step since every data key is used for one artifact only);
//! the data key is wrapped by a versioned master key.
//!
//! Ciphertext layout: `header ‖ segment_0 ‖ … ‖ segment_n`, where
//! - `header` = `b"LCA1"` ‖ segment size (u32, big endian) ‖ 7-byte random nonce prefix;
//! - each segment is `AES-256-GCM(plaintext_i)` with its 16-byte tag, plaintext segments being
//!   exactly `segment size` bytes except the last (0 to `segment size` bytes);
//! - nonce_i = prefix ‖ i (u32, big endian) ‖ last-segment flag (1 byte): a reordered, dropped,
//!   appended or truncated segment fails to decrypt;
//! - associated data of every segment = header ‖ artifact id ‖ artifact version ‖ i, so a
//!   segment, or a whole ciphertext, moved to another artifact fails to decrypt.
//!
//! No plaintext of a segment is released before its tag verifies (ring's `open_in_place`), and a
//! stream that ends without a segment flagged last is an error.

use std::fmt;

use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};

pub const MAGIC: &[u8; 4] = b"LCA1";
pub const HEADER_LEN: usize = 4 + 4 + PREFIX_LEN;
pub const PREFIX_LEN: usize = 7;
pub const TAG_LEN: usize = 16;
/// 64 KiB: large enough that the per-segment overhead (16 bytes) is 0.02 %, small enough that
/// streaming holds only a few segments in memory.
pub const DEFAULT_SEGMENT: usize = 64 * 1024;
/// The counter is 32 bits: at 64 KiB per segment that is 256 TiB per artifact.
pub const MAX_SEGMENTS: u64 = 1 << 32;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    /// A segment (or the header, or the stream's end) failed authentication. Deliberately vague:
    /// which byte was wrong is not the reader's business.
    #[error("artifact failed to decrypt: {0}")]
    Corrupt(&'static str),
    #[error("artifact exceeds 2^32 segments")]
    TooLarge,
    #[error("no randomness available")]
    NoRandomness,
    #[error("data key could not be unwrapped")]
    Unwrap,
}

/// A 256-bit data key. `Debug` never prints it.
#[derive(Clone)]
pub struct DataKey([u8; 32]);

impl DataKey {
    pub fn generate() -> Result<Self, EnvelopeError> {
        crate::random::bytes::<32>().map(Self).map_err(|_| EnvelopeError::NoRandomness)
    }
    /// A key from its bytes (a webhook secret sealed like a data key).
    pub(crate) fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }
    pub(crate) fn bytes(&self) -> &[u8; 32] {
        &self.0
    }
    fn aead(&self) -> Result<LessSafeKey, EnvelopeError> {
        UnboundKey::new(&AES_256_GCM, &self.0).map(LessSafeKey::new).map_err(|_| EnvelopeError::Corrupt("key"))
    }
}

impl fmt::Debug for DataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DataKey(<redacted>)")
    }
}

/// What a ciphertext is bound to: the artifact's id and version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Binding {
    pub artifact_id: [u8; 16],
    pub version: u32,
}

/// The 12-byte nonce of segment `index`: prefix ‖ index ‖ last flag. Public for known-answer tests.
pub fn segment_nonce(prefix: &[u8; PREFIX_LEN], index: u32, last: bool) -> [u8; NONCE_LEN] {
    let mut n = [0u8; NONCE_LEN];
    n[..PREFIX_LEN].copy_from_slice(prefix);
    n[PREFIX_LEN..PREFIX_LEN + 4].copy_from_slice(&index.to_be_bytes());
    n[NONCE_LEN - 1] = u8::from(last);
    n
}

fn segment_aad(header: &[u8; HEADER_LEN], binding: &Binding, index: u32) -> Vec<u8> {
    let mut aad = Vec::with_capacity(HEADER_LEN + 16 + 8);
    aad.extend_from_slice(header);
    aad.extend_from_slice(&binding.artifact_id);
    aad.extend_from_slice(&binding.version.to_be_bytes());
    aad.extend_from_slice(&index.to_be_bytes());
    aad
}

/// Encrypts a stream segment by segment. Feed plaintext with [`Encryptor::push`]; it returns
/// ciphertext as soon as whole segments are available. [`Encryptor::finish`] seals the last one.
pub struct Encryptor {
    key: LessSafeKey,
    header: [u8; HEADER_LEN],
    prefix: [u8; PREFIX_LEN],
    binding: Binding,
    segment: usize,
    index: u64,
    pending: Vec<u8>,
    header_sent: bool,
}

impl Encryptor {
    pub fn new(key: &DataKey, binding: Binding, segment: usize) -> Result<Self, EnvelopeError> {
        let prefix = crate::random::bytes::<PREFIX_LEN>().map_err(|_| EnvelopeError::NoRandomness)?;
        Self::with_prefix(key, binding, segment, prefix)
    }

    /// For known-answer tests only: a fixed prefix.
    pub fn with_prefix(key: &DataKey, binding: Binding, segment: usize, prefix: [u8; PREFIX_LEN]) -> Result<Self, EnvelopeError> {
        let segment_u32 = u32::try_from(segment).map_err(|_| EnvelopeError::TooLarge)?;
        if segment == 0 {
            return Err(EnvelopeError::Corrupt("segment size"));
        }
        let mut header = [0u8; HEADER_LEN];
        header[..4].copy_from_slice(MAGIC);
        header[4..8].copy_from_slice(&segment_u32.to_be_bytes());
        header[8..].copy_from_slice(&prefix);
        Ok(Self { key: key.aead()?, header, prefix, binding, segment, index: 0, pending: Vec::with_capacity(segment + TAG_LEN), header_sent: false })
    }

    fn seal(&mut self, mut plaintext: Vec<u8>, last: bool) -> Result<Vec<u8>, EnvelopeError> {
        if self.index >= MAX_SEGMENTS {
            return Err(EnvelopeError::TooLarge);
        }
        let index = self.index as u32;
        let nonce = Nonce::assume_unique_for_key(segment_nonce(&self.prefix, index, last));
        let aad = segment_aad(&self.header, &self.binding, index);
        self.key.seal_in_place_append_tag(nonce, Aad::from(&aad), &mut plaintext).map_err(|_| EnvelopeError::Corrupt("seal"))?;
        self.index += 1;
        Ok(plaintext)
    }

    fn take_header(&mut self, out: &mut Vec<u8>) {
        if !self.header_sent {
            out.extend_from_slice(&self.header);
            self.header_sent = true;
        }
    }

    /// Ciphertext for every segment completed by `data`. A full segment is only sealed once more
    /// data arrives, since until then it might be the last one.
    pub fn push(&mut self, mut data: &[u8]) -> Result<Vec<u8>, EnvelopeError> {
        let mut out = Vec::new();
        self.take_header(&mut out);
        while !data.is_empty() {
            if self.pending.len() == self.segment {
                // Room for the tag up front: sealing in place must not reallocate and copy.
                let full = std::mem::replace(&mut self.pending, Vec::with_capacity(self.segment + TAG_LEN));
                let sealed = self.seal(full, false)?;
                if out.is_empty() {
                    out = sealed;
                } else {
                    out.extend_from_slice(&sealed);
                }
            }
            let room = self.segment - self.pending.len();
            let take = room.min(data.len());
            self.pending.extend_from_slice(&data[..take]);
            data = &data[take..];
        }
        Ok(out)
    }

    /// Seals the final segment (possibly empty) with the last-segment flag.
    pub fn finish(mut self) -> Result<Vec<u8>, EnvelopeError> {
        let mut out = Vec::new();
        self.take_header(&mut out);
        let last = std::mem::take(&mut self.pending);
        out.extend_from_slice(&self.seal(last, true)?);
        Ok(out)
    }
}

/// Decrypts a stream. Feed ciphertext with [`Decryptor::push`]: it returns plaintext only for
/// segments whose tag verified and that are known not to be the last; [`Decryptor::finish`]
/// verifies the final segment and fails if the stream was truncated.
pub struct Decryptor {
    key: LessSafeKey,
    binding: Binding,
    header: Option<[u8; HEADER_LEN]>,
    prefix: [u8; PREFIX_LEN],
    segment: usize,
    index: u64,
    buf: Vec<u8>,
}

impl Decryptor {
    pub fn new(key: &DataKey, binding: Binding) -> Result<Self, EnvelopeError> {
        Ok(Self { key: key.aead()?, binding, header: None, prefix: [0; PREFIX_LEN], segment: 0, index: 0, buf: Vec::new() })
    }

    fn open(&mut self, mut ct: Vec<u8>, last: bool) -> Result<Vec<u8>, EnvelopeError> {
        let header = self.header.ok_or(EnvelopeError::Corrupt("header"))?;
        if self.index >= MAX_SEGMENTS {
            return Err(EnvelopeError::TooLarge);
        }
        let index = self.index as u32;
        let nonce = Nonce::assume_unique_for_key(segment_nonce(&self.prefix, index, last));
        let aad = segment_aad(&header, &self.binding, index);
        let len = self.key.open_in_place(nonce, Aad::from(&aad), &mut ct).map_err(|_| EnvelopeError::Corrupt("segment"))?.len();
        ct.truncate(len);
        self.index += 1;
        Ok(ct)
    }

    /// Plaintext of every segment that is complete, authenticated and not the last.
    pub fn push(&mut self, data: &[u8]) -> Result<Vec<u8>, EnvelopeError> {
        self.buf.extend_from_slice(data);
        if self.header.is_none() {
            if self.buf.len() < HEADER_LEN {
                return Ok(Vec::new());
            }
            let mut header = [0u8; HEADER_LEN];
            header.copy_from_slice(&self.buf[..HEADER_LEN]);
            if &header[..4] != MAGIC {
                return Err(EnvelopeError::Corrupt("header"));
            }
            let segment = u32::from_be_bytes([header[4], header[5], header[6], header[7]]) as usize;
            // A hostile header must not make us buffer gigabytes: cap the segment size.
            if segment == 0 || segment > 16 * 1024 * 1024 {
                return Err(EnvelopeError::Corrupt("header"));
            }
            self.prefix.copy_from_slice(&header[8..]);
            self.segment = segment;
            self.header = Some(header);
            self.buf.drain(..HEADER_LEN);
        }
        let full = self.segment + TAG_LEN;
        let mut out = Vec::new();
        // Strictly more than one segment buffered: the one at the front is not the last.
        while self.buf.len() > full {
            let ct: Vec<u8> = self.buf.drain(..full).collect();
            out.extend_from_slice(&self.open(ct, false)?);
        }
        Ok(out)
    }

    /// Verifies and returns the last segment. A stream without a segment flagged last (truncated
    /// at a segment boundary), or with trailing segments, fails here.
    pub fn finish(mut self) -> Result<Vec<u8>, EnvelopeError> {
        if self.header.is_none() || self.buf.len() < TAG_LEN {
            return Err(EnvelopeError::Corrupt("truncated"));
        }
        let ct = std::mem::take(&mut self.buf);
        self.open(ct, true)
    }
}

/// Wraps a data key with a master key (AES-256-GCM, random nonce), binding it to the artifact id
/// and the master key version: `nonce ‖ ciphertext ‖ tag`.
pub fn wrap_key(master: &[u8; 32], master_version: u32, artifact_id: &[u8; 16], dek: &DataKey) -> Result<Vec<u8>, EnvelopeError> {
    let key = UnboundKey::new(&AES_256_GCM, master).map(LessSafeKey::new).map_err(|_| EnvelopeError::Unwrap)?;
    let nonce_bytes = crate::random::bytes::<NONCE_LEN>().map_err(|_| EnvelopeError::NoRandomness)?;
    let mut buf = dek.0.to_vec();
    key.seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce_bytes), Aad::from(wrap_aad(master_version, artifact_id)), &mut buf)
        .map_err(|_| EnvelopeError::Unwrap)?;
    let mut out = nonce_bytes.to_vec();
    out.extend_from_slice(&buf);
    Ok(out)
}

pub fn unwrap_key(master: &[u8; 32], master_version: u32, artifact_id: &[u8; 16], wrapped: &[u8]) -> Result<DataKey, EnvelopeError> {
    if wrapped.len() != NONCE_LEN + 32 + TAG_LEN {
        return Err(EnvelopeError::Unwrap);
    }
    let key = UnboundKey::new(&AES_256_GCM, master).map(LessSafeKey::new).map_err(|_| EnvelopeError::Unwrap)?;
    let mut nonce = [0u8; NONCE_LEN];
    nonce.copy_from_slice(&wrapped[..NONCE_LEN]);
    let mut buf = wrapped[NONCE_LEN..].to_vec();
    let plain = key
        .open_in_place(Nonce::assume_unique_for_key(nonce), Aad::from(wrap_aad(master_version, artifact_id)), &mut buf)
        .map_err(|_| EnvelopeError::Unwrap)?;
    let mut dek = [0u8; 32];
    dek.copy_from_slice(plain);
    Ok(DataKey(dek))
}

fn wrap_aad(version: u32, artifact_id: &[u8; 16]) -> [u8; 4 + 16 + 15] {
    let mut aad = [0u8; 35];
    aad[..15].copy_from_slice(b"licentia-dek/v1");
    aad[15..19].copy_from_slice(&version.to_be_bytes());
    aad[19..].copy_from_slice(artifact_id);
    aad
}

/// Encrypts a whole buffer (tests and small artifacts).
pub fn encrypt_all(key: &DataKey, binding: Binding, segment: usize, plaintext: &[u8]) -> Result<Vec<u8>, EnvelopeError> {
    let mut e = Encryptor::new(key, binding, segment)?;
    let mut out = e.push(plaintext)?;
    out.extend_from_slice(&e.finish()?);
    Ok(out)
}

/// Decrypts a whole buffer, feeding it in `chunk`-sized pieces as a network would.
pub fn decrypt_all(key: &DataKey, binding: Binding, ciphertext: &[u8], chunk: usize) -> Result<Vec<u8>, EnvelopeError> {
    let mut d = Decryptor::new(key, binding)?;
    let mut out = Vec::new();
    for piece in ciphertext.chunks(chunk.max(1)) {
        out.extend_from_slice(&d.push(piece)?);
    }
    out.extend_from_slice(&d.finish()?);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const B: Binding = Binding { artifact_id: [7u8; 16], version: 1 };

    fn key() -> DataKey {
        DataKey([0x42; 32])
    }

    #[test]
    fn nonce_builder_known_answers() {
        let prefix = [0xa0, 0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6];
        assert_eq!(segment_nonce(&prefix, 0, false), [0xa0, 0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0, 0, 0, 0, 0]);
        assert_eq!(segment_nonce(&prefix, 1, true), [0xa0, 0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0, 0, 0, 1, 1]);
        assert_eq!(segment_nonce(&prefix, 0x0102_0304, false)[7..], [1, 2, 3, 4, 0]);
        assert_eq!(segment_nonce(&prefix, u32::MAX, true)[7..], [0xff, 0xff, 0xff, 0xff, 1]);
    }

    #[test]
    fn known_answer_for_a_fixed_key_and_prefix() -> Result<(), EnvelopeError> {
        // Pinned so that a change of format is a deliberate, visible act (it would strand every
        // stored artifact).
        let mut e = Encryptor::with_prefix(&key(), B, 4, [1, 2, 3, 4, 5, 6, 7])?;
        let mut ct = e.push(b"hello")?;
        ct.extend_from_slice(&e.finish()?);
        assert_eq!(ct.len(), HEADER_LEN + (4 + TAG_LEN) + (1 + TAG_LEN));
        assert_eq!(&ct[..HEADER_LEN], &[b'L', b'C', b'A', b'1', 0, 0, 0, 4, 1, 2, 3, 4, 5, 6, 7]);
        assert_eq!(decrypt_all(&key(), B, &ct, 3)?, b"hello");
        Ok(())
    }

    #[test]
    fn round_trips_at_every_boundary_and_chunking() -> Result<(), EnvelopeError> {
        for len in [0usize, 1, 15, 16, 17, 31, 32, 33, 100] {
            let plain: Vec<u8> = (0..len).map(|i| (i * 7) as u8).collect();
            let ct = encrypt_all(&key(), B, 16, &plain)?;
            for chunk in [1, 5, 16, 32, 1000] {
                assert_eq!(decrypt_all(&key(), B, &ct, chunk)?, plain, "len {len} chunk {chunk}");
            }
        }
        Ok(())
    }

    #[test]
    fn two_encryptions_differ() -> Result<(), EnvelopeError> {
        let a = encrypt_all(&key(), B, 16, b"same plaintext")?;
        let b = encrypt_all(&key(), B, 16, b"same plaintext")?;
        assert_ne!(a[8..HEADER_LEN], b[8..HEADER_LEN], "nonce prefixes repeat");
        assert_ne!(a, b);
        Ok(())
    }

    fn segments(ct: &[u8], seg: usize) -> Vec<Vec<u8>> {
        ct[HEADER_LEN..].chunks(seg + TAG_LEN).map(<[u8]>::to_vec).collect()
    }

    #[test]
    fn every_kind_of_tampering_fails_and_releases_nothing_of_the_bad_segment() -> Result<(), EnvelopeError> {
        let seg = 16;
        let plain: Vec<u8> = (0..64u8).collect(); // four full segments + an empty last one
        let ct = encrypt_all(&key(), B, seg, &plain)?;
        let segs = segments(&ct, seg);
        let header = ct[..HEADER_LEN].to_vec();
        let join = |h: &[u8], s: &[Vec<u8>]| -> Vec<u8> { h.iter().copied().chain(s.iter().flatten().copied()).collect() };
        let mut cases: Vec<(&str, Vec<u8>)> = Vec::new();
        for i in 0..HEADER_LEN {
            let mut t = ct.clone();
            t[i] ^= 1;
            cases.push(("header byte", t));
        }
        for i in [HEADER_LEN, HEADER_LEN + 5, HEADER_LEN + seg + 3] {
            let mut t = ct.clone();
            t[i] ^= 0x80;
            cases.push(("segment byte", t));
        }
        let mut tag = ct.clone();
        tag[HEADER_LEN + seg + 1] ^= 1; // inside the first segment's tag
        cases.push(("tag byte", tag));
        cases.push(("last segment dropped", join(&header, &segs[..segs.len() - 1])));
        let mut appended = segs.clone();
        appended.push(segs[1].clone());
        cases.push(("segment appended", join(&header, &appended)));
        let mut swapped = segs.clone();
        swapped.swap(1, 2);
        cases.push(("segments swapped", join(&header, &swapped)));
        cases.push(("truncated mid-segment", ct[..ct.len() - 3].to_vec()));
        cases.push(("empty", Vec::new()));
        for (name, t) in cases {
            let mut d = Decryptor::new(&key(), B)?;
            let mut released = Vec::new();
            let mut failed = false;
            for piece in t.chunks(7) {
                match d.push(piece) {
                    Ok(p) => released.extend_from_slice(&p),
                    Err(_) => {
                        failed = true;
                        break;
                    }
                }
            }
            if !failed {
                failed = d.finish().is_err();
            }
            assert!(failed, "{name} decrypted");
            // Only segments before the damage may have been released, and they are genuine.
            assert!(plain.starts_with(&released), "{name} released forged plaintext");
        }
        // Another artifact's binding: the whole ciphertext is refused.
        let other = Binding { artifact_id: [8u8; 16], version: 1 };
        assert!(decrypt_all(&key(), other, &ct, 64).is_err());
        let next_version = Binding { artifact_id: [7u8; 16], version: 2 };
        assert!(decrypt_all(&key(), next_version, &ct, 64).is_err());
        Ok(())
    }

    #[test]
    fn the_segment_counter_is_refused_past_2_pow_32() -> Result<(), EnvelopeError> {
        let mut e = Encryptor::with_prefix(&key(), B, 1, [0; PREFIX_LEN])?;
        e.index = MAX_SEGMENTS - 1;
        assert!(e.push(b"ab").is_ok(), "segment 2^32 - 1 is the last allowed");
        assert_eq!(e.push(b"c"), Err(EnvelopeError::TooLarge));
        Ok(())
    }

    #[test]
    fn wrapped_keys_are_bound_to_artifact_and_master_version() -> Result<(), EnvelopeError> {
        let master = [9u8; 32];
        let dek = DataKey::generate()?;
        let w = wrap_key(&master, 3, &[1; 16], &dek)?;
        assert_eq!(unwrap_key(&master, 3, &[1; 16], &w)?.0, dek.0);
        assert!(unwrap_key(&master, 3, &[2; 16], &w).is_err(), "moved to another artifact");
        assert!(unwrap_key(&master, 4, &[1; 16], &w).is_err(), "claimed another master version");
        assert!(unwrap_key(&[8u8; 32], 3, &[1; 16], &w).is_err(), "another master key");
        assert!(unwrap_key(&master, 3, &[1; 16], &w[..40]).is_err());
        assert!(!format!("{dek:?}").contains("42"));
        Ok(())
    }
}
