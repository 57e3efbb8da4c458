//! The one conversion from [`DomainError`] to a gRPC status. Exhaustive, so
//! a new error kind cannot be mapped by accident. `UNAVAILABLE` and
//! `INTERNAL` never carry the underlying error's text (driver messages,
//! addresses, SQL): it is logged, and the answer names the request id the
//! log line carries.

use super::request_id;
use crate::rules::{Dependency, DomainError};
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

/// The `google.rpc.ErrorInfo` reason of a refusal for lack of credit; its
/// metadata carries `needed`, `available` and `currency`.
pub const INSUFFICIENT_CREDIT: &str = "INSUFFICIENT_CREDIT";

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
                let mut details = ErrorDetails::with_precondition_failure_violation(
                    "CREDIT",
                    "organization",
                    message.clone(),
                );
                // The amounts for programs (the CLI's import adds them up).
                details.set_error_info(
                    INSUFFICIENT_CREDIT,
                    "mailadmin.v1",
                    std::collections::HashMap::from([
                        ("needed".to_string(), format!("{needed:.2}")),
                        ("available".to_string(), format!("{available:.2}")),
                        ("currency".to_string(), "EUR".to_string()),
                    ]),
                );
                Status::with_error_details(Code::FailedPrecondition, message, details)
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
            DomainError::Unavailable { dependency, detail } => {
                tracing::warn!(
                    request_id = request_id::current().unwrap_or_default(),
                    %dependency,
                    error = %detail,
                    "dependency unavailable"
                );
                let what = match dependency {
                    Dependency::Storage => {
                        "the database cannot be written (its storage is full, read-only or \
                         failing)"
                            .to_string()
                    }
                    Dependency::Database | Dependency::Dns | Dependency::ChangeFeed => {
                        format!("{dependency} did not answer")
                    }
                };
                Status::unavailable(format!("{what}; retry later{}", quote_request_id()))
            }
            DomainError::Internal(detail) => {
                tracing::error!(
                    request_id = request_id::current().unwrap_or_default(),
                    error = %detail,
                    "internal error"
                );
                Status::internal(format!(
                    "internal error; the server log has the details{}",
                    quote_request_id()
                ))
            }
        }
    }
}

fn quote_request_id() -> String {
    request_id::current()
        .map(|id| format!(" (request id {id})"))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unavailable_and_internal_hide_their_detail() {
        let secret = "connection to postgres://admin:hunter2@10.1.2.3 refused";
        let unavailable = Status::from(DomainError::unavailable(Dependency::Database, secret));
        assert_eq!(unavailable.code(), Code::Unavailable);
        assert_eq!(
            unavailable.message(),
            "the database did not answer; retry later"
        );
        let storage = Status::from(DomainError::unavailable(Dependency::Storage, secret));
        assert_eq!(storage.code(), Code::Unavailable);
        assert_eq!(
            storage.message(),
            "the database cannot be written (its storage is full, read-only or failing); \
             retry later"
        );
        let internal = Status::from(DomainError::internal(secret));
        assert_eq!(internal.code(), Code::Internal);
        assert!(
            !internal.message().contains("hunter2"),
            "{}",
            internal.message()
        );
    }
}
