//! `ServiceError`: user errors (what to fix) kept apart from internal failures, which keep their cause.

use mms_log::AppendError;
use std::error::Error;
use std::sync::Arc;

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
    /// Something failed inside; the source says what. Interfaces log it and tell the client nothing of it.
    #[error("internal error")]
    Internal(#[source] Arc<dyn Error + Send + Sync>),
}

impl ServiceError {
    /// An internal failure: an error, or a message where no error caused it.
    pub fn internal(cause: impl Into<Box<dyn Error + Send + Sync>>) -> ServiceError {
        ServiceError::Internal(Arc::from(cause.into()))
    }

    /// An internal failure while doing `what` (in a few words: "replaying the log"), caused by `error`.
    pub fn internal_while(what: &str, error: impl Into<Box<dyn Error + Send + Sync>>) -> ServiceError {
        ServiceError::internal(While { what: what.to_string(), source: error.into() })
    }

    /// This error and its causes, `outer: inner: ...`: what a log line or a plain-text channel says.
    pub fn report(&self) -> String {
        crate::error::Chain(self).to_string()
    }
}

/// What was being done when an internal error happened, and the error.
#[derive(Debug, thiserror::Error)]
#[error("{what}")]
struct While {
    what: String,
    #[source]
    source: Box<dyn Error + Send + Sync>,
}

impl From<AppendError> for ServiceError {
    fn from(error: AppendError) -> Self {
        match error {
            AppendError::AlreadyExists { .. }
            | AppendError::NotDeleted { .. }
            | AppendError::VersionMismatch { .. }
            | AppendError::Redacted { .. } => ServiceError::Conflict(error.to_string()),
            AppendError::NotAppendable(_) | AppendError::SelfRelation { .. } => {
                ServiceError::Invalid(error.to_string())
            }
            AppendError::NotFound { memory } => ServiceError::NotFound(format!("memory {memory} not found")),
            AppendError::WriterFailed(_) | AppendError::Closed => ServiceError::internal(error),
        }
    }
}

impl From<mms_log::ReadError> for ServiceError {
    fn from(error: mms_log::ReadError) -> Self {
        ServiceError::internal(error)
    }
}

impl From<mms_projections::ReadError> for ServiceError {
    fn from(error: mms_projections::ReadError) -> Self {
        ServiceError::internal(error)
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
        ServiceError::internal_while("a background task failed", error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_internal_error_keeps_its_cause_as_its_source() {
        let io = std::io::Error::other("disk on fire");
        let error = ServiceError::internal_while("replaying the log", io);
        assert_eq!(error.to_string(), "internal error");
        assert_eq!(error.source().map(ToString::to_string).as_deref(), Some("replaying the log"));
        assert_eq!(error.report(), "internal error: replaying the log: disk on fire");
        assert_eq!(ServiceError::internal("as-of cache poisoned").report(), "internal error: as-of cache poisoned");
        assert_eq!(ServiceError::Invalid("page starts at 1".into()).report(), "page starts at 1");
    }
}
