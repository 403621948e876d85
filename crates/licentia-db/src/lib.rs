//! Licentia's PostgreSQL layer. Every SQL statement of the product lives in this crate, one module
//! per aggregate; callers pass a transaction (`&mut PgConnection`) so that a change and its audit
//! row commit together.

pub mod agreements;
pub mod artifacts;
pub mod assets;
pub mod audit;
pub mod deadlines;
pub mod error;
pub mod export;
pub mod factors;
pub mod logins;
pub mod mail;
pub mod models;
pub mod organisations;
pub mod pool;
pub mod resets;
pub mod sessions;
#[cfg(feature = "testing")]
pub mod testing;
pub mod training;
pub mod users;
pub mod webhooks;

pub use error::DbError;
pub use pool::{APP_ROLE, Db, MIGRATOR};
pub use sqlx::{PgConnection, PgPool, Postgres, Transaction};
