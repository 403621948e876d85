/// What can go wrong talking to PostgreSQL, in the terms callers act on.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("not found")]
    NotFound,
    /// A unique, foreign-key or check constraint refused the change; `constraint` is its name as
    /// given in the migrations.
    #[error("constraint {constraint} refused the change")]
    Conflict { constraint: String },
    /// The database cannot be reached right now (down, restarting, pool exhausted): callers answer
    /// 503 and retry later.
    #[error("database unavailable: {0}")]
    Unavailable(#[source] sqlx::Error),
    /// Text PostgreSQL cannot store: a NUL character in `text` (22021) or `\u0000` in `jsonb`
    /// (22P05). Whatever path the input took, it is the caller's input that is wrong.
    #[error("text contains a NUL character")]
    InvalidText,
    #[error(transparent)]
    Other(sqlx::Error),
}

impl From<sqlx::Error> for DbError {
    fn from(e: sqlx::Error) -> Self {
        match e {
            sqlx::Error::RowNotFound => DbError::NotFound,
            sqlx::Error::Database(ref db) => {
                let code = db.code().map(|c| c.into_owned()).unwrap_or_default();
                // 23xxx: integrity constraint violations; 57P01..03: admin shutdown, crash
                // shutdown, cannot connect now (a restarting server).
                if code == "22021" || code == "22P05" {
                    DbError::InvalidText
                } else if code.starts_with("23") {
                    DbError::Conflict { constraint: db.constraint().unwrap_or("unknown").to_owned() }
                } else if code.starts_with("57P") || code.starts_with("08") {
                    DbError::Unavailable(e)
                } else {
                    DbError::Other(e)
                }
            }
            sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) | sqlx::Error::Tls(_) => DbError::Unavailable(e),
            sqlx::Error::Protocol(_) => DbError::Unavailable(e),
            other => DbError::Other(other),
        }
    }
}
