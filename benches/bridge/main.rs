//! Bridge benchmark: Postfix's recipient lookups and Dovecot's logins
//! through `mailadmin-bridge`, against what providers run today.
//!
//! ```sh
//! MAILADMIN_BENCH_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/postgres \
//!   cargo bench --bench bridge
//! cargo bench --bench bridge -- --addresses 20000 --seconds 2 --login-seconds 0
//! ```
//!
//! One run, side by side, 100,000 seeded addresses, 9 lookups in 10 name
//! one of them, at 1, 16 and 64 connections (each contender measured for
//! `--seconds` in `--rounds` alternating rounds), every answer checked:
//! (a) the real `mailadmin-bridge` binary's `mailboxes` map, as shipped
//!     (verdicts cached until the directory version moves, lookups
//!     coalesced into batches), over the real `mailadmin-server`; (a′) the
//!     same with the cache off (`--cache-ttl-ms 0`), every lookup asked;
//!     (a″) cache off and one call per lookup (`--calls-in-flight 0`);
//! (b) PostfixAdmin's `virtual_mailbox_maps` query on PostfixAdmin's tables
//!     holding the same mailboxes in the same PostgreSQL, one connection
//!     per worker, over the simple query protocol, as each Postfix process's
//!     `pgsql:` table asks it;
//! (c) a socketmap server answering from a `HashMap` (the protocol's
//!     ceiling: the bridge's own framing and listener, no control plane).
//! (a) and (c) are asked over the socketmap protocol, one request at a time
//! per connection, as Postfix's `dict_sockmap` does. Then the same three
//! through Postfix's own clients (`postmap -q -`, N processes), when
//! Postfix and its pgsql table are installed. Then logins through a real
//! Dovecot's auth service: `mailadmin-checkpassword` against Dovecot's
//! `sql` passdb on PostfixAdmin's table with the same Argon2id hashes.

#[path = "../common/mod.rs"]
mod common;
#[path = "../delivery/load.rs"]
#[allow(dead_code)]
mod load;
#[path = "../delivery/process.rs"]
#[allow(dead_code)]
mod process;

mod dovecot;
mod postfixadmin;
mod postmap;
mod socketmap;

use common::{
    Backend, BenchDatabase, build_client_binaries, create_delivery_token, open_app, read_directory,
    seed,
};
use load::{Outcome, Stats, Worker};
use mailadmin_server::Settings;
use postfixadmin::{MailboxQuery, PostfixAdmin};
use process::ServerProcess;
use sea_orm::{ConnectionTrait, Statement};
use socketmap::Socketmap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

struct Options {
    addresses: usize,
    organizations: usize,
    warmup: Duration,
    measure: Duration,
    rounds: usize,
    concurrency: Vec<usize>,
    postmap_keys: usize,
    logins: usize,
    login_measure: Duration,
    login_concurrency: Vec<usize>,
}

fn options() -> Options {
    let mut options = Options {
        addresses: 100_000,
        organizations: 100,
        warmup: Duration::from_secs(1),
        measure: Duration::from_secs(5),
        rounds: 5,
        concurrency: vec![1, 16, 64],
        postmap_keys: 60_000,
        logins: 16,
        login_measure: Duration::from_secs(10),
        login_concurrency: vec![1, 16],
    };
    let list = |v: String| common::number_list(&v);
    let seconds = |v: String| Duration::from_secs_f64(v.parse().expect("a number of seconds"));
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| panic!("{arg} needs a value"));
        match arg.as_str() {
            "--addresses" => options.addresses = value().parse().expect("--addresses N"),
            "--orgs" => options.organizations = value().parse().expect("--orgs N"),
            "--seconds" => options.measure = seconds(value()),
            "--rounds" => options.rounds = value().parse::<usize>().expect("--rounds N").max(1),
            "--concurrency" => options.concurrency = list(value()),
            "--postmap-keys" => options.postmap_keys = value().parse().expect("--postmap-keys N"),
            "--logins" => options.logins = value().parse::<usize>().expect("--logins N").max(1),
            "--login-seconds" => options.login_measure = seconds(value()),
            "--login-concurrency" => options.login_concurrency = list(value()),
            // `cargo bench` passes --bench; ignore what is not ours.
            _ => {}
        }
    }
    options
}

/// The password of every account that logs in.
const PASSWORD: &str = "benchmark password";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--socketmap-ceiling") {
        return socketmap::serve_ceiling(args[2].parse()?, args[3].as_ref()).await;
    }
    let options = options();
    let Some(admin_url) = common::postgres_admin_url() else {
        anyhow::bail!("set MAILADMIN_BENCH_POSTGRES_URL: contender (b) is PostgreSQL");
    };
    // Before anything is measured: building while measuring would skew it.
    let bins = build_client_binaries().await?;
    let Some(database) = BenchDatabase::create(Backend::Postgres).await? else {
        anyhow::bail!("no PostgreSQL database could be created");
    };
    let result = run(&database, &admin_url, &bins, &options).await;
    database.drop_database().await?;
    result
}

