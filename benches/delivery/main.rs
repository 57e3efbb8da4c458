//! Delivery-path benchmark: how fast recipients are checked, against what.
//!
//! ```sh
//! MAILADMIN_BENCH_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/postgres \
//!   cargo bench --bench delivery
//! cargo bench --bench delivery -- --addresses 20000 --seconds 2 --memory-addresses 0
//! ```
//!
//! One run, side by side (each contender measured for `--seconds` in
//! `--rounds` alternating rounds), with 100,000 seeded addresses and 9
//! probes in 10 naming one of them:
//! (a) `CheckRecipient` on the real server binary at 1, 16 and 64
//!     concurrent requests; (b) `StreamCheckRecipients`, batches of 100, on
//!     1 and 16 streams; (c) the same load against a bare tonic server that
//!     checks the same token and answers from a `HashMap` (the ceiling,
//!     `ceiling.rs`); (d) the same lookup as a prepared SQL query against
//!     PostgreSQL (`workers::LOOKUP`). Then the lag between two server
//!     processes over one PostgreSQL, and the real server's resident memory
//!     and start-up at each size of `--memory-addresses` (default 1,000,000;
//!     the directory grown by SQL), with a full reload under load on
//!     PostgreSQL (`reload.rs`). `--startup-only` runs just that part.
//!     Every answer is checked.
//!
//! Servers run as their own processes; the load generator shares the
//! machine with them, as an MTA on the same host would. PostgreSQL is used
//! when `MAILADMIN_BENCH_POSTGRES_URL` (or `MAILADMIN_TEST_POSTGRES_URL`)
//! is set; without it, SQLite, and (d) and the lag are skipped.

#[path = "../common/mod.rs"]
mod common;

mod ceiling;
mod lag;
mod load;
mod process;
mod reload;
mod workers;

use anyhow::Context;
use common::{Backend, BenchDatabase, create_delivery_token, open_app, read_directory, seed};
use load::Stats;
use mailadmin_client::DeliveryClient;
use mailadmin_client::Verdict;
use mailadmin_server::Settings;
use process::ServerProcess;
use sea_orm::ConnectionTrait;
use std::time::{Duration, Instant};
use workers::Client;

struct Options {
    addresses: usize,
    organizations: usize,
    warmup: Duration,
    measure: Duration,
    concurrency: Vec<usize>,
    streams: Vec<usize>,
    batch: usize,
    rounds: usize,
    memory_addresses: Vec<usize>,
    startup_only: bool,
    lag_accounts: usize,
    /// Empty: PostgreSQL when configured, else SQLite.
    backends: Vec<Backend>,
}

fn options() -> Options {
    let mut options = Options {
        addresses: 100_000,
        organizations: 100,
        warmup: Duration::from_secs(1),
        measure: Duration::from_secs(5),
        concurrency: vec![1, 16, 64],
        streams: vec![1, 16],
        batch: 100,
        rounds: 5,
        memory_addresses: vec![1_000_000],
        startup_only: false,
        lag_accounts: 50,
        backends: Vec::new(),
    };
    let list = |v: String| common::number_list(&v);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| panic!("{arg} needs a value"));
        match arg.as_str() {
            "--addresses" => options.addresses = value().parse().expect("--addresses N"),
            "--orgs" => options.organizations = value().parse().expect("--orgs N"),
            "--seconds" => {
                options.measure = Duration::from_secs_f64(value().parse().expect("--seconds S"))
            }
            "--concurrency" => options.concurrency = list(value()),
            "--streams" => options.streams = list(value()),
            "--batch" => options.batch = value().parse().expect("--batch N"),
            "--rounds" => options.rounds = value().parse::<usize>().expect("--rounds N").max(1),
            "--memory-addresses" => options.memory_addresses = list(value()),
            "--startup-only" => options.startup_only = true,
            "--lag-accounts" => options.lag_accounts = value().parse().expect("--lag-accounts N"),
            "--backend" => options.backends = Backend::parse_list(&value()),
            // `cargo bench` passes --bench; ignore what is not ours.
            _ => {}
        }
    }
    options
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--ceiling-server") {
        let token = std::env::var("MAILADMIN_BENCH_CEILING_TOKEN")?;
        return ceiling::serve(args[2].parse()?, &token, args[3].as_ref()).await;
    }
    let options = options();
    let backends = match options.backends.as_slice() {
        [] if common::postgres_admin_url().is_some() => vec![Backend::Postgres],
        [] => vec![Backend::Sqlite],
        chosen => chosen.to_vec(),
    };
    for backend in backends {
        let Some(database) = BenchDatabase::create(backend).await? else {
            anyhow::bail!("postgres: set MAILADMIN_BENCH_POSTGRES_URL");
        };
        let result = run(&database, &options).await;
        database.drop_database().await?;
        result?;
    }
    Ok(())
}

