//! Second-factor primitives: time-based one-time passwords (TOTP, RFC 6238) over HOTP (RFC 4226),
//! the `otpauth://` URI authenticator apps enrol from, and recovery codes.
//!
//! The use cases (not here) store the secret sealed, remember the last accepted time step and
//! throttle attempts; this module only computes and compares.

use std::fmt;

use crate::KeyRing;
use crate::envelope::{DataKey, EnvelopeError};

/// RFC 6238, section 4.1: the time step X; 30 seconds is the RFC's default and what authenticator
/// apps assume when the URI names none.
pub const STEP_SECONDS: i64 = 30;
/// Six digits, the `otpauth://` default (RFC 4226, section 5.3, requires at least six).
pub const DIGITS: u32 = 6;
/// Steps accepted either side of now. RFC 6238, section 5.2, recommends at most one step of
/// network delay; the same one step forward covers a phone's clock running a little fast.
pub const SKEW_STEPS: i64 = 1;

/// A user's TOTP secret: 256 random bits (RFC 4226, section 4, R6: at least 128, 160
/// recommended). `Debug` never prints it.
#[derive(Clone)]
pub struct TotpSecret([u8; 32]);

impl fmt::Debug for TotpSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TotpSecret(<redacted>)")
    }
}

impl TotpSecret {
    pub fn generate() -> Result<Self, EnvelopeError> {
        crate::random::bytes::<32>().map(Self).map_err(|_| EnvelopeError::NoRandomness)
    }

    /// The secret as authenticator apps take it when typed: base32 without padding.
    pub fn base32(&self) -> String {
        base32(&self.0)
    }

    /// The Key URI Format authenticator apps scan (`otpauth://totp/ISSUER:ACCOUNT?secret=...`):
    /// the label and the issuer parameter both name the issuer, as that format recommends.
    pub fn otpauth_uri(&self, issuer: &str, account: &str) -> String {
        let (i, a) = (percent(issuer), percent(account));
        format!("otpauth://totp/{i}:{a}?secret={}&issuer={i}&algorithm=SHA1&digits={DIGITS}&period={STEP_SECONDS}", self.base32())
    }

    /// Sealed with the key ring's current master key, bound to `user_id` (a sealed secret copied
    /// to another user's row fails to open).
    pub fn seal(&self, ring: &KeyRing, user_id: &[u8; 16]) -> Result<(u32, Vec<u8>), EnvelopeError> {
        ring.wrap(user_id, &DataKey::from_bytes(self.0))
    }

    pub fn unseal(ring: &KeyRing, version: u32, user_id: &[u8; 16], sealed: &[u8]) -> Result<Self, EnvelopeError> {
        ring.unwrap(version, user_id, sealed).map(|k| Self(*k.bytes()))
    }

    /// The time step `code` was valid in, if it matches one within [`SKEW_STEPS`] of `unix_time`
    /// and is later than `last_step` (RFC 6238, section 5.2: a code accepted once is refused
    /// after, which is why the caller stores the step this returns).
    pub fn verify(&self, code: &str, unix_time: i64, last_step: Option<i64>) -> Option<i64> {
        verify(&self.0, code, unix_time, last_step)
    }

    /// The code of the step containing `unix_time` (what the user's app shows).
    pub fn code_at(&self, unix_time: i64) -> String {
        format!("{:0width$}", hotp(&self.0, step_of(unix_time) as u64, DIGITS), width = DIGITS as usize)
    }
}

/// RFC 6238, section 4.2: T = floor((now - T0) / X), with T0 = 0.
pub fn step_of(unix_time: i64) -> i64 {
    unix_time.div_euclid(STEP_SECONDS)
}

/// HOTP (RFC 4226, section 5.3): HMAC-SHA-1 of the counter (8 bytes, big endian), dynamic
/// truncation to 31 bits, modulo 10^digits.
pub fn hotp(key: &[u8], counter: u64, digits: u32) -> u32 {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, key);
    let mac = ring::hmac::sign(&key, &counter.to_be_bytes());
    let h = mac.as_ref();
    let offset = usize::from(h[19] & 0x0f);
    let binary = u32::from_be_bytes([h[offset] & 0x7f, h[offset + 1], h[offset + 2], h[offset + 3]]);
    binary % 10u32.pow(digits)
}