async fn run(
    database: &BenchDatabase,
    admin_url: &str,
    bins: &Path,
    options: &Options,
) -> anyhow::Result<()> {
    let dir = database.dir();
    println!(
        "bridge benchmark: {} addresses, 9 in 10 lookups hit, {:?} per contender in {} alternating rounds",
        options.addresses, options.measure, options.rounds
    );
    let operator_token_file = dir.join("operator.token");
    let app = open_app(&database.url, Settings::new(&database.url)).await?;
    let seeding = Instant::now();
    seed(&app, 0, options.organizations, options.addresses).await?;
    // Accounts that log in: organization masters, created (and their
    // passwords hashed) through the rules like any account.
    for n in 0..options.logins {
        let until = chrono::Utc::now() + chrono::Duration::days(20);
        common::seed_organization(&app, &format!("Logins {n}"), &format!("l{n}-"), 1, until)
            .await?;
    }
    let seeded = read_directory(&database.url).await?;
    let logins = login_hashes(&database.url).await?;
    let postfixadmin =
        PostfixAdmin::create(&database.url, admin_url, &seeded.addresses, &logins).await?;
    println!(
        "seeded {} addresses and {} logins (and PostfixAdmin's tables) in {:.1} s",
        seeded.addresses.len(),
        logins.len(),
        seeding.elapsed().as_secs_f64()
    );

    let mut server = ServerProcess::mailadmin(&database.url, dir, "server", &operator_token_file)?;
    server.ready(Instant::now()).await?;
    let operator_token = std::fs::read_to_string(&operator_token_file)?
        .trim()
        .to_string();
    let delivery_token = create_delivery_token(&server.url(), &operator_token).await?;
    let token_file = dir.join("delivery.token");
    std::fs::write(&token_file, &delivery_token)?;
    {
        use std::os::unix::fs::PermissionsExt;
        // Read by Dovecot's auth process, which runs as the dovecot user.
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755))?;
        std::fs::set_permissions(&token_file, std::fs::Permissions::from_mode(0o644))?;
    }

    let start_bridge = |name: &'static str, flags: &'static [&'static str]| {
        let addr = process::free_loopback_addr()?;
        let mut command = tokio::process::Command::new(bins.join("mailadmin-bridge"));
        command
            .arg("--server")
            .arg(server.url())
            .arg("--token-file")
            .arg(&token_file)
            .arg("--socketmap")
            .arg(format!("inet:{addr}"))
            .args(flags)
            .env("RUST_LOG", "warn");
        ServerProcess::start(command, addr, dir, name, None)
    };
    let mut bridge = start_bridge("bridge", &[])?;
    bridge.ready(Instant::now()).await?;
    let bridge_addr = bridge.addr;
    let mut uncached = start_bridge("bridge-uncached", &["--cache-ttl-ms", "0"])?;
    uncached.ready(Instant::now()).await?;
    let mut unbatched = start_bridge(
        "bridge-unbatched",
        &["--cache-ttl-ms", "0", "--calls-in-flight", "0"],
    )?;
    unbatched.ready(Instant::now()).await?;

    let map_file = dir.join("mailboxes.tsv");
    socketmap::write_map(&map_file, &seeded.addresses)?;
    let ceiling_addr = process::free_loopback_addr()?;
    let mut ceiling_command = tokio::process::Command::new(std::env::current_exe()?);
    ceiling_command
        .arg("--socketmap-ceiling")
        .arg(ceiling_addr.to_string())
        .arg(&map_file);
    let mut ceiling = ServerProcess::start(ceiling_command, ceiling_addr, dir, "ceiling", None)?;
    ceiling.ready(Instant::now()).await?;

    let probes = load::workload(&seeded.addresses, 1 << 20, 9);
    let mut lookups = Table::new("lookups/s", "(b) pgsql", "(c) ceiling");
    for &concurrency in &options.concurrency {
        let contenders = vec![
            socketmap_workers(bridge_addr, concurrency, &probes).await?,
            sql_workers(&postfixadmin.url, concurrency, &probes).await?,
            socketmap_workers(ceiling_addr, concurrency, &probes).await?,
            socketmap_workers(uncached.addr, concurrency, &probes).await?,
            socketmap_workers(unbatched.addr, concurrency, &probes).await?,
        ];
        let results = load::alternate(
            contenders,
            1,
            options.warmup,
            options.measure,
            options.rounds,
        )
        .await;
        let (a, b, c) = (&results[0], &results[1], &results[2]);
        lookups.add("(a) bridge `mailboxes`", concurrency, a, Some(b), Some(c));
        let uncached = &results[3];
        lookups.add("(a′) cache off", concurrency, uncached, Some(b), Some(c));
        let unbatched = &results[4];
        let label = "(a″) cache off, one call per lookup";
        lookups.add(label, concurrency, unbatched, Some(b), Some(c));
        lookups.add("(b) PostfixAdmin query", concurrency, b, None, None);
        lookups.add("(c) in-memory socketmap", concurrency, c, None, None);
    }
    lookups.print();

    match postmap::available() {
        Some(why) => println!("\npostmap: skipped, {why}"),
        None => {
            let table = postfixadmin.postfix_table(dir)?;
            let keys = options.postmap_keys;
            // Probe numbers past those the load generator used: unknown
            // addresses no table was asked before.
            let mut first = 1 << 40;
            println!(
                "\nthrough Postfix's own table clients: {keys} keys split over N `postmap -q -` processes"
            );
            println!("| table | processes | lookups/s | (a) ÷ (b) | (a) ÷ (c) |");
            println!("|---|---|---|---|---|");
            for &processes in &options.concurrency {
                let bridge_table = format!("socketmap:inet:{bridge_addr}:mailboxes");
                let a = postmap::run(&bridge_table, &probes, first, keys, processes, dir).await?;
                let pgsql_table = format!("pgsql:{}", table.display());
                let b = postmap::run(&pgsql_table, &probes, first, keys, processes, dir).await?;
                let ceiling_table = format!("socketmap:inet:{ceiling_addr}:mailboxes");
                let c = postmap::run(&ceiling_table, &probes, first, keys, processes, dir).await?;
                first += keys;
                for (name, run) in [
                    ("(a) bridge socketmap", &a),
                    ("(b) pgsql: PostfixAdmin", &b),
                    ("(c) in-memory socketmap", &c),
                ] {
                    lookups.wrong += run.wrong as u64;
                    let ratios = if std::ptr::eq(run, &a) {
                        format!(
                            "{:.2}× | {:.0} %",
                            a.per_second() / b.per_second(),
                            100.0 * a.per_second() / c.per_second()
                        )
                    } else {
                        " | ".to_string()
                    };
                    println!(
                        "| {name} | {processes} | {:.0} | {ratios} |",
                        run.per_second()
                    );
                }
            }
        }
    }
    anyhow::ensure!(
        lookups.wrong == 0,
        "{} lookups were answered wrong",
        lookups.wrong
    );
    bridge.stop().await?;
    uncached.stop().await?;
    unbatched.stop().await?;
    ceiling.stop().await?;

    if options.login_measure.is_zero() {
        println!("\nlogins: skipped (--login-seconds 0)");
    } else if let Some(why) = dovecot::unavailable() {
        println!("\nlogins: skipped, {why}");
    } else {
        logins_through_dovecot(
            &server.url(),
            bins,
            &token_file,
            &postfixadmin,
            dir,
            &logins,
            options,
        )
        .await?;
    }
    server.stop().await?;
    postfixadmin.drop_database().await?;
    Ok(())
}

