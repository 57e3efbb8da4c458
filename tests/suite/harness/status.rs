//! Assertions on what a call answered: OK, a given status code, or
//! INVALID_ARGUMENT naming a field (docs/rules.md, "Field violations").

use std::fmt::Debug;
use tonic::{Code, Status};
use tonic_types::StatusExt;

/// The answer of a call that must succeed.
#[track_caller]
pub fn ok<T>(result: Result<tonic::Response<T>, Status>) -> T {
    match result {
        Ok(response) => response.into_inner(),
        Err(status) => panic!("expected OK, got {:?}: {}", status.code(), status.message()),
    }
}

/// Asserts the call failed with `code`; returns the status.
#[track_caller]
pub fn assert_code<T: Debug>(result: Result<T, Status>, code: Code) -> Status {
    match result {
        Ok(value) => panic!("expected {code:?}, got OK: {value:?}"),
        Err(status) => {
            assert_eq!(
                status.code(),
                code,
                "expected {code:?}, got {:?}: {}",
                status.code(),
                status.message()
            );
            status
        }
    }
}

/// What [`assert_code`] checks, returning the mismatch instead of panicking.
pub fn check_code<T: Debug>(result: Result<T, Status>, code: Code) -> Result<Status, String> {
    match result {
        Ok(value) => Err(format!("expected {code:?}, got OK: {value:?}")),
        Err(status) if status.code() == code => Ok(status),
        Err(status) => Err(format!(
            "expected {code:?}, got {:?}: {}",
            status.code(),
            status.message()
        )),
    }
}

/// Asserts the call failed with one of `codes`; returns the status.
#[track_caller]
pub fn assert_code_in<T: Debug>(result: Result<T, Status>, codes: &[Code]) -> Status {
    match result {
        Ok(value) => panic!("expected one of {codes:?}, got OK: {value:?}"),
        Err(status) => {
            assert!(
                codes.contains(&status.code()),
                "expected one of {codes:?}, got {:?}: {}",
                status.code(),
                status.message()
            );
            status
        }
    }
}

/// Asserts INVALID_ARGUMENT whose message is `"<field>: <reason>"` and whose
/// google.rpc.BadRequest details name `field`.
#[track_caller]
pub fn assert_invalid<T: Debug>(result: Result<T, Status>, field: &str) -> Status {
    match check_invalid(result, field) {
        Ok(status) => status,
        Err(mismatch) => panic!("{mismatch}"),
    }
}

/// What [`assert_invalid`] checks, returning the mismatch instead of
/// panicking (tables of cases report every failure at once).
pub fn check_invalid<T: Debug>(result: Result<T, Status>, field: &str) -> Result<Status, String> {
    let status = match result {
        Ok(value) => {
            return Err(format!(
                "expected INVALID_ARGUMENT on {field:?}, got OK: {value:?}"
            ));
        }
        Err(status) => status,
    };
    if status.code() != Code::InvalidArgument {
        return Err(format!(
            "expected INVALID_ARGUMENT on {field:?}, got {:?}: {}",
            status.code(),
            status.message()
        ));
    }
    if !status.message().starts_with(&format!("{field}:")) {
        return Err(format!(
            "expected the message to name field {field:?}, got {:?}",
            status.message()
        ));
    }
    let Some(details) = status.get_details_bad_request() else {
        return Err(format!(
            "INVALID_ARGUMENT on {field:?} carries no google.rpc.BadRequest details (message {:?})",
            status.message()
        ));
    };
    if !details.field_violations.iter().any(|v| v.field == field) {
        return Err(format!(
            "BadRequest details do not name {field:?}: {:?}",
            details.field_violations
        ));
    }
    Ok(status)
}
