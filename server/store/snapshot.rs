//! Keeps the routing snapshot (`crate::snapshot`) in step with the database:
//! the full load at start, the re-read of what a transaction touched (right
//! after it commits, before the RPC returns), `NOTIFY` of those keys on
//! PostgreSQL, and the `LISTEN` loop that applies other replicas' changes.

use super::entities::{addresses, domains, organizations, tokens, users};
use super::{Store, db_err};
use crate::clock::to_millis;
use crate::rules::model::{AccountState, DomainState};
use crate::rules::principal::{Principal, Role};
use crate::rules::{Dependency, DomainError, DomainResult};
use crate::snapshot::{
    AccountEntry, Accounts, ActiveDomain, Owners, RoutingKey, Snapshot, TokenEntry,
};
use chrono::Utc;
use compact_str::CompactString;
use sea_orm::sqlx::postgres::{PgListener, PgPoolOptions};
use sea_orm::{ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, QueryFilter, QuerySelect};
use std::time::Duration;

/// The PostgreSQL channel routing changes are announced on.
pub const CHANNEL: &str = "mailadmin_routing";
/// NOTIFY payloads must stay under 8000 bytes.
const PAYLOAD_LIMIT: usize = 7000;
/// How often each replica announces a heartbeat on the change feed.
pub const HEARTBEAT: Duration = Duration::from_secs(1);
/// A change feed that hears nothing for this long (three heartbeats
/// missed) is taken as dead.
pub const FEED_SILENCE: Duration = Duration::from_secs(3);
/// Decodes to no key ([`RoutingKey::decode`]), so it is applied as nothing.
const HEARTBEAT_PAYLOAD: &str = "heartbeat";

type TokenRow = (String, String, Option<i64>, Option<i64>, i64, Option<i64>);

/// An ACTIVE domain as routing reads it: name, organization, catch-all
/// account, the domain it is an alias of.
type ActiveRow = (String, i64, Option<i64>, Option<i64>);

/// One re-read row, ready to patch into a snapshot.
enum Patch {
    Owner(String, Option<i64>),
    Account(i64, Option<AccountEntry>),
    Domain(String, Option<ActiveDomain>),
    Token(String, Option<TokenEntry>),
    AccountTokens(i64, Vec<(String, Option<TokenEntry>)>),
}

fn apply(snapshot: &mut Snapshot, patches: Vec<Patch>) {
    for patch in patches {
        match patch {
            Patch::Owner(address, owner) => snapshot.set_owner(&address, owner),
            Patch::Account(id, entry) => snapshot.set_account(id, entry),
            Patch::Domain(name, active) => snapshot.set_domain(&name, active),
            Patch::Token(digest, entry) => snapshot.set_token(&digest, entry),
            Patch::AccountTokens(user_id, tokens) => {
                snapshot.remove_account_tokens(user_id);
                for (digest, entry) in tokens {
                    snapshot.set_token(&digest, entry);
                }
            }
        }
    }
}

impl Store {
    /// Loads the whole snapshot from the database and swaps it in.
    pub async fn load_routing(&self) -> DomainResult<()> {
        let _one_at_a_time = self.routing.reload_lock.lock().await;
        self.routing.begin_reload();
        let result = self.reload().await;
        if result.is_err() {
            self.routing.abort_reload();
        }
        result
    }

