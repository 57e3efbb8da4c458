//! What the benchmarks share: a fresh database to run against, and seeded
//! organizations full of paid accounts.
#![allow(dead_code)] // each benchmark uses its own part of this

use mailadmin_client::pb;
use mailadmin_client::pb::admin_service_client::AdminServiceClient;
use mailadmin_server::Settings;
use mailadmin_server::clock::SystemClock;
use mailadmin_server::dns::DnsResolver;
use mailadmin_server::rules::accounts::AccountInput;
use mailadmin_server::rules::model::NewAccount;
use mailadmin_server::rules::money::Money;
use mailadmin_server::rules::plans::Plan;
use mailadmin_server::rules::{Principal, Role};
use mailadmin_server::service::App;
use mailadmin_server::store::Store;
use sea_orm::{ConnectionTrait, Statement};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// The price of an Entry month, what seeded periods were charged.
pub const ENTRY_PRICE_CENTS: i64 = 250;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }

    /// `--backend sqlite|postgres|both`.
    pub fn parse_list(value: &str) -> Vec<Backend> {
        match value {
            "sqlite" => vec![Backend::Sqlite],
            "postgres" => vec![Backend::Postgres],
            _ => vec![Backend::Sqlite, Backend::Postgres],
        }
    }
}

/// The PostgreSQL server benchmarks may create databases on, if any.
pub fn postgres_admin_url() -> Option<String> {
    std::env::var("MAILADMIN_BENCH_POSTGRES_URL")
        .or_else(|_| std::env::var("MAILADMIN_TEST_POSTGRES_URL"))
        .ok()
}

/// A database created for one benchmark run and dropped after it: a SQLite
/// file in a temporary directory, or a new PostgreSQL database.
pub struct BenchDatabase {
    pub backend: Backend,
    pub url: String,
    dir: tempfile::TempDir,
    postgres: Option<(String, String)>,
}

impl BenchDatabase {
    /// `None` for PostgreSQL when no server is configured.
    pub async fn create(backend: Backend) -> anyhow::Result<Option<BenchDatabase>> {
        let dir = tempfile::tempdir()?;
        match backend {
            Backend::Sqlite => {
                let url = format!(
                    "sqlite://{}?mode=rwc",
                    dir.path().join("bench.db").display()
                );
                Ok(Some(BenchDatabase {
                    backend,
                    url,
                    dir,
                    postgres: None,
                }))
            }
            Backend::Postgres => {
                let Some(admin_url) = postgres_admin_url() else {
                    return Ok(None);
                };
                let name = format!("mailadmin_bench_{}", std::process::id());
                let admin = sea_orm::Database::connect(admin_url.as_str()).await?;
                admin
                    .execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                    .await?;
                admin
                    .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
                    .await?;
                let (base, _) = admin_url
                    .rsplit_once('/')
                    .expect("a database URL ends in /dbname");
                Ok(Some(BenchDatabase {
                    backend,
                    url: format!("{base}/{name}"),
                    dir,
                    postgres: Some((admin_url, name)),
                }))
            }
        }
    }

    /// A scratch directory that lives as long as the database.
    pub fn dir(&self) -> &std::path::Path {
        self.dir.path()
    }

    /// Drops a PostgreSQL database (the SQLite file goes with its directory).
    pub async fn drop_database(self) -> anyhow::Result<()> {
        if let Some((admin_url, name)) = &self.postgres {
            let admin = sea_orm::Database::connect(admin_url.as_str()).await?;
            admin
                .execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                .await?;
        }
        Ok(())
    }
}

/// The store and rules over a benchmark database, migrated; DNS points
/// nowhere (seeding never asks it).
pub async fn open_app(url: &str, settings: Settings) -> anyhow::Result<App> {
    let store = Store::connect(url).await?;
    store.migrate().await?;
    let dns = DnsResolver::new(Some("127.0.0.1:9".parse()?), Duration::from_millis(100))?;
    // A key file of this run only: the benchmarks store no DKIM key.
    let key_file = std::env::temp_dir().join(format!("mailadmin-bench-{}.key", std::process::id()));
    let _ = std::fs::remove_file(&key_file);
    let keyring = mailadmin_server::keyring::Keyring::open_or_create(&key_file)?;
    std::fs::remove_file(&key_file)?;
    Ok(App::new(
        store,
        Arc::new(SystemClock),
        Arc::new(settings),
        dns,
        Arc::new(keyring),
    ))
}

/// The caller seeding and setting up runs as: an operator.
pub fn operator() -> Principal {
    Principal {
        token_id: 0,
        role: Role::Operator,
        organization_id: None,
        user_id: None,
    }
}

