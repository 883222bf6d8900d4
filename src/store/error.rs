//! What can go wrong in the store, classified once so that the API layer maps each case to a
//! gRPC code without looking at database text.

use crate::domain::Status;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The row does not exist for this user; becomes NOT_FOUND. Another user's row is reported
    /// exactly like a missing one.
    #[error("not found")]
    NotFound,

    /// The conversation's status does not allow the operation; becomes FAILED_PRECONDITION.
    #[error("conversation is {current}")]
    WrongStatus { current: Status },

    /// A request id already used for a different request (another conversation); becomes
    /// INVALID_ARGUMENT on the request_id field.
    #[error("request id reused for a different request")]
    RequestIdReused,

    /// The etag sent does not match the row's; becomes ABORTED.
    #[error("etag mismatch")]
    EtagMismatch,

    /// A concurrent transaction won a conflict (serialization failure or deadlock); becomes
    /// ABORTED, and a retry will usually succeed.
    #[error("concurrent transaction conflict")]
    Conflict,

    /// A statement outlived the caller's deadline or the statement timeout and was
    /// cancelled, or waited for a lock that long; becomes DEADLINE_EXCEEDED.
    #[error("statement timed out")]
    TimedOut,

    /// PostgreSQL is unreachable, shutting down, or no connection was free in time; becomes
    /// UNAVAILABLE, which clients may retry.
    #[error("database unavailable: {0}")]
    Unavailable(String),

    /// Anything else, which is a bug; becomes INTERNAL without the database's text.
    #[error("database error: {0}")]
    Internal(String),
}

impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> Self {
        match &error {
            sqlx::Error::RowNotFound => Self::NotFound,
            sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::WorkerCrashed => Self::Unavailable(error.to_string()),
            sqlx::Error::Database(database) => match database.code().as_deref() {
                Some(code) if is_unavailable(code) => Self::Unavailable(error.to_string()),
                Some("40001" | "40P01") => Self::Conflict,
                // A statement cancelled by statement_timeout, or a lock wait that outlasted
                // lock_timeout; the store sets both from the caller's deadline.
                Some("57014" | "55P03") => Self::TimedOut,
                // Raised only when a referenced parent row is missing: a key of a user who
                // has no row yet, so nothing of theirs exists either.
                Some("23503") => Self::NotFound,
                _ => Self::Internal(error.to_string()),
            },
            _ => Self::Internal(error.to_string()),
        }
    }
}

/// SQLSTATEs that mean the server is going away or cannot take the connection: class 08
/// (connection exception), 57P01 to 57P03 (shutdown, crash recovery) and 53300 (too many
/// connections).
fn is_unavailable(code: &str) -> bool {
    code.starts_with("08") || matches!(code, "57P01" | "57P02" | "57P03" | "53300")
}
