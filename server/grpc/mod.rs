//! gRPC: one file per service, translating proto messages to domain values
//! and back. No business rule lives here.

mod account_input;
mod admin;
mod auth;
mod billing;
pub mod connections;
mod convert;
mod deadline;
mod delivery;
mod domain;
mod metrics;
mod request_id;
mod status;

pub use admin::AdminApi;
pub use auth::{Access, AuthLayer, InFlightLayer, access, principal};
pub use billing::BillingApi;
pub use deadline::DeadlineLayer;
pub use delivery::DeliveryApi;
pub use domain::DomainApi;
pub use metrics::MetricsLayer;
pub use request_id::RequestIdLayer;

/// The generated service traits and servers (messages are in `mailadmin_client::pb`).
#[allow(clippy::all)]
pub mod services {
    tonic::include_proto!("mailadmin.v1");
}

pub use services::admin_service_server::AdminServiceServer;
pub use services::billing_service_server::BillingServiceServer;
pub use services::delivery_service_server::DeliveryServiceServer;
pub use services::domain_service_server::DomainServiceServer;
