//! The snapshot itself: plain maps behind one lock, read by the resolution
//! function through [`Directory`].

use super::RoutingKey;
use super::accounts::{AccountEntry, Accounts};
use crate::rules::model::AccountState;
use crate::rules::principal::Principal;
use crate::rules::resolution::{AccountRoute, Directory, DomainRoute};
// foldhash, not SipHash: the maps are hashed for every recipient and token
// check; seeded per process, and the keys are chosen by the provider's own
// admins, not by whoever sends mail.
use foldhash::{HashMap, HashSet};
// Addresses are stored as `CompactString`: up to 24 bytes inline, in the
// map's own slot, so a lookup compares the key without chasing a heap
// block (each chase is a cache miss on a large directory). Longer ones
// fall back to the heap.
use compact_str::CompactString;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Mutex, RwLock, RwLockReadGuard};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenEntry {
    pub principal: Principal,
    /// Epoch milliseconds; `None`: never expires.
    pub expires_at: Option<i64>,
}

/// An ACTIVE custom domain: its organization's master account (role
/// addresses), its catch-all account, if any, and the domain it is an
/// alias of, if it is one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiveDomain {
    pub master_user_id: i64,
    pub catch_all: Option<i64>,
    pub alias_of: Option<Box<str>>,
}

/// Normalized address → owning account.
pub type Owners = HashMap<CompactString, i64>;

/// Everything delivery and authentication look up, keyed for O(1) reads.
#[derive(Debug, Default)]
pub struct Snapshot {
    provider_domains: HashSet<Box<str>>,
    /// ACTIVE custom domains → their organization's master account.
    active_domains: HashMap<Box<str>, ActiveDomain>,
    owners: Owners,
    accounts: Accounts,
    /// SHA-256 digest → active token.
    tokens: HashMap<[u8; 32], TokenEntry>,
}

impl Snapshot {
    pub fn new(provider_domains: &[String]) -> Self {
        Snapshot {
            provider_domains: provider_domains.iter().map(|d| d.as_str().into()).collect(),
            ..Snapshot::default()
        }
    }

    /// A snapshot of `owners` and `accounts`, loaded in bulk (the domains
    /// and tokens are set after).
    pub fn with_directory(provider_domains: &[String], owners: Owners, accounts: Accounts) -> Self {
        Snapshot {
            owners,
            accounts,
            ..Snapshot::new(provider_domains)
        }
    }

    pub fn set_owner(&mut self, address: &str, owner: Option<i64>) {
        match owner {
            Some(user_id) => {
                self.owners.insert(CompactString::from(address), user_id);
            }
            None => {
                self.owners.remove(address);
            }
        }
    }

    pub fn set_account(&mut self, user_id: i64, entry: Option<AccountEntry>) {
        match entry {
            Some(entry) => {
                self.accounts.insert(user_id, entry);
            }
            None => {
                self.accounts.remove(user_id);
            }
        }
    }

    /// `active`: how the domain routes when it is ACTIVE, `None` otherwise.
    pub fn set_domain(&mut self, domain: &str, active: Option<ActiveDomain>) {
        match active {
            Some(active) => {
                self.active_domains.insert(domain.into(), active);
            }
            None => {
                self.active_domains.remove(domain);
            }
        }
    }

    pub fn set_token(&mut self, digest_hex: &str, entry: Option<TokenEntry>) {
        let Some(digest) = digest_bytes(digest_hex) else {
            return;
        };
        match entry {
            Some(entry) => {
                self.tokens.insert(digest, entry);
            }
            None => {
                self.tokens.remove(&digest);
            }
        }
    }

    /// Drops every token of an account (they are re-read right after).
    pub fn remove_account_tokens(&mut self, user_id: i64) {
        self.tokens
            .retain(|_, t| t.principal.user_id != Some(user_id));
    }