    async fn reload(&self) -> DomainResult<()> {
        let started = std::time::Instant::now();
        // The two big tables are read at once, each on its own connection
        // and task, into maps sized for them up front (no rehashing), and
        // streamed row by row: ten million addresses never sit in memory
        // twice (as rows and as the snapshot).
        let owners = tokio::spawn(self.clone().load_owners());
        let accounts = tokio::spawn(self.clone().load_accounts());
        let (owners, accounts) = (joined(owners.await)?, joined(accounts.await)?);
        let mut snapshot =
            Snapshot::with_directory(&self.routing.read().provider_domains(), owners, accounts);
        let active: Vec<ActiveRow> = domains::Entity::find()
            .select_only()
            .column(domains::Column::Name)
            .column(domains::Column::OrganizationId)
            .column(domains::Column::CatchAllUserId)
            .column(domains::Column::AliasOfDomainId)
            .filter(domains::Column::State.eq(DomainState::Active.as_str()))
            .into_tuple()
            .all(&self.db)
            .await
            .map_err(db_err)?;
        for (name, organization_id, catch_all, alias_of) in active {
            let active = self
                .active_domain(organization_id, catch_all, alias_of)
                .await?;
            snapshot.set_domain(&name, active);
        }
        let now = to_millis(Utc::now());
        let live: Vec<TokenRow> = token_query()
            .filter(tokens::Column::RevokedAt.is_null())
            .into_tuple()
            .all(&self.db)
            .await
            .map_err(db_err)?;
        for row in live {
            let (digest, entry) = token_entry(row);
            if entry
                .as_ref()
                .is_some_and(|e| e.expires_at.is_none_or(|at| at > now))
            {
                snapshot.set_token(&digest, entry);
            }
        }
        tracing::info!(
            addresses = snapshot.address_count(),
            accounts = snapshot.account_count(),
            millis = started.elapsed().as_millis() as u64,
            "routing snapshot loaded"
        );
        // Changes committed while this was read go into the new snapshot
        // before anyone sees it.
        let _serial = self.routing.refresh_lock.lock().await;
        let mut snapshot = Box::new(snapshot);
        loop {
            match self.routing.try_finish_reload(snapshot) {
                Ok(()) => {
                    self.routing.note_loaded();
                    release_freed_memory();
                    return Ok(());
                }
                Err((pending, keys)) => {
                    snapshot = pending;
                    let patches = self.read_patches(&keys).await?;
                    apply(&mut snapshot, patches);
                }
            }
        }
    }

    /// Every address and its owner.
    async fn load_owners(self) -> DomainResult<Owners> {
        let (expected, ranges) = self.id_ranges("addresses").await?;
        let mut owners = Owners::with_capacity_and_hasher(expected, Default::default());
        let columns = ["address", "user_id"];
        let mut batches = scan_in_ranges(&self.db, "addresses", &columns, ranges, |line| {
            let (address, user_id) = line.rsplit_once('\t')?;
            Some((CompactString::from(address), user_id.parse().ok()?))
        });
        while let Some(batch) = batches.recv().await {
            owners.extend(batch?);
        }
        Ok(owners)
    }

    /// Every account's state and primary address.
    async fn load_accounts(self) -> DomainResult<Accounts> {
        let (expected, ranges) = self.id_ranges("users").await?;
        let last_id = ranges.last().map_or(0, |&(_, last)| last);
        let mut accounts = Accounts::for_ids(expected, last_id);
        let columns = ["id", "state", "primary_address"];
        let mut batches = scan_in_ranges(&self.db, "users", &columns, ranges, |line| {
            let mut fields = line.splitn(3, '\t');
            let (id, state, primary) = (fields.next()?, fields.next()?, fields.next()?);
            Some((id.parse().ok()?, account_entry(state, primary)))
        });
        while let Some(batch) = batches.recv().await {
            for (id, entry) in batch? {
                if let Some(entry) = entry {
                    accounts.insert(id, entry);
                }
            }
        }
        Ok(accounts)
    }

    /// About how many rows `table` has, to size a map for it (PostgreSQL's
    /// estimate, kept by ANALYZE and autovacuum, so no scan; SQLite's
    /// count), and its ids split into [`LOAD_RANGES`] ranges to read at once.
    async fn id_ranges(&self, table: &str) -> DomainResult<(usize, Vec<(i64, i64)>)> {
        let count = match self.backend() {
            // As the planner does: rows per page at the last ANALYZE times
            // the pages now (a bulk load since is counted); a table never
            // analyzed is counted.
            DbBackend::Postgres => format!(
                "SELECT CASE WHEN reltuples > 0 AND relpages > 0 \
                   THEN (reltuples / relpages * (pg_relation_size(oid) / current_setting('block_size')::bigint))::bigint \
                   ELSE (SELECT COUNT(*) FROM {table}) END \
                 FROM pg_class WHERE oid = '{table}'::regclass"
            ),
            _ => format!("SELECT COUNT(*) FROM {table}"),
        };
        // Apart, so that each is one step down the primary key's index.
        let first = format!("SELECT COALESCE(MIN(id), 0) FROM {table}");
        let last = format!("SELECT COALESCE(MAX(id), 0) FROM {table}");
        let mut values = [0i64; 3];
        for (value, sql) in values.iter_mut().zip([count, first, last]) {
            let row = self
                .db
                .query_one_raw(sea_orm::Statement::from_string(self.backend(), sql))
                .await
                .map_err(db_err)?;
            if let Some(row) = row {
                *value = row.try_get_by_index::<i64>(0).map_err(db_err)?;
            }
        }
        let [count, first, last] = values;
        Ok((usize::try_from(count).unwrap_or(0), id_ranges(first, last)))
    }