async fn run(database: &BenchDatabase, options: &Options) -> anyhow::Result<()> {
    let dir = database.dir();
    let token_file = dir.join("operator.token");
    if options.startup_only {
        println!(
            "start-up benchmark on {}: {:?} addresses",
            database.backend.name(),
            options.memory_addresses
        );
    } else {
        println!(
            "delivery benchmark on {}: {} addresses, 9 in 10 probes hit, {:?} per scenario in {} alternating rounds",
            database.backend.name(),
            options.addresses,
            options.measure,
            options.rounds
        );
    }

    // An empty server first: its memory is the baseline for bytes/address.
    let mut empty = ServerProcess::mailadmin(&database.url, dir, "empty", &token_file)?;
    empty.ready(Instant::now()).await?;
    let (baseline_rss, _) = empty.memory()?;
    empty.stop().await?;
    let operator_token = std::fs::read_to_string(&token_file)?.trim().to_string();

    let app = open_app(&database.url, Settings::new(&database.url)).await?;
    if options.startup_only {
        return startup_at_scale(database, options, &app, &token_file, baseline_rss, 0).await;
    }
    let seeding = Instant::now();
    seed(&app, 0, options.organizations, options.addresses).await?;
    let seeded = read_directory(&database.url).await?;
    println!(
        "seeded {} addresses in {:.1} s",
        seeded.addresses.len(),
        seeding.elapsed().as_secs_f64()
    );
    let directory_file = dir.join("directory.tsv");
    ceiling::write_directory(&directory_file, &seeded.rows)?;

    let started = Instant::now();
    let mut server = ServerProcess::mailadmin(&database.url, dir, "server-a", &token_file)?;
    let startup = server.ready(started).await?;
    println!(
        "server ready in {:.2} s ({})",
        startup.as_secs_f64(),
        snapshot_line(&server.log())
    );
    let delivery_token = create_delivery_token(&server.url(), &operator_token).await?;
    let mut ceiling = ServerProcess::ceiling(&delivery_token, &directory_file, dir)?;
    ceiling.ready(Instant::now()).await?;

    let probes = load::workload(&seeded.addresses, 1 << 20, 9);
    let ours = DeliveryClient::new(&server.url(), &delivery_token, Duration::from_secs(10))?;
    let bare = DeliveryClient::new(&ceiling.url(), &delivery_token, Duration::from_secs(10))?;
    let pool = match database.backend {
        Backend::Postgres => Some(
            sea_orm::sqlx::postgres::PgPoolOptions::new()
                .max_connections(*options.concurrency.iter().max().unwrap_or(&1) as u32)
                .connect(&database.url)
                .await?,
        ),
        Backend::Sqlite => None,
    };

    let mut table = Table::default();
    for &concurrency in &options.concurrency {
        let unary = |client: &DeliveryClient| {
            (0..concurrency)
                .map(|_| {
                    Client::Unary(workers::Unary {
                        client: client.clone(),
                        probes: probes.clone(),
                    })
                })
                .collect::<Vec<_>>()
        };
        let mut contenders = vec![unary(&ours), unary(&bare)];
        if let Some(pool) = &pool {
            contenders.push(
                (0..concurrency)
                    .map(|_| {
                        Client::Sql(workers::Sql {
                            pool: pool.clone(),
                            probes: probes.clone(),
                        })
                    })
                    .collect(),
            );
        }
        let results = rounds(contenders, 1, options).await;
        let (a, c, d) = (&results[0], &results[1], results.get(2));
        table.add("(a) CheckRecipient", concurrency, a, Some(c), d);
        table.add("(c) ceiling, unary", concurrency, c, None, None);
        if let Some(d) = d {
            table.add("(d) SQL lookup", concurrency, d, None, None);
        }
    }
    for &streams in &options.streams {
        let mut contenders = Vec::new();
        for client in [&ours, &bare] {
            let mut list = Vec::with_capacity(streams);
            for _ in 0..streams {
                let stream = workers::Stream::open(client, options.batch, probes.clone()).await?;
                list.push(Client::Stream(Box::new(stream)));
            }
            contenders.push(list);
        }
        let results = rounds(contenders, options.batch, options).await;
        let label = format!("(b) stream, batches of {}", options.batch);
        table.add(&label, streams, &results[0], Some(&results[1]), None);
        table.add("(c) ceiling, stream", streams, &results[1], None, None);
    }
    table.print();
    anyhow::ensure!(table.wrong == 0, "{} answers were wrong", table.wrong);

    if database.backend == Backend::Postgres && options.lag_accounts > 0 {
        let mut replica = ServerProcess::mailadmin(&database.url, dir, "server-b", &token_file)?;
        replica.ready(Instant::now()).await?;
        let accounts: Vec<(i64, String)> = seeded
            .rows
            .iter()
            .step_by((seeded.rows.len() / options.lag_accounts).max(1))
            .take(options.lag_accounts)
            .map(|(address, user_id, _)| (*user_id, address.clone()))
            .collect();
        let lags = lag::measure(&server.url(), &replica.url(), &operator_token, &accounts).await?;
        println!(
            "cross-replica lag over {} changes (disable, enable): p50 {} p99 {} max {}",
            lags.count(),
            ms(lags.percentile(0.5)),
            ms(lags.percentile(0.99)),
            ms(lags.percentile(1.0)),
        );
        replica.stop().await?;
    }
    ceiling.stop().await?;
    server.stop().await?;

    let organizations = options.organizations;
    startup_at_scale(
        database,
        options,
        &app,
        &token_file,
        baseline_rss,
        organizations,
    )
    .await
}

