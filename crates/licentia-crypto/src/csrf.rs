//! CSRF tokens bound to a session: `HMAC-SHA256(key, "csrf" ‖ session id)`. Nothing to store, the
//! token dies with the session, and a token from one session is useless in another.

use std::fmt;

use base64::Engine as _;
use ring::hmac;

pub struct CsrfKey(hmac::Key);

impl CsrfKey {
    pub fn from_bytes(secret: &[u8]) -> Self {
        Self(hmac::Key::new(hmac::HMAC_SHA256, secret))
    }

    pub fn token_for(&self, binding: &str) -> String {
        let tag = hmac::sign(&self.0, format!("csrf\0{binding}").as_bytes());
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(tag.as_ref())
    }

    /// Constant-time comparison (ring's `hmac::verify`).
    pub fn verify(&self, binding: &str, token: &str) -> bool {
        let Ok(tag) = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(token.as_bytes()) else {
            return false;
        };
        hmac::verify(&self.0, format!("csrf\0{binding}").as_bytes(), &tag).is_ok()
    }
}

impl fmt::Debug for CsrfKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CsrfKey(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_bound_to_their_session_and_key() {
        let key = CsrfKey::from_bytes(b"0123456789abcdef0123456789abcdef");
        let token = key.token_for("session-a");
        assert!(key.verify("session-a", &token));
        assert!(!key.verify("session-b", &token));
        assert!(!key.verify("session-a", ""));
        assert!(!key.verify("session-a", "%%%not base64"));
        let other = CsrfKey::from_bytes(b"another key of thirty-two bytes!");
        assert!(!other.verify("session-a", &token));
    }
}
