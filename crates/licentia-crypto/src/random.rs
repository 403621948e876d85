//! Randomness from the operating system (ring's `SystemRandom`).

use ring::rand::{SecureRandom, SystemRandom};

/// `N` random bytes. The OS generator failing is unrecoverable for a security product, so it is
/// reported rather than papered over.
pub fn bytes<const N: usize>() -> Result<[u8; N], ring::error::Unspecified> {
    let mut buf = [0u8; N];
    SystemRandom::new().fill(&mut buf)?;
    Ok(buf)
}

/// A URL-safe random token of 32 bytes (256 bits).
pub fn token() -> Result<String, ring::error::Unspecified> {
    use base64::Engine as _;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes::<32>()?))
}