async fn rounds(contenders: Vec<Vec<Client>>, step: usize, options: &Options) -> Vec<Stats> {
    load::alternate(
        contenders,
        step,
        options.warmup,
        options.measure,
        options.rounds,
    )
    .await
}

/// The server's "routing snapshot loaded" log line, shortened.
fn snapshot_line(log: &str) -> String {
    log.lines()
        .find(|l| l.contains("routing snapshot loaded"))
        .and_then(|l| l.split_once("routing snapshot loaded"))
        .map(|(_, fields)| format!("snapshot:{}", strip_ansi(fields)))
        .unwrap_or_else(|| "no snapshot line in the log".into())
}

fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Accounts per organization when growing the directory for
/// [`startup_at_scale`].
const BULK_ORGANIZATION: usize = 500_000;

/// Grows the directory to each size of `--memory-addresses` in turn
/// (accounts with one primary address each, written by SQL:
/// `Store::seed_directory_bulk`), starts the real server on it, and
/// reports its start-up time, the snapshot's load time and its resident
/// memory. `organizations`: how many were seeded before.
async fn startup_at_scale(
    database: &BenchDatabase,
    options: &Options,
    app: &mailadmin_server::service::App,
    token_file: &std::path::Path,
    baseline_rss: u64,
    mut organizations: usize,
) -> anyhow::Result<()> {
    let mut present = if options.startup_only {
        0
    } else {
        options.addresses
    };
    let mut sizes = options.memory_addresses.clone();
    sizes.sort_unstable();
    let (mut rows, mut reloads) = (Vec::new(), Vec::new());
    let token = std::fs::read_to_string(token_file)?.trim().to_string();
    for size in sizes {
        if size <= present {
            continue;
        }
        let seeding = Instant::now();
        let (mut first, mut last) = (String::new(), String::new());
        while present < size {
            let count = BULK_ORGANIZATION.min(size - present);
            let prefix = format!("o{organizations}-u");
            let paid_until = chrono::Utc::now() + chrono::Duration::days(20);
            let id = common::seed_organization(
                app,
                &format!("Bulk {organizations}"),
                &prefix,
                0,
                paid_until,
            )
            .await?;
            app.store()
                .seed_directory_bulk(
                    id,
                    &prefix,
                    0..count as u64,
                    mailadmin_server::rules::plans::Plan::Entry,
                    paid_until,
                )
                .await?;
            first = format!("{prefix}0@{}", mailadmin_server::store::SEED_DOMAIN);
            last = format!(
                "{prefix}{}@{}",
                count - 1,
                mailadmin_server::store::SEED_DOMAIN
            );
            organizations += 1;
            present += count;
        }
        if database.backend == Backend::Postgres {
            // What autovacuum would have done by the time a server starts.
            sea_orm::Database::connect(&database.url)
                .await?
                .execute_unprepared("VACUUM ANALYZE users, addresses")
                .await?;
        }
        println!(
            "grew the directory to {size} addresses in {:.1} s",
            seeding.elapsed().as_secs_f64()
        );
        let started = Instant::now();
        let name = format!("server-{size}");
        let mut server =
            ServerProcess::mailadmin(&database.url, database.dir(), &name, token_file)?;
        let startup = server.ready(started).await?;
        let (rss, peak) = server.memory()?;
        let client = DeliveryClient::new(&server.url(), &token, Duration::from_secs(10))?;
        let verdict = client.check_recipient(&last).await;
        anyhow::ensure!(
            matches!(verdict, Verdict::Deliver { .. }),
            "{last}: {verdict:?}"
        );
        if database.backend == Backend::Postgres {
            let db = sea_orm::Database::connect(&database.url).await?;
            let victim: i64 = db
                .query_one_raw(sea_orm::Statement::from_string(
                    db.get_database_backend(),
                    format!("SELECT id FROM users WHERE primary_address = '{last}'"),
                ))
                .await?
                .context("the last seeded account")?
                .try_get_by_index(0)?;
            let reloaded = reload::measure(
                &server,
                &database.url,
                &token,
                &client,
                &first,
                (victim, &last),
            )
            .await?;
            let row = format!(
                "| {size} | {:.2} s | {} | {} | {} | {} | {} |",
                reloaded.reload.as_secs_f64(),
                reloaded.checks,
                reloaded.wrong,
                ms(reloaded.slowest),
                if reloaded.change_seen { "yes" } else { "no" },
                if reloaded.change_kept { "yes" } else { "no" },
            );
            println!("reload under load: {row}");
            reloads.push(row);
        }
        let log = server.log();
        server.stop().await?;
        let mib = |bytes: u64| bytes as f64 / (1024.0 * 1024.0);
        let row = format!(
            "| {} | {size} | {:.2} s | {:.2} s | {:.0} MiB | {:.0} MiB | {:.0} |",
            database.backend.name(),
            startup.as_secs_f64(),
            snapshot_millis(&log).unwrap_or(0) as f64 / 1000.0,
            mib(rss),
            mib(peak),
            (rss.saturating_sub(baseline_rss)) as f64 / size as f64,
        );
        println!("{row}");
        rows.push(row);
    }
    if !rows.is_empty() {
        println!(
            "(empty server: {:.0} MiB resident)",
            baseline_rss as f64 / (1024.0 * 1024.0)
        );
        println!(
            "| database | addresses | ready | snapshot loaded in | resident | peak | bytes/address |"
        );
        println!("|---|---|---|---|---|---|---|");
        for row in rows {
            println!("{row}");
        }
    }
    if !reloads.is_empty() {
        println!(
            "| addresses | reload | checks meanwhile | not DELIVER | slowest check | disable seen at once | kept after |"
        );
        println!("|---|---|---|---|---|---|---|");
        for row in reloads {
            println!("{row}");
        }
    }
    Ok(())
}

