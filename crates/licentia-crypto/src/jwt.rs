//! Access tokens: EdDSA-signed JWTs.
//!
//! Verification accepts exactly one algorithm (EdDSA), requires `exp`, `nbf`, `iat`, `iss`, `aud`,
//! `sub` and `jti`, and requires the `typ` header to be `JWT`. That refuses `alg: none`, HMAC tokens
//! "signed" with the public key (algorithm confusion), foreign audiences and issuers, and claims of
//! the wrong JSON type (an `exp` given as a string fails to deserialise). Whether the `jti` is still
//! a live session is the caller's check: this module knows nothing of the database.

use std::fmt;

use chrono::{DateTime, Duration, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use licentia_domain::{OrganisationId, Role, SessionId, UserId};
use serde::{Deserialize, Serialize};

use crate::signing::{SigningError, SigningKey};

/// Seconds of clock skew tolerated between nodes.
pub const LEEWAY_SECS: u64 = 30;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Claims {
    pub sub: UserId,
    pub org: OrganisationId,
    pub role: Role,
    pub jti: SessionId,
    pub iss: String,
    pub aud: String,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
}

impl Claims {
    pub fn expires_at(&self) -> DateTime<Utc> {
        DateTime::from_timestamp(self.exp, 0).unwrap_or(DateTime::<Utc>::UNIX_EPOCH)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum JwtError {
    /// Any reason a token is not acceptable. Deliberately one variant: the caller answers 401
    /// either way, and the reason goes to the log, not to the client.
    #[error("invalid token: {0}")]
    Invalid(String),
    #[error("could not sign token: {0}")]
    Sign(String),
}

/// The token signing key and the expected issuer and audience.
pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    issuer: String,
    audience: String,
}

impl JwtKeys {
    pub const ISSUER: &'static str = "licentia";
    pub const AUDIENCE: &'static str = "licentia-api";

    pub fn from_pkcs8(pkcs8: &[u8]) -> Result<Self, SigningError> {
        let signing = SigningKey::from_pkcs8(pkcs8)?;
        let public = signing.verifying_key();
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.algorithms = vec![Algorithm::EdDSA];
        validation.leeway = LEEWAY_SECS;
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.set_issuer(&[Self::ISSUER]);
        validation.set_audience(&[Self::AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
        Ok(Self {
            encoding: EncodingKey::from_ed_der(pkcs8),
            decoding: DecodingKey::from_ed_der(public.as_bytes()),
            validation,
            issuer: Self::ISSUER.to_owned(),
            audience: Self::AUDIENCE.to_owned(),
        })
    }

    /// The raw ed25519 public key (tests use it to attempt algorithm confusion).
    pub fn public_key(&self) -> &[u8] {
        self.decoding.as_bytes()
    }

    /// Claims for a new session of `ttl`, valid from `now`.
    pub fn claims(&self, user: UserId, org: OrganisationId, role: Role, session: SessionId, now: DateTime<Utc>, ttl: Duration) -> Claims {
        Claims {
            sub: user,
            org,
            role,
            jti: session,
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            iat: now.timestamp(),
            nbf: now.timestamp(),
            exp: (now + ttl).timestamp(),
        }
    }

    pub fn issue(&self, claims: &Claims) -> Result<String, JwtError> {
        jsonwebtoken::encode(&Header::new(Algorithm::EdDSA), claims, &self.encoding).map_err(|e| JwtError::Sign(e.to_string()))
    }

    pub fn verify(&self, token: &str) -> Result<Claims, JwtError> {
        // Bound the work done on hostile input before any parsing.
        if token.len() > 4096 {
            return Err(JwtError::Invalid("token too long".into()));
        }
        let header = jsonwebtoken::decode_header(token).map_err(|e| JwtError::Invalid(e.to_string()))?;
        if header.alg != Algorithm::EdDSA || header.typ.as_deref() != Some("JWT") {
            return Err(JwtError::Invalid("unexpected header".into()));
        }
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation).map(|data| data.claims).map_err(|e| JwtError::Invalid(e.to_string()))
    }

    /// A startup self-test: sign and verify a throwaway token. Catches a jsonwebtoken build without
    /// a crypto backend before the first user does.
    pub fn self_test(&self) -> Result<(), JwtError> {
        let claims = self.claims(UserId::new(), OrganisationId::new(), Role::Auditor, SessionId::new(), Utc::now(), Duration::minutes(1));
        let token = self.issue(&claims)?;
        let back = self.verify(&token)?;
        if back == claims { Ok(()) } else { Err(JwtError::Invalid("self-test round trip differs".into())) }
    }
}

impl fmt::Debug for JwtKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtKeys").field("issuer", &self.issuer).field("audience", &self.audience).finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;

    use super::*;

    fn keys() -> JwtKeys {
        let der = SigningKey::generate_pkcs8().map_err(|e| e.to_string());
        match der.and_then(|d| JwtKeys::from_pkcs8(&d).map_err(|e| e.to_string())) {
            Ok(k) => k,
            Err(e) => panic!("test key: {e}"),
        }
    }

    fn sample(keys: &JwtKeys) -> Claims {
        keys.claims(UserId::new(), OrganisationId::new(), Role::Manager, SessionId::new(), Utc::now(), Duration::minutes(15))
    }

    /// Builds a token by hand from arbitrary header and claims JSON and a signature function.
    fn forge(header: serde_json::Value, claims: serde_json::Value, sign: impl Fn(&[u8]) -> Vec<u8>) -> String {
        let h = B64.encode(header.to_string());
        let c = B64.encode(claims.to_string());
        let sig = sign(format!("{h}.{c}").as_bytes());
        format!("{h}.{c}.{}", B64.encode(sig))
    }

    #[test]
    fn a_fresh_token_round_trips() -> Result<(), JwtError> {
        let keys = keys();
        keys.self_test()?;
        let claims = sample(&keys);
        assert_eq!(keys.verify(&keys.issue(&claims)?)?, claims);
        Ok(())
    }

    #[test]
    fn alg_none_and_hmac_with_the_public_key_are_refused() -> Result<(), JwtError> {
        let keys = keys();
        let claims = serde_json::to_value(sample(&keys)).map_err(|e| JwtError::Sign(e.to_string()))?;
        let none = forge(serde_json::json!({"alg": "none", "typ": "JWT"}), claims.clone(), |_| Vec::new());
        assert!(keys.verify(&none).is_err());
        let none_trailing = none.trim_end_matches('.').to_string() + ".";
        assert!(keys.verify(&none_trailing).is_err());
        let public = keys.public_key().to_vec();
        let hs = forge(serde_json::json!({"alg": "HS256", "typ": "JWT"}), claims, |msg| {
            ring::hmac::sign(&ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &public), msg).as_ref().to_vec()
        });
        assert!(keys.verify(&hs).is_err());
        Ok(())
    }

    #[test]
    fn wrong_key_audience_issuer_and_types_are_refused() -> Result<(), JwtError> {
        let keys = keys();
        let other = self::keys();
        let claims = sample(&keys);
        assert!(keys.verify(&other.issue(&claims)?).is_err(), "signed by another key");

        let signer = |k: &JwtKeys, v: serde_json::Value| -> Result<String, JwtError> {
            jsonwebtoken::encode(&Header::new(Algorithm::EdDSA), &v, &k.encoding).map_err(|e| JwtError::Sign(e.to_string()))
        };
        let mut v = serde_json::to_value(&claims).map_err(|e| JwtError::Sign(e.to_string()))?;
        v["aud"] = "someone-else".into();
        assert!(keys.verify(&signer(&keys, v.clone())?).is_err(), "wrong aud");
        v["aud"] = JwtKeys::AUDIENCE.into();
        v["iss"] = "mallory".into();
        assert!(keys.verify(&signer(&keys, v.clone())?).is_err(), "wrong iss");
        v["iss"] = JwtKeys::ISSUER.into();
        v["exp"] = "never".into();
        assert!(keys.verify(&signer(&keys, v.clone())?).is_err(), "exp as a string");
        v["exp"] = (Utc::now() + Duration::minutes(5)).timestamp().into();
        v["nbf"] = "later".into();
        assert!(keys.verify(&signer(&keys, v.clone())?).is_err(), "nbf as a string");
        v["nbf"] = (Utc::now() + Duration::hours(1)).timestamp().into();
        assert!(keys.verify(&signer(&keys, v.clone())?).is_err(), "nbf in the future");
        v["nbf"] = Utc::now().timestamp().into();
        assert!(keys.verify(&signer(&keys, v.clone())?).is_ok(), "the control case must pass");
        let mut typ = Header::new(Algorithm::EdDSA);
        typ.typ = Some("at+jwt-not".into());
        let wrong_typ = jsonwebtoken::encode(&typ, &v, &keys.encoding).map_err(|e| JwtError::Sign(e.to_string()))?;
        assert!(keys.verify(&wrong_typ).is_err(), "wrong typ");
        Ok(())
    }

    #[test]
    fn expiry_allows_the_leeway_and_not_a_second_more() -> Result<(), JwtError> {
        let keys = keys();
        let now = Utc::now();
        let past = now - Duration::minutes(20);
        let mut claims = keys.claims(UserId::new(), OrganisationId::new(), Role::Admin, SessionId::new(), past, Duration::minutes(5));
        claims.exp = now.timestamp() - LEEWAY_SECS as i64 - 2;
        assert!(keys.verify(&keys.issue(&claims)?).is_err(), "expired by leeway + 2 s");
        claims.exp = now.timestamp() - (LEEWAY_SECS as i64) + 10;
        assert!(keys.verify(&keys.issue(&claims)?).is_ok(), "inside the leeway");
        Ok(())
    }

    #[test]
    fn hostile_sizes_and_shapes_are_refused_without_panicking() {
        let keys = keys();
        for t in ["", ".", "..", "a.b.c", "eyJhbGciOiJFZERTQSJ9..", &"A".repeat(10_000)] {
            assert!(keys.verify(t).is_err(), "{t:.20}");
        }
    }
}
