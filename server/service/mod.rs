//! Use cases: one function per RPC. Each reads the facts through
//! `store/`, asks `rules/` for a decision, writes it in one transaction
//! (which refreshes the routing snapshot on commit) with its audit event.
//! `App` holds what they share: the store, the clock, the settings, the
//! DNS resolver, the server key file and the sign-in throttles.

mod accounts;
mod aliases;
mod credit;
mod delivery;
mod dkim;
mod domains;
mod groups;
mod organizations;
mod passwords;
mod renewals;
mod signin;
mod subscriptions;
mod throttle;
mod tokens;

pub(crate) use accounts::Access;
pub use accounts::{Created, NewUser};
pub use dkim::{Resealed, SigningKey, SigningKeys};

use crate::clock::Clock;
use crate::config::Settings;
use crate::dns::DnsResolver;
use crate::keyring::Keyring;
use crate::snapshot::RoutingTable;
use crate::store::Store;
use chrono::{DateTime, Utc};
use std::sync::Arc;

/// The application: storage, time and settings, shared by every handler.
#[derive(Clone)]
pub struct App {
    store: Store,
    /// The routing snapshot, shared with `store` (which refreshes it on
    /// every commit that changes routing).
    snapshot: Arc<RoutingTable>,
    clock: Arc<dyn Clock>,
    settings: Arc<Settings>,
    dns: DnsResolver,
    /// The server key file: seals and opens DKIM private keys.
    keyring: Arc<Keyring>,
    /// Where throttle hits and renewal outcomes are counted, when metrics are on.
    metrics: Option<Arc<crate::metrics::Metrics>>,
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
        keyring: Arc<Keyring>,
    ) -> Self {
        App {
            snapshot: store.snapshot(),
            store,
            clock,
            settings,
            dns,
            keyring,
            metrics: None,
            login_throttle: Arc::new(throttle::Throttle::new(LOGIN_FAILURES, THROTTLE_WINDOW)),
            address_throttle: Arc::new(throttle::Throttle::new(ADDRESS_FAILURES, THROTTLE_WINDOW)),
        }
    }

    /// Counts into `metrics` from now on (set before the App is cloned).
    pub fn set_metrics(&mut self, metrics: Arc<crate::metrics::Metrics>) {
        self.metrics = Some(metrics);
    }

    pub(crate) fn metrics(&self) -> Option<&crate::metrics::Metrics> {
        self.metrics.as_deref()
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

    /// What the delivery path reads: addresses, accounts, domains, tokens.
    pub fn snapshot(&self) -> &RoutingTable {
        &self.snapshot
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Whether `domain` (IDNA ASCII) is one of the provider's own domains.
    pub fn is_provider_domain(&self, domain: &str) -> bool {
        self.provider().owns(domain)
    }
}