/// The `millis=` of the server's "routing snapshot loaded" log line.
fn snapshot_millis(log: &str) -> Option<u64> {
    let line = snapshot_line(log);
    let (_, rest) = line.split_once("millis=")?;
    rest.split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

/// The results, as a Markdown table for the README.
#[derive(Default)]
struct Table {
    rows: Vec<String>,
    wrong: u64,
}

impl Table {
    fn add(
        &mut self,
        scenario: &str,
        concurrency: usize,
        stats: &Stats,
        ceiling: Option<&Stats>,
        sql: Option<&Stats>,
    ) {
        let ratio = |other: Option<&Stats>| {
            other.map(|o| stats.addresses_per_second() / o.addresses_per_second())
        };
        self.wrong += stats.wrong;
        self.rows.push(format!(
            "| {scenario} | {concurrency} | {:.0} | {:.0} | {} | {} | {} | {} |",
            stats.calls_per_second(),
            stats.addresses_per_second(),
            ms(stats.percentile(0.5)),
            ms(stats.percentile(0.99)),
            ratio(ceiling)
                .map(|r| format!("{:.0} %", 100.0 * r))
                .unwrap_or_default(),
            ratio(sql).map(|r| format!("{r:.2}×")).unwrap_or_default(),
        ));
    }

    fn print(&self) {
        println!(
            "| scenario | concurrency | calls/s | addresses/s | p50 | p99 | of ceiling (c) | of SQL (d) |"
        );
        println!("|---|---|---|---|---|---|---|---|");
        for row in &self.rows {
            println!("{row}");
        }
    }
}