fn verify(key: &[u8], code: &str, unix_time: i64, last_step: Option<i64>) -> Option<i64> {
    // Apps show "123 456"; people paste it so.
    let digits: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    if digits.len() != DIGITS as usize || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let wanted: u32 = digits.parse().ok()?;
    let now = step_of(unix_time);
    (now - SKEW_STEPS..=now + SKEW_STEPS).filter(|s| *s >= 0 && last_step.is_none_or(|last| *s > last)).find(|s| hotp(key, *s as u64, DIGITS) == wanted)
}

const BASE32_ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// RFC 4648, section 6, without the `=` padding (the Key URI Format omits it).
pub fn base32(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(5) * 8);
    for chunk in data.chunks(5) {
        let mut buf = [0u8; 5];
        buf[..chunk.len()].copy_from_slice(chunk);
        let bits = u64::from_be_bytes([0, 0, 0, buf[0], buf[1], buf[2], buf[3], buf[4]]);
        let chars = (chunk.len() * 8).div_ceil(5);
        for i in 0..chars {
            let index = (bits >> (35 - i * 5)) & 0x1f;
            out.push(char::from(BASE32_ALPHABET[index as usize]));
        }
    }
    out
}

/// Percent-encodes everything but RFC 3986's unreserved characters (and `@`, which labels keep).
fn percent(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'@' => char::from(b).to_string(),
            other => format!("%{other:02X}"),
        })
        .collect()
}

/// How many recovery codes a user gets at once.
pub const RECOVERY_CODES: usize = 10;

/// Fresh recovery codes, shown to the user once: 80 random bits each, written as four groups of
/// four base32 characters (`ABCD-EFGH-IJKL-MNOP`). With 80 bits a stored SHA-256 cannot be
/// reversed by guessing, so no slow hash is needed (and ten argon2 checks per attempt would be
/// a denial of service of their own).
pub fn recovery_codes() -> Result<Vec<String>, EnvelopeError> {
    (0..RECOVERY_CODES)
        .map(|_| {
            let raw = base32(&crate::random::bytes::<10>().map_err(|_| EnvelopeError::NoRandomness)?);
            Ok(raw.as_bytes().chunks(4).map(|c| String::from_utf8_lossy(c).into_owned()).collect::<Vec<_>>().join("-"))
        })
        .collect()
}

