//! `ServiceError`: user errors (what to fix) kept apart from internal failures.

use mms_log::AppendError;

/// Why a service operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The request is wrong; the message says how.
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    NotFound(String),
    /// A concurrent change got there first.
    #[error("{0}")]
    Conflict(String),
    /// A part the operation needs (the embedding model) is not available; the message says how to fix it.
    #[error("{0}")]
    Unavailable(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<AppendError> for ServiceError {
    fn from(error: AppendError) -> Self {
        match error {
            AppendError::AlreadyExists { .. }
            | AppendError::NotDeleted { .. }
            | AppendError::VersionMismatch { .. }
            | AppendError::Redacted { .. } => ServiceError::Conflict(error.to_string()),
            AppendError::NotAppendable(_) => ServiceError::Invalid(error.to_string()),
            AppendError::NotFound { memory } => ServiceError::NotFound(format!("memory {memory} not found")),
            AppendError::WriterFailed(_) | AppendError::Closed => ServiceError::Internal(error.to_string()),
        }
    }
}

impl From<mms_log::ReadError> for ServiceError {
    fn from(error: mms_log::ReadError) -> Self {
        ServiceError::Internal(error.to_string())
    }
}

impl From<mms_projections::ReadError> for ServiceError {
    fn from(error: mms_projections::ReadError) -> Self {
        ServiceError::Internal(error.to_string())
    }
}

impl From<crate::embed::EmbedError> for ServiceError {
    fn from(error: crate::embed::EmbedError) -> Self {
        ServiceError::Unavailable(error.to_string())
    }
}

impl From<super::time_expr::TimeExprError> for ServiceError {
    fn from(error: super::time_expr::TimeExprError) -> Self {
        ServiceError::Invalid(error.to_string())
    }
}

impl From<tokio::task::JoinError> for ServiceError {
    fn from(error: tokio::task::JoinError) -> Self {
        ServiceError::Internal(format!("a background task failed: {error}"))
    }
}
