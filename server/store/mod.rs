//! Storage: sea-orm over SQLite (embedded default) or PostgreSQL. `domain/`
//! decides; this module carries a decision out atomically in one
//! transaction ([`Tx`]) and backs each invariant with the database itself
//! (unique keys, row locks). Database errors become [`DomainError`]s here.

mod account_events;
mod addresses;
mod audit;
mod billing;
mod dkim_keys;
mod domains;
mod entities;
mod groups;
mod ledger;
mod notifications;
mod organizations;
mod outbox;
mod paging;
mod password_resets;
mod plans;
mod signin_feed;
mod snapshot;
mod tokens;
mod users;

use crate::rules::{Dependency, DomainError, DomainResult, Kind};
use crate::snapshot::{RoutingKey, RoutingTable, Snapshot};
use mailadmin_migrations::{Migrator, MigratorTrait};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DatabaseTransaction, DbBackend,
    DbErr, SqlErr, TransactionOptions, TransactionTrait, sqlx,
};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use account_events::EventsAfter;
pub use addresses::RoutingFacts;
pub use billing::{PlanChangeRecord, SEED_DOMAIN};
pub use dkim_keys::{NewDkimKey, StoredPrivateKey};
pub use domains::NewDomainRow;
pub use signin_feed::RemoteFailure;
pub use tokens::TokenRow;
pub use users::UserRow;

/// The connection pool, and the routing snapshot kept in step with it.
#[derive(Clone)]
pub struct Store {
    db: DatabaseConnection,
    routing: Arc<RoutingTable>,
    limits: DbLimits,
    /// Tells this process's change-feed announcements from other replicas'.
    replica_id: u64,
    /// Where other replicas' failed sign-ins go (`signin_feed`).
    signin_sink: Arc<std::sync::OnceLock<tokio::sync::mpsc::UnboundedSender<RemoteFailure>>>,
}

/// One transaction. Dropped without [`Tx::commit`], it rolls back.
pub struct Tx {
    txn: DatabaseTransaction,
    store: Store,
    /// What this transaction changed that routing depends on.
    touched: Mutex<Vec<RoutingKey>>,
}

/// Key of the PostgreSQL advisory lock held while migrating, so replicas
/// starting together apply migrations once.
const MIGRATION_LOCK_KEY: i64 = 0x6d61_696c_6164_6d6e; // "mailadmn"

/// How long the database may keep a call waiting (docs/rules.md, "Time limits").
#[derive(Debug, Clone, Copy)]
pub struct DbLimits {
    /// PostgreSQL's `statement_timeout`; SQLite's busy timeout (how long a
    /// writer queues for the write lock).
    pub statement: Duration,
    /// How long a call waits for a pooled connection.
    pub acquire: Duration,
}

impl Default for DbLimits {
    fn default() -> Self {
        DbLimits {
            statement: Duration::from_secs(10),
            acquire: Duration::from_secs(5),
        }
    }
}

impl Store {
    /// [`Store::connect_with`] the default limits.
    pub async fn connect(url: &str) -> Result<Store, DbErr> {
        Self::connect_with(url, DbLimits::default()).await
    }

    pub async fn connect_with(url: &str, limits: DbLimits) -> Result<Store, DbErr> {
        let mut options = ConnectOptions::new(url.to_string());
        options
            .sqlx_logging(false)
            .connect_timeout(Duration::from_secs(10))
            .acquire_timeout(limits.acquire);
        if url.starts_with("sqlite:") {
            // WAL lets readers proceed beside the one writer; writers take
            // the lock up front (BEGIN IMMEDIATE, see `write`) and queue on
            // the busy timeout instead of failing with SQLITE_BUSY.
            options
                .max_connections(4)
                .map_sqlx_sqlite_opts(move |opts| {
                    opts.journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
                        .synchronous(sqlx::sqlite::SqliteSynchronous::Normal)
                        .busy_timeout(limits.statement)
                        .foreign_keys(true)
                });
        } else {
            options.max_connections(16).min_connections(1);
        }
        let db = Database::connect(options).await?;
        Ok(Store {
            db,
            routing: Arc::new(RoutingTable::new(Snapshot::default())),
            limits,
            replica_id: rand::random(),
            signin_sink: Arc::default(),
        })
    }