    /// The principal of an active token, by its hex digest. A token that
    /// speaks for an account works only while the account is enabled (its
    /// tokens are revoked when it is disabled; this also holds if one was
    /// issued in a race with that).
    pub fn principal(&self, digest_hex: &str, now_millis: i64) -> Option<Principal> {
        let entry = self.tokens.get(&digest_bytes(digest_hex)?)?;
        if entry.expires_at.is_some_and(|at| at <= now_millis) {
            return None;
        }
        if let Some(user_id) = entry.principal.user_id
            && !self
                .accounts
                .get(user_id)
                .is_some_and(|account| account.state == AccountState::Enabled)
        {
            return None;
        }
        Some(entry.principal.clone())
    }

    pub fn provider_domains(&self) -> Vec<String> {
        self.provider_domains
            .iter()
            .map(|d| d.to_string())
            .collect()
    }

    pub fn set_provider_domains(&mut self, domains: &[String]) {
        self.provider_domains = domains.iter().map(|d| d.as_str().into()).collect();
    }

    pub fn address_count(&self) -> usize {
        self.owners.len()
    }

    pub fn account_count(&self) -> usize {
        self.accounts.len()
    }
}

fn digest_bytes(hex_digest: &str) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(hex_digest, &mut out).ok()?;
    Some(out)
}

impl Directory for Snapshot {
    fn domain(&self, domain: &str) -> Option<DomainRoute> {
        if self.provider_domains.contains(domain) {
            return Some(DomainRoute::Provider);
        }
        self.active_domains
            .get(domain)
            .map(|active| DomainRoute::Active {
                master_user_id: active.master_user_id,
                catch_all: active.catch_all,
            })
    }

    fn owner(&self, address: &str) -> Option<i64> {
        self.owners.get(address).copied()
    }

    fn account(&self, user_id: i64) -> Option<AccountRoute> {
        self.accounts.get(user_id).map(|a| AccountRoute {
            state: a.state,
            primary_address: a.primary_address.as_str().to_owned(),
        })
    }

    fn alias_target(&self, domain: &str) -> Option<String> {
        self.active_domains
            .get(domain)
            .and_then(|active| active.alias_of.as_deref())
            .map(str::to_string)
    }
}

/// The shared snapshot. Readers take a read lock for one lookup; patches
/// take the write lock for a few map operations; a full reload builds a new
/// snapshot outside the lock and swaps it in.
///
/// Refreshes (read the rows, then patch) run one at a time under
/// `refresh_lock`, so a refresh that read older rows can never patch over
/// one that read newer rows. A full reload reads the database over a while
/// without that lock; refreshes meanwhile log their keys, and the reload,
/// holding the lock, applies those keys to the new snapshot before
/// publishing it: nothing committed is ever missing from what readers see.
#[derive(Debug)]
pub struct RoutingTable {
    snapshot: RwLock<Snapshot>,
    /// The snapshot's version: one more after every patch, starting from
    /// the start-up time in microseconds so that a restarted process never
    /// repeats an earlier one's; `None` once the server is stopping.
    version: tokio::sync::watch::Sender<Option<u64>>,
    /// `Some` while a reload is in flight: keys refreshed since it began.
    during_reload: Mutex<Option<Vec<RoutingKey>>>,
    /// Held across a refresh's reads and patch.
    pub refresh_lock: tokio::sync::Mutex<()>,
    /// Held across a full reload: two reloads never share the change log.
    pub reload_lock: tokio::sync::Mutex<()>,
    /// Set when a full reload is wanted (`Store::request_routing_reload`).
    pub reload_wanted: tokio::sync::Notify,
    /// When the last full load was published (Unix ms; 0: not yet).
    loaded_at: AtomicI64,
    /// When the change feed last delivered anything, a heartbeat included
    /// (Unix ms; 0: no change feed, as on SQLite).
    feed_heard_at: AtomicI64,
}

