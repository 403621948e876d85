//! Licentia's domain: pure types and rules, no I/O and no async.
//!
//! Values that reach this crate's types have been parsed at the edge: an [`Email`] is a plausible
//! address, a [`Role`] one of the four roles, an [`OrgName`] a non-empty trimmed name. Code past the
//! edge never re-validates.

pub mod agreement;
pub mod error;
pub mod identity;
pub mod ids;
pub mod ip;
pub mod permission;
pub mod throttle;

pub use error::DomainError;
pub use identity::{Email, OrgKind, OrgName, Password, Role};
pub use ids::{OrganisationId, SessionId, UserId};
pub use permission::Permission;
