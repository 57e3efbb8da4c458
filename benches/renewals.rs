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

#[path = "common/mod.rs"]
mod common;

use common::{Backend, BenchDatabase, open_app, seed_organization};
use mailadmin_server::Settings;
use std::time::Instant;

struct Options {
    accounts: usize,
    organizations: usize,
    batch: Option<u64>,
    backends: Vec<Backend>,
}

fn options() -> Options {
    let mut options = Options {
        accounts: 100_000,
        organizations: 100,
        batch: None,
        backends: vec![Backend::Sqlite, Backend::Postgres],
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| panic!("{arg} needs a value"));
        match arg.as_str() {
            "--accounts" => options.accounts = value().parse().expect("--accounts N"),
            "--orgs" => options.organizations = value().parse().expect("--orgs N"),
            "--batch" => options.batch = Some(value().parse().expect("--batch N")),
            "--backend" => options.backends = Backend::parse_list(&value()),
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
    for &backend in &options.backends {
        let Some(database) = BenchDatabase::create(backend).await? else {
            println!("postgres: skipped (set MAILADMIN_BENCH_POSTGRES_URL)");
            continue;
        };
        let result = run(backend.name(), &database.url, &options).await;
        database.drop_database().await?;
        result?;
    }
    Ok(())
}

async fn run(backend: &str, url: &str, options: &Options) -> anyhow::Result<()> {
    let mut settings = Settings::new(url);
    if let Some(batch) = options.batch {
        settings.renewal_batch_size = batch;
    }
    let app = open_app(url, settings).await?;

    let seeding = Instant::now();
    let per_org = options.accounts.div_ceil(options.organizations);
    let due = chrono::Utc::now() - chrono::Duration::minutes(1);
    let mut seeded = 0;
    for org in 0..options.organizations {
        let count = per_org.min(options.accounts - seeded);
        if count == 0 {
            break;
        }
        seed_organization(
            &app,
            &format!("Bench {org}"),
            &format!("o{org}-u"),
            count,
            due,
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
