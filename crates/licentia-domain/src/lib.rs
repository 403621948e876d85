//! Licentia's domain: pure types and rules, no I/O and no async.
//!
//! Values that reach this crate's types have been parsed at the edge: an [`Email`] is a plausible
//! address, a [`Role`] one of the four roles, an [`OrgName`] a non-empty trimmed name. Code past the
//! edge never re-validates.

pub mod agreement;
pub mod error;
pub mod export;
pub mod identity;
pub mod ids;
pub mod ip;
pub mod permission;
pub mod residency;
pub mod run;
#[cfg(feature = "sqlx")]
mod text_column;
pub mod throttle;
pub mod time;
pub mod webhook;

pub use error::DomainError;
pub use identity::{Email, OrgKind, OrgName, Password, Role};
pub use ids::{AgreementId, ArtifactId, AssetId, DatasetId, LicenceId, ModelVersionId, OrganisationId, RunId, SalesReportId, SessionId, UserId};
pub use permission::Permission;
pub use run::RunStatus;
pub use time::TimeZone;