/// The accounts that log in: their address and Argon2id hash.
async fn login_hashes(url: &str) -> anyhow::Result<Vec<(String, String)>> {
    let db = sea_orm::Database::connect(url).await?;
    let rows = db
        .query_all_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT primary_address, password_hash FROM users \
             WHERE username LIKE 'l%-admin' ORDER BY id",
        ))
        .await?;
    rows.into_iter()
        .map(|row| Ok((row.try_get_by_index(0)?, row.try_get_by_index(1)?)))
        .collect()
}

async fn logins_through_dovecot(
    server: &str,
    bins: &Path,
    token_file: &Path,
    postfixadmin: &PostfixAdmin,
    dir: &Path,
    logins: &[(String, String)],
    options: &Options,
) -> anyhow::Result<()> {
    let checkpassword = dovecot::Dovecot::start(
        "checkpassword",
        &dovecot::checkpassword_passdb(&bins.join("mailadmin-checkpassword"), server, token_file),
    )
    .await?;
    let sql = dovecot::Dovecot::start(
        "sql",
        &dovecot::sql_passdb(&postfixadmin.dovecot_sql_conf(dir)?),
    )
    .await?;
    let names = Arc::new(logins.iter().map(|(a, _)| a.clone()).collect::<Vec<_>>());
    let token = std::fs::read_to_string(token_file)?;
    let direct =
        mailadmin_client::DeliveryClient::new(server, token.trim(), Duration::from_secs(30))?;
    let mut table = Table::new("logins/s", "(e) sql passdb", "");
    for &concurrency in &options.login_concurrency {
        let mut contenders = Vec::new();
        for dovecot in [&checkpassword, &sql] {
            let mut workers = Vec::new();
            for _ in 0..concurrency {
                let logins =
                    dovecot::Logins::connect(dovecot.auth, names.clone(), PASSWORD).await?;
                workers.push(Login::Dovecot(logins));
            }
            contenders.push(workers);
        }
        contenders.push(
            (0..concurrency)
                .map(|_| {
                    Login::Direct(dovecot::Authenticate {
                        client: direct.clone(),
                        logins: names.clone(),
                        password: PASSWORD.to_string(),
                    })
                })
                .collect(),
        );
        let results = load::alternate(
            contenders,
            1,
            options.warmup,
            options.login_measure,
            options.rounds,
        )
        .await;
        table.add(
            "(d) checkpassword → Authenticate",
            concurrency,
            &results[0],
            Some(&results[1]),
            None,
        );
        table.add(
            "(e) Dovecot sql passdb",
            concurrency,
            &results[1],
            None,
            None,
        );
        let label = "(f) `Authenticate` called directly";
        table.add(label, concurrency, &results[2], Some(&results[1]), None);
    }
    println!("\nlogins through Dovecot's auth service (AUTH PLAIN), Argon2id on both sides:");
    table.print();
    anyhow::ensure!(table.wrong == 0, "{} logins were refused", table.wrong);
    Ok(())
}

