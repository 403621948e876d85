//! Licentia's cryptography, all behind small typed APIs:
//!
//! - [`password`]: argon2id hashing at OWASP parameters, with a dummy hash for unknown users;
//! - [`jwt`]: EdDSA-signed access tokens with an explicit algorithm allowlist;
//! - [`signing`]: ed25519 keys (ring) for audit checkpoints;
//! - [`csrf`]: HMAC-derived per-session CSRF tokens;
//! - [`envelope`]: streaming AES-256-GCM envelope encryption of artifacts; [`keyring`]: versioned master keys;
//! - [`keys`]: secrets from the environment or key files, generated with mode 0600 in development;
//! - [`webhook`]: Standard Webhooks signing secrets, sealed by the key ring, and signatures;
//! - [`totp`]: second-factor primitives (RFC 6238 TOTP, `otpauth://` URIs, recovery codes).
//!
//! Secrets are wrapped so that `Debug` never prints them.

pub mod csrf;
pub mod envelope;
pub mod jwt;
pub mod keyring;
pub mod keys;
pub mod password;
pub mod random;
pub mod signing;
pub mod totp;
pub mod webhook;

pub use csrf::CsrfKey;
pub use jwt::{Claims, JwtError, JwtKeys};
pub use keyring::KeyRing;
pub use keys::{KeyError, KeyMaterial};
pub use signing::{SigningKey, VerifyingKey};