    /// The routing snapshot this store keeps in step with its commits
    /// (empty until [`Store::load_routing`]). `App` holds it for the
    /// delivery path, which reads it and never the database.
    pub fn snapshot(&self) -> Arc<RoutingTable> {
        self.routing.clone()
    }

    /// The provider's own domains, which routing treats as local.
    pub fn set_provider_domains(&self, domains: &[String]) {
        self.routing.patch(|s| s.set_provider_domains(domains));
    }

    pub fn backend(&self) -> DbBackend {
        self.db.get_database_backend()
    }

    /// Applies pending migrations; on PostgreSQL under an advisory lock.
    pub async fn migrate(&self) -> Result<(), DbErr> {
        if self.backend() != DbBackend::Postgres {
            return Migrator::up(&self.db, None).await;
        }
        // The lock belongs to one session: take it on a dedicated connection.
        let lock = self.db.get_postgres_connection_pool().acquire().await;
        let mut lock = lock.map_err(|e| DbErr::Conn(sea_orm::RuntimeErr::SqlxError(e.into())))?;
        sqlx::query("SELECT pg_advisory_lock($1)")
            .bind(MIGRATION_LOCK_KEY)
            .execute(&mut *lock)
            .await
            .map_err(|e| DbErr::Exec(sea_orm::RuntimeErr::SqlxError(e.into())))?;
        let result = Migrator::up(&self.db, None).await;
        let unlock = sqlx::query("SELECT pg_advisory_unlock($1)")
            .bind(MIGRATION_LOCK_KEY)
            .execute(&mut *lock)
            .await;
        if let Err(e) = unlock {
            tracing::warn!(error = %e, "releasing the migration lock failed; it ends with the session");
        }
        result
    }

    /// (connections open, of which idle) in the pool.
    pub fn pool_connections(&self) -> (u32, u32) {
        match self.db.get_database_backend() {
            DbBackend::Postgres => {
                let pool = self.db.get_postgres_connection_pool();
                (pool.size(), pool.num_idle() as u32)
            }
            _ => {
                let pool = self.db.get_sqlite_connection_pool();
                (pool.size(), pool.num_idle() as u32)
            }
        }
    }

    /// A transaction for reads.
    pub async fn read(&self) -> DomainResult<Tx> {
        let txn = self.db.begin().await.map_err(db_err)?;
        self.limit(txn).await
    }

    /// A transaction that will write. On SQLite it takes the write lock at
    /// once (`BEGIN IMMEDIATE`), so two writers never deadlock on upgrade.
    pub async fn write(&self) -> DomainResult<Tx> {
        let options = TransactionOptions {
            sqlite_transaction_mode: Some(sea_orm::SqliteTransactionMode::Immediate),
            ..Default::default()
        };
        let txn = self.db.begin_with_options(options).await.map_err(db_err)?;
        self.limit(txn).await
    }

    /// A call's transaction, under the statement time limit. On PostgreSQL
    /// the limit is the transaction's own (`SET LOCAL`), so loading the
    /// routing snapshot and migrating, which are not calls, run unbounded.
    async fn limit(&self, txn: DatabaseTransaction) -> DomainResult<Tx> {
        if txn.get_database_backend() == DbBackend::Postgres {
            txn.execute_unprepared(&format!(
                "SET LOCAL statement_timeout = {}",
                self.limits.statement.as_millis().max(1)
            ))
            .await
            .map_err(db_err)?;
        }
        Ok(self.tx(txn))
    }

    fn tx(&self, txn: DatabaseTransaction) -> Tx {
        Tx {
            txn,
            store: self.clone(),
            touched: Mutex::new(Vec::new()),
        }
    }
}

impl Tx {
    /// Commits; then brings the routing snapshot up to date with what the
    /// transaction touched, before returning, and (PostgreSQL) has the
    /// other replicas do the same.
    pub async fn commit(self) -> DomainResult<()> {
        let keys = std::mem::take(&mut *self.touched.lock().unwrap_or_else(|p| p.into_inner()));
        if !keys.is_empty() && self.txn.get_database_backend() == DbBackend::Postgres {
            snapshot::notify(&self.txn, &keys).await?;
        }
        self.txn.commit().await.map_err(db_err)?;
        if !keys.is_empty()
            && let Err(error) = self.store.refresh_routing(&keys).await
        {
            // Committed, but this replica's snapshot may be stale: rebuild
            // it (retried until it succeeds). The keys were noted first, so
            // a reload already running re-reads them too.
            tracing::error!(error = %error, "routing refresh failed; reloading the snapshot");
            self.store.request_routing_reload();
        }
        Ok(())
    }