    /// Re-reads what `keys` name and patches the snapshot. Refreshes run
    /// one at a time (see [`crate::snapshot::RoutingTable`]).
    pub async fn refresh_routing(&self, keys: &[RoutingKey]) -> DomainResult<()> {
        if keys.is_empty() {
            return Ok(());
        }
        let _serial = self.routing.refresh_lock.lock().await;
        self.routing.note_refresh(keys);
        let patches = self.read_patches(keys).await?;
        self.routing.patch(|snapshot| apply(snapshot, patches));
        Ok(())
    }

    async fn read_patches(&self, keys: &[RoutingKey]) -> DomainResult<Vec<Patch>> {
        let mut patches = Vec::with_capacity(keys.len());
        for key in keys {
            patches.push(match key {
                RoutingKey::Address(address) => {
                    let owner: Option<i64> = addresses::Entity::find()
                        .select_only()
                        .column(addresses::Column::UserId)
                        .filter(addresses::Column::Address.eq(address.as_str()))
                        .into_tuple()
                        .one(&self.db)
                        .await
                        .map_err(db_err)?;
                    Patch::Owner(address.clone(), owner)
                }
                RoutingKey::Account(id) => {
                    let row: Option<(String, String)> = users::Entity::find_by_id(*id)
                        .select_only()
                        .column(users::Column::State)
                        .column(users::Column::PrimaryAddress)
                        .into_tuple()
                        .one(&self.db)
                        .await
                        .map_err(db_err)?;
                    Patch::Account(
                        *id,
                        row.and_then(|(state, primary)| account_entry(&state, &primary)),
                    )
                }
                RoutingKey::Domain(name) => {
                    let row: Option<ActiveRow> = domains::Entity::find()
                        .select_only()
                        .column(domains::Column::Name)
                        .column(domains::Column::OrganizationId)
                        .column(domains::Column::CatchAllUserId)
                        .column(domains::Column::AliasOfDomainId)
                        .filter(domains::Column::Name.eq(name.as_str()))
                        .filter(domains::Column::State.eq(DomainState::Active.as_str()))
                        .into_tuple()
                        .one(&self.db)
                        .await
                        .map_err(db_err)?;
                    let active = match row {
                        Some((_, organization_id, catch_all, alias_of)) => {
                            self.active_domain(organization_id, catch_all, alias_of)
                                .await?
                        }
                        None => None,
                    };
                    Patch::Domain(name.clone(), active)
                }
                RoutingKey::Token(digest) => {
                    let row: Option<TokenRow> = token_query()
                        .filter(tokens::Column::Digest.eq(digest.as_str()))
                        .filter(tokens::Column::RevokedAt.is_null())
                        .into_tuple()
                        .one(&self.db)
                        .await
                        .map_err(db_err)?;
                    Patch::Token(digest.clone(), row.and_then(|r| token_entry(r).1))
                }
                RoutingKey::AccountTokens(user_id) => {
                    let rows: Vec<TokenRow> = token_query()
                        .filter(tokens::Column::UserId.eq(*user_id))
                        .filter(tokens::Column::RevokedAt.is_null())
                        .into_tuple()
                        .all(&self.db)
                        .await
                        .map_err(db_err)?;
                    Patch::AccountTokens(*user_id, rows.into_iter().map(token_entry).collect())
                }
            });
        }
        Ok(patches)
    }

    /// How an ACTIVE domain of `organization_id` routes (`None` if the
    /// organization has no master, which does not happen once created).
    async fn active_domain(
        &self,
        organization_id: i64,
        catch_all: Option<i64>,
        alias_of: Option<i64>,
    ) -> DomainResult<Option<ActiveDomain>> {
        let alias_of: Option<String> = match alias_of {
            Some(target) => domains::Entity::find_by_id(target)
                .select_only()
                .column(domains::Column::Name)
                .into_tuple()
                .one(&self.db)
                .await
                .map_err(db_err)?,
            None => None,
        };
        Ok(self
            .master_of(organization_id)
            .await?
            .map(|master_user_id| ActiveDomain {
                master_user_id,
                catch_all,
                alias_of: alias_of.map(String::into_boxed_str),
            }))
    }

