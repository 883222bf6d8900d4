//! Every failure a handler can return, each mapped to exactly one gRPC code with the rich
//! details of `google.rpc` that a client library can read.

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, FieldViolation, PreconditionViolation, StatusExt};

use crate::domain::{self, InvalidInput};
use crate::store::StoreError;

#[derive(Debug)]
pub enum ApiError {
    /// INVALID_ARGUMENT, with a BadRequest field violation per bad field.
    InvalidArgument(InvalidInput),
    /// NOT_FOUND. Another user's conversation reads exactly the same as a missing one.
    NotFound,
    /// FAILED_PRECONDITION, with a PreconditionFailure naming the conversation's status.
    WrongStatus { current: domain::Status },
    /// ABORTED: the etag sent is no longer the conversation's.
    EtagMismatch,
    /// ABORTED: a concurrent change won; retrying the call is safe.
    Conflict,
    /// DEADLINE_EXCEEDED: the work did not finish within the caller's deadline.
    DeadlineExceeded,
    /// UNAVAILABLE: PostgreSQL cannot be reached right now; retrying later is safe.
    Unavailable,
    /// INTERNAL: a bug. The cause is logged, never sent.
    Internal,
}

impl From<InvalidInput> for ApiError {
    fn from(invalid: InvalidInput) -> Self {
        Self::InvalidArgument(invalid)
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NotFound => Self::NotFound,
            StoreError::RequestIdReused => Self::InvalidArgument(InvalidInput::field(
                "request_id",
                "was already used for a request to another conversation",
            )),
            StoreError::WrongStatus { current } => Self::WrongStatus { current },
            StoreError::EtagMismatch => Self::EtagMismatch,
            StoreError::Conflict => Self::Conflict,
            StoreError::TimedOut => Self::DeadlineExceeded,
            StoreError::Unavailable(cause) => {
                tracing::warn!(error.cause = %cause, "database unavailable");
                Self::Unavailable
            }
            StoreError::Internal(cause) => {
                tracing::error!(error.cause = %cause, "database error");
                Self::Internal
            }
        }
    }
}

impl From<ApiError> for Status {
    fn from(error: ApiError) -> Self {
        match error {
            ApiError::InvalidArgument(invalid) => {
                let violations: Vec<FieldViolation> = invalid
                    .violations()
                    .iter()
                    .map(|violation| FieldViolation::new(&violation.field, &violation.description))
                    .collect();
                Status::with_error_details(
                    Code::InvalidArgument,
                    invalid.to_string(),
                    ErrorDetails::with_bad_request(violations),
                )
            }
            ApiError::NotFound => Status::not_found("conversation not found"),
            ApiError::WrongStatus { current } => Status::with_error_details(
                Code::FailedPrecondition,
                format!("the conversation is {current}, which does not allow this"),
                ErrorDetails::with_precondition_failure(vec![PreconditionViolation::new(
                    "STATUS",
                    "conversation",
                    format!("the conversation is {current}"),
                )]),
            ),
            ApiError::EtagMismatch => Status::aborted(
                "the conversation changed since it was read: its etag no longer matches",
            ),
            ApiError::Conflict => {
                Status::aborted("a concurrent change to the conversation won; retry the call")
            }
            ApiError::DeadlineExceeded => {
                Status::deadline_exceeded("the request did not finish within its deadline")
            }
            ApiError::Unavailable => {
                Status::unavailable("the database is unavailable; retry with backoff")
            }
            ApiError::Internal => Status::internal("internal error"),
        }
    }
}
