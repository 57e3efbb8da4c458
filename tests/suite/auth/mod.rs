//! Authentication and authorization: the role × RPC matrix, public RPCs,
//! Login, session expiry, API tokens, the order of checks.

mod admin_rpcs;
mod callers;
mod login;
mod matrix;
mod order;
mod service_rpcs;
mod tokens;
