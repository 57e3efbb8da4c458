//! The one password check behind `Login` (people and tools) and
//! `Authenticate` (mail servers, for IMAP/SMTP logins), and
//! `ChangeOwnPassword`'s check of the current password.
//!
//! All three count failures against the same per-account throttle: ten wrong
//! passwords for an account are ten, whichever door they came through and
//! whichever name (username or primary address) they used.
//! `Authenticate` also counts per client address (the mail server tells us
//! the end user's address); `Login` does not, because its caller is often a
//! web console or tool that speaks for many people from one address, and a
//! per-address limit there would lock all of them out together.
//! Throttled attempts are refused before any password is checked: no
//! Argon2 work for an attacker to spend, no oracle.

use super::App;
use crate::rules::accounts::normalize_login;
use crate::rules::model::AccountState;
use crate::rules::{DomainError, DomainResult};
use crate::secrets;
use crate::store::UserRow;
use std::net::IpAddr;

impl App {
    /// The account `login` (username or primary address) names, if
    /// `password` is its password and it is enabled; `None` for a wrong
    /// password, an unknown login or a disabled account alike, after the
    /// same work (one Argon2 verification, against a dummy hash for unknown
    /// logins). `Throttled`, before any password is checked, once the
    /// account (or a login no account has), or `client_ip` when given, has
    /// failed too often.
    pub(super) async fn check_password(
        &self,
        login: &str,
        password: String,
        client_ip: Option<IpAddr>,
    ) -> DomainResult<Option<UserRow>> {
        let login = normalize_login(login)?;
        if password.is_empty() {
            return Err(DomainError::invalid("password", "is empty"));
        }
        let row = self.store().read().await?.find_login(&login).await?;
        let now = crate::clock::to_millis(self.now());
        // An account is counted once however it is named (username or
        // primary address, any case); a login no account has, by its normalized form.
        let login_key = match &row {
            Some(row) => format!("account:{}", row.user.id),
            None => format!("login:{login}"),
        };
        let address_key = client_ip.map(|ip| format!("ip:{ip}"));
        self.refuse_if_throttled(&login_key, address_key.as_deref(), now)?;
        let matches =
            secrets::verify_password(password, row.as_ref().map(|r| r.password_hash.clone())).await;
        match row {
            Some(row) if matches && row.user.state == AccountState::Enabled => Ok(Some(row)),
            _ => {
                self.count_failure(&login_key, address_key.as_deref(), now);
                Ok(None)
            }
        }
    }

    /// ChangeOwnPassword's check of the current password: whether
    /// `password` matches `stored`, on the same per-account counter as
    /// Login and Authenticate, so a stolen session cannot be used to guess
    /// the password behind it.
    pub(super) async fn check_current_password(
        &self,
        user_id: i64,
        stored: String,
        password: String,
    ) -> DomainResult<bool> {
        let now = crate::clock::to_millis(self.now());
        let key = format!("account:{user_id}");
        self.refuse_if_throttled(&key, None, now)?;
        let matches = secrets::verify_password(password, Some(stored)).await;
        if !matches {
            self.count_failure(&key, None, now);
        }
        Ok(matches)
    }

    fn refuse_if_throttled(
        &self,
        account_key: &str,
        address_key: Option<&str>,
        now: i64,
    ) -> DomainResult<()> {
        let refused = match self.login_throttle.check(account_key, now) {
            Err(retry) => Some(("account", retry)),
            Ok(()) => address_key.and_then(|key| {
                self.address_throttle
                    .check(key, now)
                    .err()
                    .map(|retry| ("address", retry))
            }),
        };
        match refused {
            None => Ok(()),
            Some((counter, retry_after_seconds)) => {
                if let Some(metrics) = self.metrics() {
                    metrics.record_throttled(counter);
                }
                Err(DomainError::Throttled {
                    retry_after_seconds,
                })
            }
        }
    }

    /// Counts a failure here, and has the other replicas count it too.
    fn count_failure(&self, account_key: &str, address_key: Option<&str>, now: i64) {
        self.login_throttle.record_failure(account_key, now);
        if let Some(key) = address_key {
            self.address_throttle.record_failure(key, now);
        }
        let store = self.store().clone();
        let (account_key, address_key) = (account_key.to_string(), address_key.map(str::to_string));
        tokio::spawn(async move {
            store
                .announce_signin_failure(&account_key, address_key.as_deref())
                .await;
        });
    }

    /// Counts the failed sign-ins other replicas announce, for as long as
    /// the store lives (the task holds the throttles, not the store).
    pub fn count_remote_signin_failures(&self) {
        let (sink, mut failures) = tokio::sync::mpsc::unbounded_channel();
        self.store().follow_remote_signin_failures(sink);
        let (login, address, clock) = (
            self.login_throttle.clone(),
            self.address_throttle.clone(),
            self.clock.clone(),
        );
        tokio::spawn(async move {
            while let Some(failure) = failures.recv().await {
                let now = crate::clock::to_millis(clock.now());
                login.record_failure(&failure.account_key, now);
                if let Some(key) = &failure.address_key {
                    address.record_failure(key, now);
                }
            }
        });
    }
}
