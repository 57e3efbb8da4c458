//! `mailadmin-client`: the generated gRPC messages and client stubs of
//! mailadmin's API (package `mailadmin.v1`).
//!
//! The server builds on these same message types, so a mail server or an
//! internal tool depends on this crate alone and never on the server's
//! storage stack.

/// Generated protobuf messages and gRPC client stubs (`mailadmin.v1`).
#[allow(clippy::all, missing_docs)]
pub mod pb {
    tonic::include_proto!("mailadmin.v1");
}