    async fn master_of(&self, organization_id: i64) -> DomainResult<Option<i64>> {
        let master: Option<Option<i64>> = organizations::Entity::find_by_id(organization_id)
            .select_only()
            .column(organizations::Column::MasterUserId)
            .into_tuple()
            .one(&self.db)
            .await
            .map_err(db_err)?;
        Ok(master.flatten())
    }

    /// Loads the snapshot and starts what keeps it current: the reloader
    /// (see [`Store::request_routing_reload`]) and, on PostgreSQL, the
    /// change feed and its heartbeat. It LISTENs before loading, so nothing
    /// committed between the load and the LISTEN is missed.
    pub async fn start_routing(&self) -> DomainResult<RoutingTasks> {
        let listener = if self.backend() == DbBackend::Postgres {
            Some(self.listen().await?)
        } else {
            None
        };
        self.load_routing().await?;
        let mut tasks = vec![tokio::spawn(self.clone().keep_routing_reloaded())];
        if let Some(listener) = listener {
            tasks.push(tokio::spawn(self.clone().follow_routing_changes(listener)));
            tasks.push(tokio::spawn(self.clone().send_routing_heartbeats()));
        }
        Ok(RoutingTasks(tasks))
    }

    /// Asks for a full reload, for when the snapshot may have missed a
    /// change (a failed refresh, a lost change feed). Requests made while
    /// one runs lead to one more reload after it; a failed reload is
    /// retried until one succeeds.
    pub fn request_routing_reload(&self) {
        self.routing.reload_wanted.notify_one();
    }

    async fn keep_routing_reloaded(self) {
        loop {
            self.routing.reload_wanted.notified().await;
            let mut delay = Duration::from_millis(100);
            while let Err(error) = self.load_routing().await {
                tracing::error!(error = %error, retry_in_ms = delay.as_millis() as u64, "routing reload failed");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
        }
    }

    /// Announces a heartbeat on the change feed every [`HEARTBEAT`], so a
    /// listener that hears nothing for [`FEED_SILENCE`] knows its
    /// connection is dead (a dropped connection without a reset sends no
    /// error, and PostgreSQL sends nothing to an idle listener).
    async fn send_routing_heartbeats(self) {
        let mut ticks = tokio::time::interval(HEARTBEAT);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            if let Err(error) = send(&self.db, HEARTBEAT_PAYLOAD).await {
                tracing::debug!(error = %error, "routing heartbeat not sent");
            }
        }
    }

    /// A listener on a connection of its own, outside the main pool: one
    /// given up as dead runs `UNLISTEN` when dropped, which on a dead
    /// connection waits until TCP gives up, and must not hold a slot the
    /// RPCs need meanwhile.
    async fn listen(&self) -> DomainResult<PgListener> {
        let options = self.db.get_postgres_connection_pool().connect_options();
        let own = PgPoolOptions::new()
            .max_connections(1)
            .connect_lazy_with((*options).clone());
        let mut listener = PgListener::connect_with(&own)
            .await
            .map_err(|e| DomainError::unavailable(Dependency::ChangeFeed, e))?;
        listener.listen(CHANNEL).await.map_err(|e| {
            DomainError::unavailable(Dependency::ChangeFeed, format!("LISTEN: {e}"))
        })?;
        Ok(listener)
    }