impl RoutingTable {
    pub fn new(snapshot: Snapshot) -> Self {
        let start = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_micros() as u64);
        RoutingTable {
            snapshot: RwLock::new(snapshot),
            version: tokio::sync::watch::Sender::new(Some(start)),
            during_reload: Mutex::new(None),
            refresh_lock: tokio::sync::Mutex::new(()),
            reload_lock: tokio::sync::Mutex::new(()),
            reload_wanted: tokio::sync::Notify::new(),
            loaded_at: AtomicI64::new(0),
            feed_heard_at: AtomicI64::new(0),
        }
    }

    /// A full load was just published.
    pub fn note_loaded(&self) {
        self.loaded_at.store(unix_millis(), Ordering::Relaxed);
    }

    /// The change feed just delivered a notification or a heartbeat.
    pub fn note_feed_heard(&self) {
        self.feed_heard_at.store(unix_millis(), Ordering::Relaxed);
    }

    /// Seconds since the last full load; `None` before the first.
    pub fn seconds_since_load(&self) -> Option<f64> {
        since(self.loaded_at.load(Ordering::Relaxed))
    }

    /// Seconds since the change feed was last heard; `None` without one.
    pub fn seconds_since_feed_heard(&self) -> Option<f64> {
        since(self.feed_heard_at.load(Ordering::Relaxed))
    }

    /// A full reload starts reading the database.
    pub fn begin_reload(&self) {
        let mut log = self.during_reload.lock().unwrap_or_else(|p| p.into_inner());
        log.get_or_insert_with(Vec::new);
    }

    /// A refresh of `keys` starts reading the database.
    pub fn note_refresh(&self, keys: &[RoutingKey]) {
        let mut log = self.during_reload.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(log) = log.as_mut() {
            log.extend_from_slice(keys);
        }
    }

    /// Publishes a reloaded snapshot if no refresh happened while it was
    /// read; otherwise hands it back with the keys to re-read into it first.
    /// Call with `refresh_lock` held.
    pub fn try_finish_reload(
        &self,
        snapshot: Box<Snapshot>,
    ) -> Result<(), (Box<Snapshot>, Vec<RoutingKey>)> {
        let mut log = self.during_reload.lock().unwrap_or_else(|p| p.into_inner());
        match log.as_mut() {
            Some(keys) if !keys.is_empty() => Err((snapshot, std::mem::take(keys))),
            _ => {
                self.replace(*snapshot);
                *log = None;
                Ok(())
            }
        }
    }

    /// A reload failed: stop logging.
    pub fn abort_reload(&self) {
        *self.during_reload.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }

    pub fn read(&self) -> RwLockReadGuard<'_, Snapshot> {
        self.snapshot
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn patch(&self, change: impl FnOnce(&mut Snapshot)) {
        let mut guard = self
            .snapshot
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        change(&mut guard);
        drop(guard);
        // After the change is visible: whoever sees the new version and
        // then asks gets an answer at least that new.
        self.version.send_modify(|version| {
            if let Some(version) = version {
                *version += 1;
            }
        });
    }

    /// The snapshot's version now and at every change (intermediate
    /// versions may be skipped); `None` once the server is stopping.
    pub fn watch_version(&self) -> tokio::sync::watch::Receiver<Option<u64>> {
        self.version.subscribe()
    }

    /// The server is stopping: every version watch ends.
    pub fn close_version_watches(&self) {
        self.version.send_replace(None);
    }

    pub fn replace(&self, snapshot: Snapshot) {
        let mut old = snapshot;
        self.patch(|current| std::mem::swap(current, &mut old));
        // Freed after the write lock is released: a million entries take
        // a while to drop, and recipient checks must not wait for it.
        drop(old);
    }
}