/// One seeded organization: its master (created through the rules) and
/// `accounts` Entry accounts named `<prefix><i>` with the primary address
/// `<prefix><i>@seed.invalid` ([`mailadmin_server::store::SEED_DOMAIN`]),
/// each with a charged period ending at `paid_until`, plus credit for two
/// months of all of them.
pub async fn seed_organization(
    app: &App,
    name: &str,
    prefix: &str,
    accounts: usize,
    paid_until: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<i64> {
    let master = NewAccount::parse(AccountInput {
        last_name: "Bench".into(),
        first_name: "Admin".into(),
        username: format!("{prefix}admin"),
        primary_address: format!("{prefix}admin@mailadmin.example"),
        password: "benchmark password".into(),
        plan: Some(Plan::Pro),
    })?;
    let (organization, _) = app
        .create_organization(&operator(), name.to_string(), master)
        .await?;
    let price = Money::from_cents(ENTRY_PRICE_CENTS);
    app.store()
        .seed_paid_accounts(
            organization.id,
            prefix,
            accounts,
            Plan::Entry,
            price,
            paid_until,
        )
        .await?;
    app.store()
        .seed_credit(
            organization.id,
            Money::from_cents(price.cents() * accounts as i64 * 2),
        )
        .await?;
    Ok(organization.id)
}

/// The seeded addresses and (user id, address) rows as the database has them.
pub struct Seeded {
    pub addresses: Vec<String>,
    pub rows: Vec<(String, i64, String)>,
}

/// Seeds organizations `first..first+organizations` with `addresses`
/// accounts between them (one primary address each), paid for 20 days.
pub async fn seed(
    app: &mailadmin_server::service::App,
    first: usize,
    organizations: usize,
    addresses: usize,
) -> anyhow::Result<()> {
    let per_org = addresses.div_ceil(organizations);
    let paid_until = chrono::Utc::now() + chrono::Duration::days(20);
    let mut seeded = 0;
    for org in first..first + organizations {
        let count = per_org.min(addresses - seeded);
        if count == 0 {
            break;
        }
        seed_organization(
            app,
            &format!("Bench {org}"),
            &format!("o{org}-u"),
            count,
            paid_until,
        )
        .await?;
        seeded += count;
    }
    Ok(())
}

pub async fn read_directory(url: &str) -> anyhow::Result<Seeded> {
    let db = sea_orm::Database::connect(url).await?;
    let rows = db
        .query_all_raw(Statement::from_string(
            db.get_database_backend(),
            format!(
                "SELECT a.address, u.id, u.primary_address FROM addresses a \
                 JOIN users u ON u.id = a.user_id WHERE a.domain = '{}' ORDER BY u.id",
                mailadmin_server::store::SEED_DOMAIN
            ),
        ))
        .await?;
    let mut seeded = Seeded {
        addresses: Vec::with_capacity(rows.len()),
        rows: Vec::with_capacity(rows.len()),
    };
    for row in rows {
        let address: String = row.try_get_by_index(0)?;
        seeded.addresses.push(address.clone());
        seeded
            .rows
            .push((address, row.try_get_by_index(1)?, row.try_get_by_index(2)?));
    }
    Ok(seeded)
}

/// Sends a bearer token with every call of a generated client.
#[derive(Clone)]
pub struct Bearer(tonic::metadata::MetadataValue<tonic::metadata::Ascii>);

impl Bearer {
    pub fn new(token: &str) -> anyhow::Result<Bearer> {
        Ok(Bearer(format!("Bearer {token}").parse()?))
    }
}

impl tonic::service::Interceptor for Bearer {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        request
            .metadata_mut()
            .insert("authorization", self.0.clone());
        Ok(request)
    }
}

/// A connection to `url` whose calls carry `token`, for the generated clients.
pub type Authed = tonic::codegen::InterceptedService<tonic::transport::Channel, Bearer>;

pub async fn connect(url: &str, token: &str) -> anyhow::Result<Authed> {
    let channel = tonic::transport::Endpoint::from_shared(url.to_string())?
        .connect()
        .await?;
    Ok(Authed::new(channel, Bearer::new(token)?))
}

/// `--concurrency 16,64`: a comma-separated list of numbers.
pub fn number_list(value: &str) -> Vec<usize> {
    value
        .split(',')
        .filter(|n| !n.trim().is_empty())
        .map(|n| n.trim().parse().expect("a list of numbers"))
        .collect()
}

/// A token of role `delivery`, as a mail server is given.
pub async fn create_delivery_token(url: &str, operator_token: &str) -> anyhow::Result<String> {
    let mut admin = AdminServiceClient::new(connect(url, operator_token).await?);
    let created = admin
        .create_token(pb::CreateTokenRequest {
            role: pb::Role::Delivery.into(),
            description: "delivery benchmark".into(),
            ..Default::default()
        })
        .await?
        .into_inner();
    Ok(created.secret)
}

/// Builds the client crate's binaries (mailadmin, the bridge, checkpassword) in the
/// profile this benchmark runs in; where they are.
pub async fn build_client_binaries() -> anyhow::Result<PathBuf> {
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = tokio::process::Command::new(cargo)
        .current_dir(&repo)
        .args(["build", "--release", "-p", "mailadmin-client", "--bins"])
        .status()
        .await?;
    anyhow::ensure!(status.success(), "building the client crate's binaries");
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo.join("target"));
    Ok(target.join("release"))
}
