//! Renewal-run benchmark: seeds paid accounts through the store (no RPCs,
//! no password hashing) with every renewal due, then times one run.
//!
//! ```sh
//! cargo bench --bench renewals                          # 100,000 accounts, SQLite and PostgreSQL
//! cargo bench --bench renewals -- --accounts 20000 --backend sqlite --batch 1000
//! ```
//! PostgreSQL is used when `MAILADMIN_BENCH_POSTGRES_URL` (or
//! `MAILADMIN_TEST_POSTGRES_URL`) points at a server where the user may
//! create databases; a fresh database is created and dropped.

use mailadmin_server::Settings;
use mailadmin_server::dns::DnsResolver;
use mailadmin_server::domain::accounts::AccountInput;
use mailadmin_server::domain::clock::SystemClock;
use mailadmin_server::domain::model::NewAccount;
use mailadmin_server::domain::money::Money;
use mailadmin_server::domain::plans::Plan;
use mailadmin_server::domain::{App, Principal, Role};
use mailadmin_server::store::Store;
use sea_orm::ConnectionTrait;
use std::sync::Arc;
use std::time::{Duration, Instant};

struct Options {
    accounts: usize,
    organizations: usize,
    batch: Option<u64>,
    backends: Vec<&'static str>,
}

fn options() -> Options {
    let mut options = Options {
        accounts: 100_000,
        organizations: 100,
        batch: None,
        backends: vec!["sqlite", "postgres"],
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| panic!("{arg} needs a value"));
        match arg.as_str() {
            "--accounts" => options.accounts = value().parse().expect("--accounts N"),
            "--orgs" => options.organizations = value().parse().expect("--orgs N"),
            "--batch" => options.batch = Some(value().parse().expect("--batch N")),
            "--backend" => {
                options.backends = match value().as_str() {
                    "sqlite" => vec!["sqlite"],
                    "postgres" => vec!["postgres"],
                    _ => vec!["sqlite", "postgres"],
                }
            }
            // `cargo bench` passes --bench; ignore what is not ours.
            _ => {}
        }
    }
    options
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let options = options();
    println!(
        "renewal benchmark: {} accounts in {} organizations, all due",
        options.accounts, options.organizations
    );
    for backend in &options.backends {
        match *backend {
            "sqlite" => {
                let dir = tempfile::tempdir()?;
                let url = format!(
                    "sqlite://{}?mode=rwc",
                    dir.path().join("bench.db").display()
                );
                run("sqlite", &url, &options).await?;
            }
            _ => {
                let Some(admin_url) = std::env::var("MAILADMIN_BENCH_POSTGRES_URL")
                    .or_else(|_| std::env::var("MAILADMIN_TEST_POSTGRES_URL"))
                    .ok()
                else {
                    println!("postgres: skipped (set MAILADMIN_BENCH_POSTGRES_URL)");
                    continue;
                };
                let name = format!("mailadmin_bench_{}", std::process::id());
                let admin = sea_orm::Database::connect(admin_url.as_str()).await?;
                admin
                    .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
                    .await?;
                let (base, _) = admin_url
                    .rsplit_once('/')
                    .expect("a database URL ends in /dbname");
                let result = run("postgres", &format!("{base}/{name}"), &options).await;
                admin
                    .execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                    .await?;
                result?;
            }
        }
    }
    Ok(())
}

async fn run(backend: &str, url: &str, options: &Options) -> anyhow::Result<()> {
    let store = Store::connect(url).await?;
    store.migrate().await?;
    let mut settings = Settings::new(url);
    if let Some(batch) = options.batch {
        settings.renewal_batch_size = batch;
    }
    let dns = DnsResolver::new(Some("127.0.0.1:9".parse()?), Duration::from_millis(100))?;
    let app = App::new(
        store.clone(),
        Arc::new(SystemClock),
        Arc::new(settings),
        dns,
    );
    let operator = Principal {
        token_id: 0,
        role: Role::Operator,
        organization_id: None,
        user_id: None,
    };

    let seeding = Instant::now();
    let per_org = options.accounts.div_ceil(options.organizations);
    let price = Money::from_cents(250);
    let due = chrono::Utc::now() - chrono::Duration::minutes(1);
    let mut seeded = 0;
    for org in 0..options.organizations {
        let count = per_org.min(options.accounts - seeded);
        if count == 0 {
            break;
        }
        let master = NewAccount::parse(AccountInput {
            last_name: "Bench".into(),
            first_name: "Admin".into(),
            username: format!("bench-admin-{org}"),
            primary_address: format!("bench-admin-{org}@mailadmin.example"),
            password: "benchmark password".into(),
            plan: Some(Plan::Pro),
        })?;
        let (organization, _) = app
            .create_organization(&operator, format!("Bench {org}"), master)
            .await?;
        store
            .seed_paid_accounts(
                organization.id,
                &format!("o{org}-u"),
                count,
                Plan::Entry,
                price,
                due,
            )
            .await?;
        store
            .seed_credit(
                organization.id,
                Money::from_cents(price.cents() * count as i64 * 2),
            )
            .await?;
        seeded += count;
    }
    let seed_time = seeding.elapsed();

    let started = Instant::now();
    let summary = app.renew_due("benchmark").await?;
    let run_time = started.elapsed();
    anyhow::ensure!(
        summary.charged as usize == seeded,
        "charged {} of {seeded} accounts",
        summary.charged
    );
    let again = app.renew_due("benchmark").await?;
    anyhow::ensure!(again.charged == 0, "a second run charged {}", again.charged);
    println!(
        "{backend:>8}: seeded {seeded} accounts in {:.1} s; renewal run charged {} periods ({} EUR) in {:.2} s = {:.0} accounts/s",
        seed_time.as_secs_f64(),
        summary.charged,
        summary.total_charged,
        run_time.as_secs_f64(),
        seeded as f64 / run_time.as_secs_f64()
    );
    Ok(())
}