fn unix_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn since(millis: i64) -> Option<f64> {
    (millis > 0).then(|| (unix_millis() - millis).max(0) as f64 / 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::address::EmailAddress;
    use crate::rules::principal::Role;
    use crate::rules::resolution::{MatchKind, Route, resolve};

    #[test]
    fn every_patch_moves_the_version_until_the_watches_close() {
        let table = RoutingTable::new(Snapshot::new(&["mailadmin.example".to_string()]));
        let mut watch = table.watch_version();
        let first = watch.borrow_and_update().expect("a version while serving");
        table.patch(|s| s.set_owner("alice@mailadmin.example", Some(1)));
        assert!(watch.has_changed().unwrap());
        assert_eq!(*watch.borrow_and_update(), Some(first + 1));
        table.replace(Snapshot::new(&["mailadmin.example".to_string()]));
        assert_eq!(*watch.borrow_and_update(), Some(first + 2));
        table.close_version_watches();
        assert_eq!(*watch.borrow_and_update(), None);
    }

    #[test]
    fn patches_change_what_resolution_sees() {
        let table = RoutingTable::new(Snapshot::new(&["mailadmin.example".to_string()]));
        table.begin_reload();
        table.note_refresh(&[RoutingKey::Account(9)]);
        let (again, keys) = table
            .try_finish_reload(Box::new(Snapshot::new(&["mailadmin.example".to_string()])))
            .expect_err("keys refreshed during a reload are handed back first");
        assert_eq!(keys, vec![RoutingKey::Account(9)]);
        assert!(table.try_finish_reload(again).is_ok());
        table.note_refresh(&[RoutingKey::Account(10)]);
        let fresh = Box::new(Snapshot::new(&["mailadmin.example".to_string()]));
        assert!(
            table.try_finish_reload(fresh).is_ok(),
            "no reload in flight: nothing logged"
        );
        let address = EmailAddress::parse("a", "alice@mailadmin.example").unwrap();
        assert_eq!(resolve(&*table.read(), &address), Route::Unknown);
        table.patch(|s| {
            s.set_account(
                1,
                Some(AccountEntry {
                    state: AccountState::Enabled,
                    primary_address: "alice@mailadmin.example".into(),
                }),
            );
            s.set_owner("alice@mailadmin.example", Some(1));
        });
        assert!(matches!(
            resolve(&*table.read(), &address),
            Route::Deliver {
                user_id: 1,
                matched: MatchKind::Exact,
                ..
            }
        ));
        let custom = EmailAddress::parse("a", "postmaster@acme.example").unwrap();
        assert_eq!(resolve(&*table.read(), &custom), Route::NotLocal);
        table.patch(|s| {
            s.set_domain(
                "acme.example",
                Some(ActiveDomain {
                    master_user_id: 1,
                    catch_all: None,
                    alias_of: None,
                }),
            )
        });
        assert!(matches!(
            resolve(&*table.read(), &custom),
            Route::Deliver {
                user_id: 1,
                matched: MatchKind::RoleDefault,
                ..
            }
        ));
    }

    #[test]
    fn tokens_expire_and_are_revoked_per_account() {
        let mut s = Snapshot::default();
        let digest = "ab".repeat(32);
        let principal = Principal {
            token_id: 1,
            role: Role::User,
            organization_id: Some(1),
            user_id: Some(5),
        };
        s.set_token(
            &digest,
            Some(TokenEntry {
                principal: principal.clone(),
                expires_at: Some(1_000),
            }),
        );
        assert_eq!(s.principal(&digest, 999), None, "no such account");
        let account = |state| {
            Some(AccountEntry {
                state,
                primary_address: "a@mailadmin.example".into(),
            })
        };
        s.set_account(5, account(AccountState::Enabled));
        assert_eq!(s.principal(&digest, 999), Some(principal.clone()));
        s.set_account(5, account(AccountState::Disabled));
        assert_eq!(s.principal(&digest, 999), None, "a disabled account");
        s.set_account(5, account(AccountState::Enabled));
        assert_eq!(s.principal(&digest, 999), Some(principal));
        assert_eq!(s.principal(&digest, 1_000), None);
        s.remove_account_tokens(5);
        assert_eq!(s.principal(&digest, 0), None);
        assert_eq!(s.principal("not hex", 0), None);
    }
}