async fn socketmap_workers(
    addr: SocketAddr,
    concurrency: usize,
    probes: &Arc<Vec<load::Probe>>,
) -> anyhow::Result<Vec<Lookup>> {
    let mut workers = Vec::with_capacity(concurrency);
    for _ in 0..concurrency {
        workers.push(Lookup::Socketmap(
            Socketmap::connect(addr, probes.clone()).await?,
        ));
    }
    Ok(workers)
}

async fn sql_workers(
    url: &str,
    concurrency: usize,
    probes: &Arc<Vec<load::Probe>>,
) -> anyhow::Result<Vec<Lookup>> {
    let mut workers = Vec::with_capacity(concurrency);
    for _ in 0..concurrency {
        workers.push(Lookup::Sql(
            MailboxQuery::connect(url, probes.clone()).await?,
        ));
    }
    Ok(workers)
}

/// A login worker of either kind, so the contenders alternate in one run.
enum Login {
    Dovecot(dovecot::Logins),
    Direct(dovecot::Authenticate),
}

impl Worker for Login {
    async fn call(&mut self, at: usize) -> Outcome {
        match self {
            Login::Dovecot(worker) => worker.call(at).await,
            Login::Direct(worker) => worker.call(at).await,
        }
    }
}

/// A lookup worker of either kind, so the contenders alternate in one run.
enum Lookup {
    Socketmap(Socketmap),
    Sql(MailboxQuery),
}

impl Worker for Lookup {
    async fn call(&mut self, at: usize) -> Outcome {
        match self {
            Lookup::Socketmap(worker) => worker.call(at).await,
            Lookup::Sql(worker) => worker.call(at).await,
        }
    }
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

/// Results as a Markdown table for the README, with each contender's
/// ratio to the baselines named.
struct Table {
    unit: &'static str,
    first: &'static str,
    second: &'static str,
    rows: Vec<String>,
    wrong: u64,
}

impl Table {
    fn new(unit: &'static str, first: &'static str, second: &'static str) -> Table {
        Table {
            unit,
            first,
            second,
            rows: Vec::new(),
            wrong: 0,
        }
    }

    fn add(
        &mut self,
        contender: &str,
        concurrency: usize,
        stats: &Stats,
        first: Option<&Stats>,
        second: Option<&Stats>,
    ) {
        let ratio = |other: Option<&Stats>| {
            other
                .map(|o| format!("{:.2}×", stats.calls_per_second() / o.calls_per_second()))
                .unwrap_or_default()
        };
        self.wrong += stats.wrong;
        self.rows.push(format!(
            "| {contender} | {concurrency} | {:.0} | {} | {} | {} | {} |",
            stats.calls_per_second(),
            ms(stats.percentile(0.5)),
            ms(stats.percentile(0.99)),
            ratio(first),
            ratio(second),
        ));
    }

    fn print(&self) {
        println!(
            "| contender | concurrency | {} | p50 | p99 | ÷ {} | ÷ {} |",
            self.unit, self.first, self.second
        );
        println!("|---|---|---|---|---|---|---|");
        for row in &self.rows {
            println!("{row}");
        }
    }
}
