//! How a command fails, and the exit code each failure gives: 1 the
//! server refused the request (or rows of an import), 2 the command line
//! or an input file is wrong, 3 the server could not be reached in time,
//! 130 interrupted (Ctrl-C).

use std::process::ExitCode;
use tonic::{Code, Status};
use tonic_types::StatusExt;

#[derive(Debug)]
pub enum Fail {
    /// The server answered with an error.
    Refused(Status),
    /// The server did not answer (connection refused, timeout).
    Unreachable(String),
    /// The command line (or an input file) is wrong.
    Usage(String),
    /// Something on this machine (a file) failed.
    Local(String),
    /// The server refused part of the work (an import's rows), said why.
    Rejected(String),
    /// Ctrl-C: stopped cleanly, and how to finish.
    Interrupted(String),
}

impl Fail {
    pub fn exit_code(&self) -> ExitCode {
        ExitCode::from(match self {
            Fail::Refused(_) | Fail::Local(_) | Fail::Rejected(_) => 1,
            Fail::Usage(_) => 2,
            Fail::Unreachable(_) => 3,
            Fail::Interrupted(_) => 130,
        })
    }

    /// What goes on stderr: one line, then one line per field violation.
    pub fn report(&self) -> String {
        match self {
            Fail::Refused(status) => {
                let mut text = format!(
                    "mailadmin: refused: {}: {}",
                    code_name(status.code()),
                    status.message()
                );
                for (field, reason) in field_violations(status) {
                    let line = format!("{field}: {reason}");
                    if status.message() != line {
                        text.push_str(&format!("\n  {line}"));
                    }
                }
                text
            }
            Fail::Unreachable(why) => format!("mailadmin: the server did not answer: {why}"),
            Fail::Usage(why) | Fail::Local(why) | Fail::Rejected(why) | Fail::Interrupted(why) => {
                format!("mailadmin: {why}")
            }
        }
    }
}

impl From<Status> for Fail {
    fn from(status: Status) -> Self {
        match status.code() {
            // The transport's own failures (no connection, deadline) are
            // the server not answering, not a refusal.
            Code::Unavailable | Code::DeadlineExceeded | Code::Cancelled => {
                Fail::Unreachable(status.message().to_string())
            }
            Code::Unknown if status.message().contains("transport error") => {
                Fail::Unreachable(status.message().to_string())
            }
            _ => Fail::Refused(status),
        }
    }
}

/// The `google.rpc.BadRequest` field violations of a status.
pub fn field_violations(status: &Status) -> Vec<(String, String)> {
    status
        .get_details_bad_request()
        .map(|bad| {
            bad.field_violations
                .into_iter()
                .map(|v| (v.field, v.description))
                .collect()
        })
        .unwrap_or_default()
}

/// `INVALID_ARGUMENT`, as the gRPC spec names codes (tonic's `InvalidArgument`).
pub fn code_name(code: Code) -> String {
    let mut name = String::new();
    for (i, c) in format!("{code:?}").chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            name.push('_');
        }
        name.push(c.to_ascii_uppercase());
    }
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_named_as_the_grpc_spec_names_them() {
        assert_eq!(code_name(Code::Ok), "OK");
        assert_eq!(code_name(Code::InvalidArgument), "INVALID_ARGUMENT");
        assert_eq!(code_name(Code::FailedPrecondition), "FAILED_PRECONDITION");
        assert_eq!(code_name(Code::Unauthenticated), "UNAUTHENTICATED");
        assert_eq!(code_name(Code::DataLoss), "DATA_LOSS");
    }
}
