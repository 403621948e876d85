//! Enums stored as `text` columns (constrained by a `CHECK` in the migrations) are read and written
//! as their `as_str()` spelling, so rows carry the enum and no code compares status strings. A value
//! the enum does not know is a decode error, not a silent default.

use sqlx::Postgres;
use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::postgres::{PgHasArrayType, PgTypeInfo, PgValueRef};

macro_rules! text_column {
    ($($t:ty),* $(,)?) => {$(
        impl sqlx::Type<Postgres> for $t {
            fn type_info() -> PgTypeInfo {
                <&str as sqlx::Type<Postgres>>::type_info()
            }
            fn compatible(ty: &PgTypeInfo) -> bool {
                <&str as sqlx::Type<Postgres>>::compatible(ty)
            }
        }

        impl PgHasArrayType for $t {
            fn array_type_info() -> PgTypeInfo {
                <&str as PgHasArrayType>::array_type_info()
            }
        }

        impl sqlx::Encode<'_, Postgres> for $t {
            fn encode_by_ref(&self, buf: &mut <Postgres as sqlx::Database>::ArgumentBuffer) -> Result<IsNull, BoxDynError> {
                <&str as sqlx::Encode<Postgres>>::encode(self.as_str(), buf)
            }
        }

        impl<'r> sqlx::Decode<'r, Postgres> for $t {
            fn decode(value: PgValueRef<'r>) -> Result<Self, BoxDynError> {
                let text = <&str as sqlx::Decode<Postgres>>::decode(value)?;
                text.parse::<$t>().map_err(|e| format!("{} is not a known {}: {e}", text, stringify!($t)).into())
            }
        }
    )*};
}

text_column!(
    crate::identity::Role,
    crate::identity::OrgKind,
    crate::ip::AssetKind,
    crate::ip::AssetStatus,
    crate::agreement::AgreementKind,
    crate::agreement::Status,
    crate::run::RunStatus,
);
