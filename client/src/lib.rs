#![deny(missing_docs)]
//! `mailadmin-client`: the generated gRPC messages and client stubs of
//! mailadmin's API (package `mailadmin.v1`).
//!
//! The server builds on these same message types, so a mail server or an
//! internal tool depends on this crate alone and never on the server's
//! storage stack.
//!
//! Mail servers use [`DeliveryClient`]: a verdict for every recipient, an
//! answer for every login, and a temporary failure (451 4.4.3), never a
//! refusal, when the control plane cannot be reached.

pub mod bridge;
mod cache;
mod coalescer;
mod delivery;
mod events;
mod observer;
mod replicas;
pub mod tls;

pub use cache::VerdictCache;
pub use coalescer::Coalescer;
pub use delivery::{
    AuthOutcome, BearerToken, ClientError, DeliveryClient, DeliveryClientBuilder, MAX_BATCH,
    RecipientStream, Verdict,
};
pub use events::{AccountEvents, EventsError};
pub use observer::{CallEvent, CallOutcome, LogReplicaHealth, Observer};
pub use replicas::{Freshness, Stamp};
pub use tls::ClientTls;

/// Generated protobuf messages and gRPC client stubs (`mailadmin.v1`).
#[allow(clippy::all, missing_docs)]
pub mod pb {
    tonic::include_proto!("mailadmin.v1");

    /// The encoded `FileDescriptorSet` of `proto/` (with its imports), for
    /// reflection: e.g. printing any message in the proto's JSON mapping.
    pub const FILE_DESCRIPTOR_SET: &[u8] =
        include_bytes!(concat!(env!("OUT_DIR"), "/mailadmin_descriptor.bin"));

    /// Everything but the private key, so a logged key stays out of logs.
    impl std::fmt::Debug for SigningKey {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("SigningKey")
                .field("domain", &self.domain)
                .field("selector", &self.selector)
                .field("algorithm", &self.algorithm())
                .field("private_key_pem", &"<redacted>")
                .finish()
        }
    }
}
