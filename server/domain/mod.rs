//! Business rules: plain Rust types and decisions, no tonic and no sea-orm.
//! `App` is the entry point the gRPC handlers call; each module adds the
//! operations of one area to it and carries them out through `store`.

pub mod accounts;
pub mod address;
pub mod aliases;
pub mod billing;
pub mod clock;
pub mod credit;
pub mod delivery;
pub mod dkim;
pub mod domains;
pub mod error;
pub mod groups;
pub mod model;
pub mod money;
pub mod organizations;
pub mod plans;
pub mod principal;
pub mod renewals;
pub mod routing;
pub mod secrets;
mod signin;
pub mod subscriptions;
pub mod throttle;
pub mod tokens;
pub mod validate;

pub use error::{DomainError, DomainResult, Kind};
pub use principal::{Principal, Role};

use crate::config::Settings;
use crate::dns::DnsResolver;
use crate::store::Store;
use chrono::{DateTime, Utc};
use clock::Clock;
use std::sync::Arc;

/// The application: storage, time and settings, shared by every handler.
#[derive(Clone)]
pub struct App {
    store: Store,
    clock: Arc<dyn Clock>,
    settings: Arc<Settings>,
    dns: DnsResolver,
    /// Failed sign-ins (Login and Authenticate) per login; failed
    /// Authenticate calls per client address (`signin`).
    login_throttle: Arc<throttle::Throttle>,
    address_throttle: Arc<throttle::Throttle>,
}

/// Failed sign-ins allowed per login in [`THROTTLE_WINDOW`].
pub const LOGIN_FAILURES: u32 = 10;
/// Failed sign-ins allowed per client address in [`THROTTLE_WINDOW`].
pub const ADDRESS_FAILURES: u32 = 50;
pub const THROTTLE_WINDOW: std::time::Duration = std::time::Duration::from_secs(15 * 60);

impl App {
    pub fn new(
        store: Store,
        clock: Arc<dyn Clock>,
        settings: Arc<Settings>,
        dns: DnsResolver,
    ) -> Self {
        App {
            store,
            clock,
            settings,
            dns,
            login_throttle: Arc::new(throttle::Throttle::new(LOGIN_FAILURES, THROTTLE_WINDOW)),
            address_throttle: Arc::new(throttle::Throttle::new(ADDRESS_FAILURES, THROTTLE_WINDOW)),
        }
    }

    pub fn dns(&self) -> &DnsResolver {
        &self.dns
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Whether `domain` (IDNA ASCII) is one of the provider's own domains.
    pub fn is_provider_domain(&self, domain: &str) -> bool {
        self.settings.provider_domains.iter().any(|d| d == domain)
    }
}