    /// Applies other replicas' changes as they are announced, until the
    /// task is aborted. When the connection is lost, or silent for longer
    /// than [`FEED_SILENCE`] (no heartbeat came through), notifications may
    /// have been missed: it LISTENs on a new connection and asks for a full
    /// reload, and goes on applying changes while the reload runs (the
    /// reload re-reads whatever they touched before it is published).
    async fn follow_routing_changes(self, listener: PgListener) {
        let mut listener = listener;
        loop {
            self.apply_routing_changes(&mut listener).await;
            listener = loop {
                match self.listen().await {
                    Ok(fresh) => break fresh,
                    Err(error) => {
                        tracing::warn!(error = %error, "routing change feed: retrying in 1 s");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                }
            };
            self.request_routing_reload();
        }
    }

    /// Applies notifications from `listener` until it fails or falls
    /// silent; the listener is not used again after that.
    async fn apply_routing_changes(&self, listener: &mut PgListener) {
        loop {
            match tokio::time::timeout(FEED_SILENCE, listener.try_recv()).await {
                Ok(Ok(Some(notification))) => {
                    self.routing.note_feed_heard();
                    if self.take_signin_payload(notification.payload()) {
                        continue;
                    }
                    let keys: Vec<RoutingKey> = notification
                        .payload()
                        .split('\n')
                        .filter_map(RoutingKey::decode)
                        .collect();
                    if let Err(error) = self.refresh_routing(&keys).await {
                        tracing::error!(error = %error, "applying routing changes failed; reloading");
                        self.request_routing_reload();
                    }
                }
                Ok(Ok(None)) => {
                    tracing::warn!("routing change feed: connection lost; reconnecting");
                    return;
                }
                Ok(Err(error)) => {
                    tracing::warn!(error = %error, "routing change feed failed; reconnecting");
                    return;
                }
                Err(_silent) => {
                    tracing::warn!(
                        silent_ms = FEED_SILENCE.as_millis() as u64,
                        "routing change feed: no heartbeat; reconnecting"
                    );
                    return;
                }
            }
        }
    }
}

/// The background tasks that keep the routing snapshot current; stopped
/// with [`RoutingTasks::stop`] (or when dropped).
pub struct RoutingTasks(Vec<tokio::task::JoinHandle<()>>);

impl RoutingTasks {
    pub fn stop(&self) {
        for task in &self.0 {
            task.abort();
        }
    }
}

impl Drop for RoutingTasks {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Announces `keys` to the other replicas, inside the transaction (so the
/// notification is delivered exactly when, and only if, it commits).
pub(super) async fn notify(txn: &impl ConnectionTrait, keys: &[RoutingKey]) -> DomainResult<()> {
    let mut payload = String::new();
    for key in keys {
        let encoded = key.encode();
        if !payload.is_empty() && payload.len() + encoded.len() + 1 > PAYLOAD_LIMIT {
            send(txn, &payload).await?;
            payload.clear();
        }
        if !payload.is_empty() {
            payload.push('\n');
        }
        payload.push_str(&encoded);
    }
    if !payload.is_empty() {
        send(txn, &payload).await?;
    }
    Ok(())
}

async fn send(txn: &impl ConnectionTrait, payload: &str) -> DomainResult<()> {
    txn.execute_raw(sea_orm::Statement::from_sql_and_values(
        DbBackend::Postgres,
        "SELECT pg_notify($1, $2)",
        [CHANNEL.into(), payload.into()],
    ))
    .await
    .map_err(db_err)?;
    Ok(())
}

/// How many id ranges of each big table a full load reads at once, each on
/// its own connection: the database's work for each window and the parsing
/// of its text (see [`LOAD_WINDOW`]) then run on every core. Both
/// tables at once take twice as many connections: within SQLite's pool
/// of four, and a quarter of PostgreSQL's sixteen.
const LOAD_RANGES: i64 = 2;

/// Ids per query of a full load. Each query answers with one text value,
/// its rows as lines of tab-separated columns (`group_concat` on SQLite,
/// `string_agg` on PostgreSQL), so ten million rows cross the driver as
/// about 1,200 values per table. Row by row, SQLite's driver hands every
/// row from its worker thread to ours, and at ten million rows those
/// hand-offs cost more than the rows.
const LOAD_WINDOW: i64 = 8192;

/// `first..=last` in [`LOAD_RANGES`] contiguous ranges (one when empty).
fn id_ranges(first: i64, last: i64) -> Vec<(i64, i64)> {
    let span = (last - first).max(0) + 1;
    let step = (span + LOAD_RANGES - 1) / LOAD_RANGES;
    (0..LOAD_RANGES)
        .map(|i| (first + i * step, (first + (i + 1) * step - 1).min(last)))
        .filter(|(from, to)| from <= to)
        .collect()
}

/// The query for one window of a full load: `columns` of `table`'s rows
/// with ids `first..=last`, as one text (see [`LOAD_WINDOW`]). Columns
/// hold no tabs or newlines: addresses are normalized ASCII, states are
/// words, ids are numbers.
fn window_sql(backend: DbBackend, table: &str, columns: &[&str], first: i64, last: i64) -> String {
    let (aggregate, tab, newline) = match backend {
        DbBackend::Postgres => ("string_agg", "chr(9)", "chr(10)"),
        _ => ("group_concat", "char(9)", "char(10)"),
    };
    let row = columns.join(&format!(" || {tab} || "));
    format!("SELECT {aggregate}({row}, {newline}) FROM {table} WHERE id BETWEEN {first} AND {last}")
}

/// Reads `columns` of every row of `table` in `ranges`, all ranges at once,
/// each in a task of its own on its own connection, window by window (so
/// the rows never sit in memory all at once), each line parsed by `row`
/// in that task. A failed read or an unreadable line ends the stream with
/// its error.
fn scan_in_ranges<T: Send + 'static>(
    db: &sea_orm::DatabaseConnection,
    table: &'static str,
    columns: &[&'static str],
    ranges: Vec<(i64, i64)>,
    row: fn(&str) -> Option<T>,
) -> tokio::sync::mpsc::Receiver<DomainResult<Vec<T>>> {
    let (batches, received) = tokio::sync::mpsc::channel(2 * ranges.len().max(1));
    for (first, last) in ranges {
        let (db, batches, columns) = (db.clone(), batches.clone(), columns.to_vec());
        tokio::spawn(async move {
            let backend = db.get_database_backend();
            let mut from = first;
            while from <= last {
                let to = from.saturating_add(LOAD_WINDOW - 1).min(last);
                let sql = window_sql(backend, table, &columns, from, to);
                let read = async {
                    let text: Option<String> = match db
                        .query_one_raw(sea_orm::Statement::from_string(backend, sql))
                        .await
                        .map_err(db_err)?
                    {
                        Some(found) => found.try_get_by_index(0).map_err(db_err)?,
                        None => None,
                    };
                    text.as_deref()
                        .unwrap_or("")
                        .lines()
                        .map(|line| {
                            row(line).ok_or_else(|| {
                                DomainError::Internal(format!(
                                    "routing load: unreadable {table} row {line:?}"
                                ))
                            })
                        })
                        .collect::<DomainResult<Vec<T>>>()
                };
                let batch = read.await;
                let failed = batch.is_err();
                if batches.send(batch).await.is_err() || failed {
                    return; // the load gave up, or this read did
                }
                from = to.saturating_add(1);
            }
        });
    }
    received
}

/// Hands the heap's free pages back to the system after a full load. The
/// load's row texts (and a replaced snapshot) were freed into several of
/// glibc's per-thread arenas, which otherwise keep them resident: a
/// million-address start measured 187 MiB resident without this, 126 MiB
/// in another run that happened to use fewer arenas.
fn release_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks the allocator's own free lists; it
    // takes the allocator's locks like any malloc call.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// A load task's result, its panic passed on.
fn joined<T>(result: Result<DomainResult<T>, tokio::task::JoinError>) -> DomainResult<T> {
    match result {
        Ok(result) => result,
        Err(error) if error.is_panic() => std::panic::resume_unwind(error.into_panic()),
        Err(error) => Err(DomainError::Internal(format!("routing load task: {error}"))),
    }
}

fn account_entry(state: &str, primary: &str) -> Option<AccountEntry> {
    AccountState::parse_stored(state).map(|state| AccountEntry {
        state,
        primary_address: CompactString::from(primary),
    })
}

fn token_query() -> sea_orm::Select<tokens::Entity> {
    tokens::Entity::find()
        .select_only()
        .column(tokens::Column::Digest)
        .column(tokens::Column::Role)
        .column(tokens::Column::OrganizationId)
        .column(tokens::Column::UserId)
        .column(tokens::Column::Id)
        .column(tokens::Column::ExpiresAt)
}

fn token_entry(row: TokenRow) -> (String, Option<TokenEntry>) {
    let (digest, role, organization_id, user_id, token_id, expires_at) = row;
    let entry = Role::parse(&role).map(|role| TokenEntry {
        principal: Principal {
            token_id,
            role,
            organization_id,
            user_id,
        },
        expires_at,
    });
    (digest, entry)
}

#[cfg(test)]
mod tests {
    use super::id_ranges;

    #[test]
    fn ranges_cover_every_id_once() {
        assert_eq!(id_ranges(1, 10), vec![(1, 5), (6, 10)]);
        assert_eq!(id_ranges(1, 11), vec![(1, 6), (7, 11)]);
        assert_eq!(id_ranges(5, 5), vec![(5, 5)]);
        assert_eq!(id_ranges(0, 0), vec![(0, 0)]);
        for (first, last) in [(1, 10_000_000), (17, 1_000_003), (3, 3)] {
            let ranges = id_ranges(first, last);
            assert_eq!(ranges.first().map(|r| r.0), Some(first));
            assert_eq!(ranges.last().map(|r| r.1), Some(last));
            assert!(ranges.windows(2).all(|w| w[0].1 + 1 == w[1].0));
        }
    }
}
