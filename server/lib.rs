//! mailadmin-server: the control plane of an email provider.
//!
//! The dependency graph is the architecture: `grpc` (wire <-> domain glue)
//! depends on `domain` (the rules), which depends on `store` (sea-orm
//! storage). `server` wires them into a running tonic server.

pub mod clock;
pub mod config;
pub mod dkim;
pub mod dns;
pub mod grpc;
pub mod keyring;
pub mod metrics;
pub mod rules;
pub mod secrets;
pub mod service;
pub mod snapshot;

pub mod server;
pub mod store;
pub mod telemetry;
pub mod tls;

pub use config::Settings;
pub use server::{RunningServer, spawn};
