//! Who people are: organisations, roles, e-mail addresses and passwords.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::DomainError;

/// One role per user. The permission table in [`crate::permission`] says what each may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Licensor IT: everything, including users, organisations and keys.
    Admin,
    /// Licensing managers of the licensor.
    Manager,
    /// Read-only over everything, the audit log and its verification.
    Auditor,
    /// A user of a licensee organisation: only their own organisation's objects.
    Licensee,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Admin, Role::Manager, Role::Auditor, Role::Licensee];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Manager => "manager",
            Role::Auditor => "auditor",
            Role::Licensee => "licensee",
        }
    }

    /// The organisation kind a user of this role must belong to: licensee users belong to licensee
    /// organisations and everybody else to the licensor.
    pub fn required_org_kind(self) -> OrgKind {
        match self {
            Role::Licensee => OrgKind::Licensee,
            _ => OrgKind::Licensor,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = DomainError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "admin" => Ok(Role::Admin),
            "manager" => Ok(Role::Manager),
            "auditor" => Ok(Role::Auditor),
            "licensee" => Ok(Role::Licensee),
            _ => Err(DomainError::new("role", "must be one of admin, manager, auditor, licensee")),
        }
    }
}

/// The two kinds of organisation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OrgKind {
    Licensor,
    Licensee,
}

impl OrgKind {
    pub fn as_str(self) -> &'static str {
        match self {
            OrgKind::Licensor => "licensor",
            OrgKind::Licensee => "licensee",
        }
    }

    /// The roles that must present a second factor in a new organisation of this kind: the
    /// licensor's admins and managers, who can see unpublished IP and unexecuted terms (issue 20's
    /// default; an admin changes it per organisation). Licensees start with none: their
    /// organisations set their own.
    pub fn default_second_factor_roles(self) -> &'static [Role] {
        match self {
            OrgKind::Licensor => &[Role::Admin, Role::Manager],
            OrgKind::Licensee => &[],
        }
    }
}

impl fmt::Display for OrgKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for OrgKind {
    type Err = DomainError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "licensor" => Ok(OrgKind::Licensor),
            "licensee" => Ok(OrgKind::Licensee),
            _ => Err(DomainError::new("kind", "must be licensor or licensee")),
        }
    }
}

/// A normalised (trimmed, lower-case) e-mail address. The check is deliberately modest: one `@`,
/// a non-empty local part, a dotted domain, no whitespace or control characters, at most 254 bytes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, utoipa::ToSchema)]
#[serde(transparent)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        let s = raw.trim().to_lowercase();
        let bad = || DomainError::new("email", "is not a valid e-mail address");
        if s.is_empty() || s.len() > 254 || s.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(bad());
        }
        let (local, domain) = s.split_once('@').ok_or_else(bad)?;
        if local.is_empty()
            || domain.contains('@')
            || !domain.contains('.')
            || domain.starts_with('.')
            || domain.ends_with('.')
            || s.contains(['<', '>', '"', '\'', '\\'])
        {
            return Err(bad());
        }
        Ok(Self(s))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An organisation's display name: trimmed, 1 to 200 characters, no control characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, utoipa::ToSchema)]
#[serde(transparent)]
pub struct OrgName(String);

impl OrgName {
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        let s = raw.trim();
        if s.is_empty() {
            return Err(DomainError::new("name", "must not be empty"));
        }
        if s.chars().count() > 200 {
            return Err(DomainError::new("name", "must be at most 200 characters"));
        }
        if s.chars().any(char::is_control) {
            return Err(DomainError::new("name", "must not contain control characters"));
        }
        Ok(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for OrgName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A new password as chosen by a person (ASVS 5.0 V6.2: at least 12 characters, at most 128,
/// any characters allowed, no composition rules). `Debug` never shows it.
#[derive(Clone)]
pub struct Password(String);

impl Password {
    pub const MIN_CHARS: usize = 12;
    pub const MAX_CHARS: usize = 128;

    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        let n = raw.chars().count();
        if n < Self::MIN_CHARS {
            return Err(DomainError::new("password", "must be at least 12 characters"));
        }
        if n > Self::MAX_CHARS {
            return Err(DomainError::new("password", "must be at most 128 characters"));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_is_normalised_and_checked() {
        assert_eq!(Email::parse("  Ada@Example.ORG ").map(|e| e.0).ok(), Some("ada@example.org".into()));
        for bad in ["", "ada", "ada@", "@example.org", "ada@example", "a b@example.org", "a@b@c.org", "<a>@x.org"] {
            assert!(Email::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn roles_round_trip_and_map_to_org_kinds() {
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>(), Ok(role));
        }
        assert!("root".parse::<Role>().is_err());
        assert_eq!(Role::Licensee.required_org_kind(), OrgKind::Licensee);
        assert_eq!(Role::Auditor.required_org_kind(), OrgKind::Licensor);
    }

    #[test]
    fn password_length_bounds_and_redacted_debug() {
        assert!(Password::parse("short").is_err());
        assert!(Password::parse(&"x".repeat(129)).is_err());
        let p = Password::parse("correct horse battery").map_err(|e| e.to_string());
        assert!(p.is_ok());
        if let Ok(p) = p {
            assert!(!format!("{p:?}").contains("horse"));
        }
    }

    #[test]
    fn org_names_are_trimmed_and_bounded() {
        assert_eq!(OrgName::parse("  Acme  ").map(|n| n.0), Ok("Acme".into()));
        assert!(OrgName::parse("   ").is_err());
        assert!(OrgName::parse("a\u{0007}b").is_err());
        assert!(OrgName::parse(&"n".repeat(201)).is_err());
    }
}
