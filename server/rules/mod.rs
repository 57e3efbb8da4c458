//! The rules: plain Rust types in, decisions out. Nothing here reads the
//! database, the clock, the network or the routing snapshot; `service/`
//! gathers the facts, asks these functions, and carries the decision out.
//! `.ci/run` fails if this layer imports an I/O layer or crate
//! (docs/architecture.md, "Dependency graph").

pub mod accounts;
pub mod address;
pub mod aliases;
pub mod audit;
pub mod billing;
pub mod credit;
pub mod delivery;
pub mod dkim;
pub mod domains;
pub mod error;
pub mod groups;
pub mod model;
pub mod money;
pub mod paging;
pub mod passwords;
pub mod plans;
pub mod principal;
pub mod renewals;
pub mod resolution;
pub mod subscriptions;
pub mod tokens;
pub mod validate;

pub use error::{Dependency, DomainError, DomainResult, Kind};
pub use principal::{Principal, Role};
