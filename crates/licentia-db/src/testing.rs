//! Test support: each test gets its own freshly created database on the local server, dropped when
//! the handle goes out of scope. The server is `LICENTIA_TEST_DATABASE_URL` when set, else the local
//! PostgreSQL (`postgres://postgres@127.0.0.1:5432`).

use std::str::FromStr;

use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions as _, Connection as _};

use crate::{Db, DbError};

pub struct TestDb {
    pub db: Db,
    pub url: String,
    name: String,
    admin_url: String,
}

pub fn server_url() -> String {
    std::env::var("LICENTIA_TEST_DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

impl TestDb {
    /// A new, migrated database.
    pub async fn migrated() -> Result<Self, DbError> {
        let t = Self::empty().await?;
        t.db.migrate().await?;
        Ok(t)
    }

    /// A new database with nothing in it (not even migrations).
    pub async fn empty() -> Result<Self, DbError> {
        let admin_url = server_url();
        let name = format!("licentia_test_{}", uuid::Uuid::new_v4().simple());
        let admin = PgConnectOptions::from_str(&admin_url).map_err(DbError::Other)?;
        let mut conn = admin.connect().await?;
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).execute(&mut conn).await?;
        let _ = conn.close().await;
        let url = match admin_url.rsplit_once('/') {
            Some((server, _)) => format!("{server}/{name}"),
            None => format!("{admin_url}/{name}"),
        };
        let db = Db::connect(&url, &crate::pool::PoolSettings { max_connections: 24, ..Default::default() }).await?;
        Ok(Self { db, url, name, admin_url })
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        // Drop the database from a thread of its own: Drop cannot await, and the test's runtime
        // may already be shutting down.
        // Not `pool.close()`: its connections belong to the test's runtime, which this thread
        // blocks; `WITH (FORCE)` ends them from the server side instead.
        let (name, admin_url) = (self.name.clone(), self.admin_url.clone());
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() else { return };
            rt.block_on(async move {
                if let Ok(opts) = PgConnectOptions::from_str(&admin_url)
                    && let Ok(mut conn) = opts.connect().await
                {
                    let _ = sqlx::query(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))).execute(&mut conn).await;
                    let _ = conn.close().await;
                }
            });
        })
        .join();
    }
}
