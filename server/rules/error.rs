//! The one error type of mailadmin's rules. `grpc/status.rs` maps it to a
//! gRPC status; `store/` maps database errors into it.

use std::fmt;

/// What went wrong, in terms a caller can act on.
#[derive(Debug, thiserror::Error)]
pub enum DomainError {
    /// No token, or a token that is unknown, expired or revoked.
    #[error("{0}")]
    Unauthenticated(String),
    /// The caller's role may not do this.
    #[error("{0}")]
    PermissionDenied(String),
    /// A request field is malformed or out of range.
    #[error("{field}: {reason}")]
    Invalid { field: String, reason: String },
    /// The object does not exist, or belongs to another organization.
    #[error("{0} not found")]
    NotFound(Kind),
    /// The object (or a unique value of it) already exists.
    #[error("{kind} already exists: {detail}")]
    AlreadyExists { kind: Kind, detail: String },
    /// The credit cannot pay for this (FAILED_PRECONDITION, with both amounts).
    #[error("insufficient credit: needed {needed} EUR, available {available} EUR")]
    InsufficientCredit {
        needed: rust_decimal::Decimal,
        available: rust_decimal::Decimal,
    },
    /// The request is valid but the system is not in a state that allows it.
    #[error("{0}")]
    FailedPrecondition(String),
    /// Too many failed attempts; retry after this many seconds.
    #[error("too many failed attempts; retry in {retry_after_seconds} s")]
    Throttled { retry_after_seconds: u64 },
    /// A dependency did not answer; retrying may help. The caller learns
    /// which dependency; `detail` (driver text, addresses) goes to the log only.
    #[error("{dependency} unavailable: {detail}")]
    Unavailable {
        dependency: Dependency,
        detail: String,
    },
    /// A bug or an unexpected storage failure. Logged in full, answered
    /// with a generic message.
    #[error("internal error: {0}")]
    Internal(String),
}

/// What did not answer, in words a caller can act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dependency {
    Database,
    /// The database answers but cannot write: its disk is full, or its
    /// file system read-only or failing.
    Storage,
    Dns,
    ChangeFeed,
}

impl fmt::Display for Dependency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Dependency::Database => "the database",
            Dependency::Storage => "the database's storage",
            Dependency::Dns => "the DNS resolver",
            Dependency::ChangeFeed => "the routing change feed",
        })
    }
}

/// The kinds of object a NotFound or AlreadyExists names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Organization,
    User,
    Username,
    Address,
    Token,
    Group,
    GroupName,
    ResetToken,
    Domain,
    DkimKey,
    Period,
    IdempotencyKey,
    PlanChange,
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Kind::Organization => "organization",
            Kind::User => "user",
            Kind::Username => "username",
            Kind::Address => "address",
            Kind::Token => "token",
            Kind::Group => "group",
            Kind::GroupName => "group name",
            Kind::ResetToken => "reset token",
            Kind::Domain => "domain",
            Kind::DkimKey => "DKIM key",
            Kind::Period => "period",
            Kind::IdempotencyKey => "idempotency key",
            Kind::PlanChange => "plan change",
        })
    }
}

impl DomainError {
    /// An invalid field, named as it is on the wire.
    pub fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        DomainError::Invalid {
            field: field.into(),
            reason: reason.into(),
        }
    }

    /// Prefixes the field name, so a nested message's validation names its
    /// full path (`account.username`).
    pub fn within(self, parent: &str) -> Self {
        match self {
            DomainError::Invalid { field, reason } => DomainError::Invalid {
                field: format!("{parent}.{field}"),
                reason,
            },
            other => other,
        }
    }

    pub fn precondition(reason: impl Into<String>) -> Self {
        DomainError::FailedPrecondition(reason.into())
    }

    pub fn unavailable(dependency: Dependency, detail: impl fmt::Display) -> Self {
        DomainError::Unavailable {
            dependency,
            detail: detail.to_string(),
        }
    }

    pub fn internal(detail: impl fmt::Display) -> Self {
        DomainError::Internal(detail.to_string())
    }
}

pub type DomainResult<T> = Result<T, DomainError>;
