//! The one conversion from [`DomainError`] to a gRPC status. Exhaustive, so
//! a new error kind cannot be mapped by accident.

use crate::rules::DomainError;
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

impl From<DomainError> for Status {
    fn from(error: DomainError) -> Status {
        match error {
            DomainError::Unauthenticated(message) => Status::unauthenticated(message),
            DomainError::PermissionDenied(message) => Status::permission_denied(message),
            DomainError::Invalid { field, reason } => {
                let message = format!("{field}: {reason}");
                Status::with_error_details(
                    Code::InvalidArgument,
                    message,
                    ErrorDetails::with_bad_request_violation(field, reason),
                )
            }
            DomainError::NotFound(kind) => Status::not_found(format!("{kind} not found")),
            DomainError::AlreadyExists { kind, detail } => {
                Status::already_exists(format!("{kind} already exists: {detail}"))
            }
            DomainError::InsufficientCredit { needed, available } => {
                let message = format!(
                    "insufficient credit: needed {needed:.2} EUR, available {available:.2} EUR"
                );
                Status::with_error_details(
                    Code::FailedPrecondition,
                    message.clone(),
                    ErrorDetails::with_precondition_failure_violation(
                        "CREDIT",
                        "organization",
                        message,
                    ),
                )
            }
            DomainError::FailedPrecondition(message) => Status::failed_precondition(message),
            DomainError::Throttled {
                retry_after_seconds,
            } => Status::with_error_details(
                Code::ResourceExhausted,
                format!("too many failed attempts; retry in {retry_after_seconds} s"),
                ErrorDetails::with_retry_info(Some(std::time::Duration::from_secs(
                    retry_after_seconds,
                ))),
            ),
            DomainError::Unavailable(message) => {
                tracing::warn!(error = %message, "dependency unavailable");
                Status::unavailable(message)
            }
            DomainError::Internal(detail) => {
                tracing::error!(error = %detail, "internal error");
                Status::internal("internal error; the server log has the details")
            }
        }
    }
}