    /// Notes that this transaction changed something routing depends on.
    fn touch(&self, key: RoutingKey) {
        self.touched
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(key);
    }
}

/// Unexpected database errors: connection trouble and storage that cannot
/// be written are retryable (UNAVAILABLE), anything else is a bug or
/// corruption (INTERNAL) (docs/rules.md, "Status mapping").
pub(crate) fn db_err(e: DbErr) -> DomainError {
    if storage_refused(&e) {
        return DomainError::unavailable(Dependency::Storage, e);
    }
    match e {
        DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => {
            DomainError::unavailable(Dependency::Database, e)
        }
        ref lost if connection_lost(lost) => DomainError::unavailable(Dependency::Database, e),
        ref timed if over_time_limit(timed) => DomainError::unavailable(Dependency::Database, e),
        other => DomainError::internal(format!("database error: {other}")),
    }
}

/// The driver error behind a failed statement, commit or rollback.
fn sqlx_error(e: &DbErr) -> Option<&sqlx::Error> {
    match e {
        DbErr::Exec(sea_orm::RuntimeErr::SqlxError(error))
        | DbErr::Query(sea_orm::RuntimeErr::SqlxError(error))
        | DbErr::Conn(sea_orm::RuntimeErr::SqlxError(error)) => Some(error),
        _ => None,
    }
}

/// The database's own error code (SQLite: the extended result code).
fn error_code(e: &DbErr) -> Option<String> {
    sqlx_error(e)?
        .as_database_error()?
        .code()
        .map(|code| code.into_owned())
}

/// A statement the database stopped at its time limit: PostgreSQL's
/// `statement_timeout` (57014) or lock timeout (55P03), SQLite still busy
/// after its busy timeout (5, `SQLITE_BUSY`).
fn over_time_limit(e: &DbErr) -> bool {
    error_code(e).is_some_and(|code| matches!(code.as_str(), "57014" | "55P03" | "5"))
}

/// The connection broke under a statement: the socket failed or closed
/// (the server stopped or crashed, the network dropped), or PostgreSQL
/// ended the session (class 08, shutdown 57P01/57P02, still starting up
/// 57P03). The statement did not commit, or its outcome is unknown:
/// retrying with the same idempotency key is what settles it.
fn connection_lost(e: &DbErr) -> bool {
    match sqlx_error(e) {
        Some(sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed) => true,
        Some(sqlx::Error::WorkerCrashed) => true,
        _ => error_code(e).is_some_and(|code| {
            code.starts_with("08") || matches!(code.as_str(), "57P01" | "57P02" | "57P03")
        }),
    }
}

/// The database cannot write: SQLite's file system is full (`SQLITE_FULL`,
/// 13) or read-only (`SQLITE_READONLY`, 8 and its extended codes) or failed
/// a write (`SQLITE_IOERR`, 10 and its extended codes); PostgreSQL's disk is
/// full (53100), it failed an I/O (58030) or is read-only (25006, a standby).
fn storage_refused(e: &DbErr) -> bool {
    let Some(database) = sqlx_error(e).and_then(|error| error.as_database_error()) else {
        return false;
    };
    let Some(code) = database.code() else {
        return false;
    };
    if database
        .try_downcast_ref::<sqlx::sqlite::SqliteError>()
        .is_some()
    {
        // The extended code's low byte is the primary code.
        return code
            .parse::<i32>()
            .is_ok_and(|extended| matches!(extended & 0xff, 8 | 10 | 13));
    }
    matches!(code.as_ref(), "53100" | "58030" | "25006")
}

/// Maps a unique-key violation to AlreadyExists, anything else as [`db_err`].
pub(crate) fn unique_or(e: DbErr, kind: Kind, detail: impl Into<String>) -> DomainError {
    match e.sql_err() {
        Some(SqlErr::UniqueConstraintViolation(_)) => DomainError::AlreadyExists {
            kind,
            detail: detail.into(),
        },
        _ => db_err(e),
    }
}
