//! Typed ids: a function that takes a [`UserId`] cannot be handed an [`OrganisationId`].

use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! typed_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
        #[cfg_attr(feature = "sqlx", derive(sqlx::Type), sqlx(transparent))]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// A fresh id. UUIDv7 keeps index locality for rows created together.
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }
            pub fn from_uuid(id: Uuid) -> Self {
                Self(id)
            }
            pub fn as_uuid(&self) -> Uuid {
                self.0
            }
            /// Parses a path segment; anything that is not a UUID is simply "no such object".
            pub fn parse(s: &str) -> Option<Self> {
                Uuid::parse_str(s).ok().map(Self)
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl std::str::FromStr for $name {
            type Err = crate::DomainError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s.trim()).ok_or_else(|| crate::DomainError::new("id", "is not an id"))
            }
        }

        impl From<$name> for Uuid {
            fn from(id: $name) -> Uuid {
                id.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

typed_id!(
    /// An organisation: the licensor or one of its licensees.
    OrganisationId
);
typed_id!(
    /// A user account.
    UserId
);
typed_id!(
    /// A login session; also the `jti` of the JWT that carries it.
    SessionId
);
typed_id!(
    /// An asset of the registry (a patent, a mark, a model...).
    AssetId
);
typed_id!(
    /// An agreement (its versions are numbered under it).
    AgreementId
);
typed_id!(
    /// A training licence granted under an agreement.
    LicenceId
);
typed_id!(
    /// A licensee's uploaded dataset.
    DatasetId
);
typed_id!(
    /// A training run.
    RunId
);
typed_id!(
    /// A published version of a model asset's trained weights.
    ModelVersionId
);
typed_id!(
    /// An encrypted file (a document, a dataset's bytes, a model's weights).
    ArtifactId
);
typed_id!(
    /// A licensee's sales report under an agreement.
    SalesReportId
);
