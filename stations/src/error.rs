//! The library's errors: what the caller did wrong (with the field at fault), what is missing,
//! and what failed underneath.

use uuid::Uuid;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An argument out of range or malformed; `field` names it as the API does.
    #[error("invalid {field}: {reason}")]
    Invalid { field: &'static str, reason: String },
    #[error("station {0} not found")]
    StationNotFound(Uuid),
    #[error("review {0} not found")]
    ReviewNotFound(i64),
    #[error("review {0} is already resolved")]
    ReviewResolved(i64),
    /// The file cannot be read as a whole (I/O, syntax, missing columns, not UTF-8). Nothing of it
    /// was imported.
    #[error("{0}")]
    Feed(#[from] crate::feed::FeedError),
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
}

impl Error {
    pub(crate) fn invalid(field: &'static str, reason: impl Into<String>) -> Error {
        Error::Invalid {
            field,
            reason: reason.into(),
        }
    }
}
