//! The mail servers' questions: where does this recipient go (from the
//! routing snapshot, never the database), may this login sign in, and
//! which addresses may it send as.

use super::App;
use crate::rules::accounts::normalize_login;
use crate::rules::address::EmailAddress;
use crate::rules::delivery::{Authenticated, Checked, MAX_BATCH};
use crate::rules::model::{AccountEvent, AccountState};
use crate::rules::resolution::{self, Route};
use crate::rules::{DomainError, DomainResult};
use crate::store::EventsAfter;
use std::net::IpAddr;

impl App {
    /// One recipient; a malformed address is INVALID_ARGUMENT.
    pub fn check_recipient(&self, address: &str) -> DomainResult<Route> {
        let address = EmailAddress::parse("address", address)?;
        Ok(resolution::resolve(&*self.snapshot().read(), &address))
    }

    /// Many recipients under one read of the snapshot; a malformed address
    /// gets its reason instead of failing the batch.
    pub fn check_recipients(&self, addresses: &[String]) -> DomainResult<Vec<Checked>> {
        if addresses.len() > MAX_BATCH {
            return Err(DomainError::invalid(
                "addresses",
                format!(
                    "has {} addresses; at most {MAX_BATCH} per call",
                    addresses.len()
                ),
            ));
        }
        let parsed: Vec<Result<EmailAddress, String>> = addresses
            .iter()
            .map(|a| EmailAddress::parse("address", a).map_err(|e| e.to_string()))
            .collect();
        let snapshot = self.snapshot().read();
        Ok(parsed
            .into_iter()
            .map(|address| address.map(|a| resolution::resolve(&*snapshot, &a)))
            .collect())
    }

    /// The routing snapshot's version, now and at every change; `None`
    /// once the server is stopping.
    pub fn watch_directory_version(&self) -> tokio::sync::watch::Receiver<Option<u64>> {
        self.snapshot().watch_version()
    }

    /// Up to `limit` account events after `after`, oldest first; an error
    /// when events after it are no longer kept.
    pub async fn account_events_after(
        &self,
        after: i64,
        limit: u64,
    ) -> DomainResult<Vec<AccountEvent>> {
        if after < 0 {
            return Err(DomainError::invalid("after", "must not be negative"));
        }
        match self.store().account_events_after(after, limit).await? {
            EventsAfter::Events(events) => Ok(events),
            EventsAfter::Expired { purged_through } => Err(DomainError::precondition(format!(
                "events up to {purged_through} are no longer kept (retention {} days): resync from a full listing, then watch from the newest event",
                self.settings().account_event_retention.as_secs() / 86_400
            ))),
        }
    }

    /// Deletes the account events older than the retention.
    pub async fn purge_account_events(&self) -> DomainResult<u64> {
        let retention = chrono::Duration::from_std(self.settings().account_event_retention)
            .map_err(|e| DomainError::internal(format!("retention: {e}")))?;
        self.store()
            .purge_account_events(self.now() - retention)
            .await
    }

    /// May `login` sign in with `password`? Unknown logins, wrong passwords
    /// and disabled accounts all answer `None` after verifying one Argon2
    /// hash; repeated failures per login and per client address are
    /// throttled before any password is checked (`signin`).
    pub async fn authenticate(
        &self,
        login: &str,
        password: String,
        client_ip: IpAddr,
    ) -> DomainResult<Option<Authenticated>> {
        Ok(self
            .check_password(login, password, Some(client_ip))
            .await?
            .map(|row| Authenticated {
                user_id: row.user.id,
                primary_address: row.user.primary_address,
            }))
    }

    /// The addresses an enabled account may send as: its primary address
    /// and its aliases. Empty for unknown or disabled logins.
    pub async fn allowed_senders(&self, login: &str) -> DomainResult<Vec<String>> {
        let login = normalize_login(login)?;
        let tx = self.store().read().await?;
        let Some(row) = tx.find_login(&login).await? else {
            return Ok(Vec::new());
        };
        if row.user.state != AccountState::Enabled {
            return Ok(Vec::new());
        }
        Ok(tx
            .list_user_addresses(row.user.id)
            .await?
            .into_iter()
            .map(|a| a.address)
            .collect())
    }
}