/// What is stored of a recovery code: SHA-256 of it with case, dashes and spaces ignored (so a
/// code typed in lower case or without dashes still matches).
pub fn recovery_digest(code: &str) -> [u8; 32] {
    let normal: String = code.chars().filter(|c| !c.is_whitespace() && *c != '-').map(|c| c.to_ascii_uppercase()).collect();
    let d = ring::digest::digest(&ring::digest::SHA256, normal.as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 4226, Appendix D: the secret "12345678901234567890" (ASCII) and the six-digit HOTP
    /// values for counters 0 to 9.
    #[test]
    fn hotp_matches_rfc_4226_appendix_d() {
        let expected = [755_224, 287_082, 359_152, 969_429, 338_314, 254_676, 287_922, 162_583, 399_871, 520_489];
        for (counter, want) in expected.into_iter().enumerate() {
            assert_eq!(hotp(b"12345678901234567890", counter as u64, 6), want, "counter {counter}");
        }
    }

    /// RFC 6238, Appendix B, the SHA-1 rows (eight digits, X = 30, T0 = 0, the same 20-byte seed).
    #[test]
    fn totp_matches_rfc_6238_appendix_b() {
        for (time, want) in [
            (59_i64, 94_287_082),
            (1_111_111_109, 7_081_804),
            (1_111_111_111, 14_050_471),
            (1_234_567_890, 89_005_924),
            (2_000_000_000, 69_279_037),
            (20_000_000_000, 65_353_130),
        ] {
            assert_eq!(hotp(b"12345678901234567890", step_of(time) as u64, 8), want, "T = {time}");
        }
        // The table's T column: 1111111109 s is step 0x23523EC, 20000000000 s is 0x27BC86AA.
        assert_eq!((step_of(1_111_111_109), step_of(20_000_000_000)), (0x0235_23EC, 0x27BC_86AA));
    }

    #[test]
    fn a_code_is_accepted_once_within_one_step_and_never_from_further_away() {
        let secret = TotpSecret([7; 32]);
        let now = 1_765_000_015; // inside a step
        let code = secret.code_at(now);
        let step = step_of(now);
        assert_eq!(secret.verify(&code, now, None), Some(step));
        assert_eq!(secret.verify(&format!("{} {}", &code[..3], &code[3..]), now, None), Some(step), "spaced as apps show it");
        assert_eq!(secret.verify(&code, now, Some(step)), None, "a reused code");
        // The previous step's code (delay) passes once, unless a later step was already used.
        let previous = secret.code_at(now - STEP_SECONDS);
        assert_eq!(secret.verify(&previous, now, None), Some(step - 1));
        assert_eq!(secret.verify(&previous, now, Some(step)), None);
        // Two steps away either side is the wrong window.
        assert_eq!(secret.verify(&secret.code_at(now - 2 * STEP_SECONDS), now, None), None);
        assert_eq!(secret.verify(&secret.code_at(now + 2 * STEP_SECONDS), now, None), None);
        // A wrong code, and malformed ones.
        let wrong = format!("{:06}", (code.parse::<u32>().unwrap_or(0) + 1) % 1_000_000);
        assert_eq!(secret.verify(&wrong, now, None), None);
        for bad in ["", "12345", "1234567", "12345a", "１２３４５６"] {
            assert_eq!(secret.verify(bad, now, None), None, "{bad:?}");
        }
        // The code is this secret's, not another's.
        assert_eq!(TotpSecret([8; 32]).verify(&code, now, None), None);
    }

    /// RFC 4648, section 10 (test vectors), without the padding.
    #[test]
    fn base32_matches_rfc_4648() {
        for (input, want) in [("", ""), ("f", "MY"), ("fo", "MZXQ"), ("foo", "MZXW6"), ("foob", "MZXW6YQ"), ("fooba", "MZXW6YTB"), ("foobar", "MZXW6YTBOI")] {
            assert_eq!(base32(input.as_bytes()), want, "{input:?}");
        }
        assert_eq!(TotpSecret([0; 32]).base32().len(), 52);
    }

    #[test]
    fn the_uri_names_issuer_account_and_parameters() {
        let uri = TotpSecret([0; 32]).otpauth_uri("Licentia", "ana ruiz@aurora.example");
        assert_eq!(
            uri,
            format!("otpauth://totp/Licentia:ana%20ruiz@aurora.example?secret={}&issuer=Licentia&algorithm=SHA1&digits=6&period=30", "A".repeat(52))
        );
    }

    #[test]
    fn recovery_codes_are_distinct_and_match_however_typed() -> Result<(), EnvelopeError> {
        let codes = recovery_codes()?;
        assert_eq!(codes.len(), RECOVERY_CODES);
        assert!(codes.iter().all(|c| c.len() == 19 && c.split('-').count() == 4), "{codes:?}");
        let unique: std::collections::HashSet<_> = codes.iter().map(|c| recovery_digest(c)).collect();
        assert_eq!(unique.len(), RECOVERY_CODES);
        let c = &codes[0];
        assert_eq!(recovery_digest(&c.to_lowercase().replace('-', " ")), recovery_digest(c));
        assert_ne!(recovery_digest(&codes[1]), recovery_digest(c));
        Ok(())
    }

    #[test]
    fn a_sealed_secret_opens_only_for_its_user() -> Result<(), Box<dyn std::error::Error>> {
        let dir = std::env::temp_dir().join(format!("licentia-totp-{}", uuid::Uuid::new_v4()));
        let ring = KeyRing::load(&dir, true)?;
        let secret = TotpSecret::generate()?;
        let (v, sealed) = secret.seal(&ring, &[1; 16])?;
        assert_eq!(TotpSecret::unseal(&ring, v, &[1; 16], &sealed)?.base32(), secret.base32());
        assert!(TotpSecret::unseal(&ring, v, &[2; 16], &sealed).is_err());
        std::fs::remove_dir_all(&dir).ok();
        Ok(())
    }
}
