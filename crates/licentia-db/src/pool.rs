//! Connecting: the pool, creating the database when it is missing, and the embedded migrations.

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions as _, Connection as _, PgPool};

use crate::DbError;

/// The migrations under the repository's top-level `migrations/`, compiled into the binary.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations");

/// The role the application's connections assume (created by the migrations): SELECT and INSERT
/// only on the audit tables, owner of nothing.
pub const APP_ROLE: &str = "licentia_app";

/// Handle to the database: a pool with bounded acquire and statement times, so a hung server turns
/// into 503s instead of piling up requests.
#[derive(Debug, Clone)]
pub struct Db {
    pub pool: PgPool,
}

#[derive(Debug, Clone)]
pub struct PoolSettings {
    pub max_connections: u32,
    pub acquire_timeout: Duration,
    pub statement_timeout: Duration,
}

impl Default for PoolSettings {
    fn default() -> Self {
        Self { max_connections: 16, acquire_timeout: Duration::from_secs(5), statement_timeout: Duration::from_secs(30) }
    }
}

impl Db {
    /// Connects to `url`, creating its database first when it does not exist.
    pub async fn connect(url: &str, settings: &PoolSettings) -> Result<Self, DbError> {
        let options = PgConnectOptions::from_str(url).map_err(DbError::Other)?;
        create_database_if_missing(&options).await?;
        let statement_ms = settings.statement_timeout.as_millis().to_string();
        let options = options.options([("statement_timeout", statement_ms.as_str())]);
        let pool = PgPoolOptions::new()
            .max_connections(settings.max_connections)
            .acquire_timeout(settings.acquire_timeout)
            // A connection broken by a server restart is dropped and replaced on next use.
            .test_before_acquire(true)
            .connect_with(options)
            .await?;
        Ok(Self { pool })
    }

    /// A second pool on the same database whose every connection assumes [`APP_ROLE`] first: what
    /// the application runs on once migrations are applied, so that its statements, whatever a bug
    /// makes of them, can neither change nor delete audit entries. Fails when the login may not
    /// assume the role.
    pub async fn restricted(&self) -> Result<Self, DbError> {
        let options = (*self.pool.connect_options()).clone();
        let pool = self
            .pool
            .options()
            .clone()
            .after_connect(|conn, _| {
                Box::pin(async move {
                    sqlx::query(sqlx::AssertSqlSafe(format!("SET ROLE {APP_ROLE}"))).execute(conn).await?;
                    Ok(())
                })
            })
            .connect_with(options)
            .await?;
        Ok(Self { pool })
    }

    pub fn from_pool(pool: PgPool) -> Self {
        Self { pool }
    }

    pub async fn migrate(&self) -> Result<(), DbError> {
        MIGRATOR.run(&self.pool).await.map_err(|e| match e {
            sqlx::migrate::MigrateError::Execute(e) => DbError::from(e),
            other => DbError::Other(sqlx::Error::Migrate(Box::new(other))),
        })
    }

    /// Readiness: the database answers and every embedded migration has been applied.
    pub async fn ready(&self) -> Result<bool, DbError> {
        let applied: i64 = sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations WHERE success").fetch_one(&self.pool).await?;
        Ok(applied as usize >= MIGRATOR.iter().count())
    }

    pub async fn begin(&self) -> Result<sqlx::Transaction<'static, sqlx::Postgres>, DbError> {
        Ok(self.pool.begin().await?)
    }
}

/// `CREATE DATABASE` through the maintenance database when the target is missing. Only for the
/// zero-configuration start; in production the database exists and this is one cheap probe.
async fn create_database_if_missing(options: &PgConnectOptions) -> Result<(), DbError> {
    let Some(name) = options.get_database().map(str::to_owned) else { return Ok(()) };
    match options.connect().await {
        Ok(conn) => {
            let _ = conn.close().await;
            Ok(())
        }
        Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("3D000") => {
            let mut admin = options.clone().database("postgres").connect().await?;
            let quoted = format!("\"{}\"", name.replace('"', "\"\""));
            let created = sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {quoted}"))).execute(&mut admin).await;
            let _ = admin.close().await;
            match created {
                Ok(_) => Ok(()),
                // Two nodes starting at once: the other one created it.
                Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("42P04") => Ok(()),
                Err(e) => Err(e.into()),
            }
        }
        Err(e) => Err(e.into()),
    }
}

/// Takes a transaction-scoped advisory lock: used so that two nodes starting at once do not both
/// seed the demo workspace.
pub async fn advisory_xact_lock(conn: &mut sqlx::PgConnection, key: i64) -> Result<(), DbError> {
    sqlx::query("SELECT pg_advisory_xact_lock($1)").bind(key).execute(conn).await?;
    Ok(())
}
