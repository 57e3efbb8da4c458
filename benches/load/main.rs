//! Mixed-load benchmark: recipient checks while logins and admin writes
//! run, on the real server binary, on SQLite and PostgreSQL.
//!
//! ```sh
//! MAILADMIN_BENCH_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/postgres \
//!   cargo bench --bench load
//! cargo bench --bench load -- --seconds 5 --backend sqlite
//! ```
//!
//! It seeds `--accounts` accounts (one primary address each) in `--orgs`
//! organizations, gives `--logins` of them one known password, and starts
//! the real `mailadmin-server` (release build, its own process). Workers
//! call as fast as answers come back, each picking every operation's
//! class by weight (`--mix`, 90/8/2 by default): `CheckRecipient` (9 in 10
//! name a seeded address, 1 in 10 an unknown one), `Authenticate` (1 in
//! `--wrong-logins-in` with a wrong password, each from a client address of
//! its own so the per-address throttle stays out of the way), and admin
//! writes that change the directory or the ledger (`CreateUser` with an
//! alias, `AddAlias`, `TopUp` with an idempotency key of its own, in equal
//! parts). Side by side in the same run, at the same concurrency: the same
//! workers doing recipient checks only, and the mix on workers of their
//! own (of 64, 5 only log in and 1 only writes: recipient checks then come
//! as fast as the other 58 workers get answers, whatever the logins take).
//! Each workload is measured for `--seconds` in all, in `--rounds`
//! alternating rounds. The report gives
//! each class's operations/s, p50, p99 and p99.9 (exact, over every call)
//! and its errors by status code, and the ratio of the recipient checks'
//! p99 under the mixed load to their p99 alone (the goal: within 2×).
//! Every answer is checked; a wrong one fails the run.
//! `--hashing-priority low,idle` measures it all once per value of the
//! server's flag, each on a server of its own over the same seeded
//! database (default: `low` only).

#[path = "../common/mod.rs"]
mod common;
#[path = "../delivery/load.rs"]
#[allow(dead_code)]
mod load;
#[path = "../delivery/process.rs"]
#[allow(dead_code)]
mod process;

mod mix;

use common::{Backend, BenchDatabase, connect, create_delivery_token, open_app, read_directory};
use mailadmin_client::pb;
use mailadmin_client::pb::admin_service_client::AdminServiceClient;
use mailadmin_client::pb::billing_service_client::BillingServiceClient;
use mailadmin_client::pb::delivery_service_client::DeliveryServiceClient;
use mailadmin_server::Settings;
use mailadmin_server::rules::plans::Plan;
use mix::{Kind, Measured, Mixer, Shared, Tally, Weights};
use process::ServerProcess;
use sea_orm::ConnectionTrait;
use std::sync::Arc;
use std::time::{Duration, Instant};

struct Options {
    accounts: usize,
    organizations: usize,
    logins: usize,
    wrong_logins_in: u32,
    mix: Weights,
    warmup: Duration,
    measure: Duration,
    rounds: usize,
    concurrency: Vec<usize>,
    backends: Vec<Backend>,
    /// The server's `--hashing-priority` values to measure, one after the
    /// other on the same seeded database.
    priorities: Vec<String>,
}

fn options() -> Options {
    let mut options = Options {
        accounts: 10_000,
        organizations: 10,
        logins: 1_000,
        wrong_logins_in: 20,
        mix: Weights {
            checks: 90,
            logins: 8,
            writes: 2,
        },
        warmup: Duration::from_secs(1),
        measure: Duration::from_secs(60),
        rounds: 6,
        concurrency: vec![16, 64],
        backends: vec![Backend::Sqlite, Backend::Postgres],
        priorities: vec!["low".into()],
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| panic!("{arg} needs a value"));
        match arg.as_str() {
            "--accounts" => options.accounts = value().parse().expect("--accounts N"),
            "--orgs" => options.organizations = value().parse().expect("--orgs N"),
            "--logins" => options.logins = value().parse::<usize>().expect("--logins N").max(1),
            "--wrong-logins-in" => {
                options.wrong_logins_in = value().parse().expect("--wrong-logins-in N")
            }
            "--mix" => options.mix = Weights::parse(&value()),
            "--seconds" => {
                options.measure = Duration::from_secs_f64(value().parse().expect("--seconds S"))
            }
            "--rounds" => options.rounds = value().parse::<usize>().expect("--rounds N").max(1),
            "--concurrency" => options.concurrency = common::number_list(&value()),
            "--backend" => options.backends = Backend::parse_list(&value()),
            "--hashing-priority" => {
                options.priorities = value().split(',').map(|p| p.trim().to_string()).collect();
                for priority in &options.priorities {
                    assert!(
                        ["low", "idle"].contains(&priority.as_str()),
                        "--hashing-priority low,idle: not {priority:?}"
                    );
                }
            }
            // `cargo bench` passes --bench; ignore what is not ours.
            _ => {}
        }
    }
    options
}

/// What `run` measures side by side, as the tables name it.
const WORKLOADS: [&str; 3] = ["checks only", "mixed per call", "mixed, split workers"];

/// The password of every account that logs in.
const PASSWORD: &str = "load benchmark password";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let options = options();
    let mix = options.mix;
    println!(
        "mixed-load benchmark: {} accounts, {} of them log in; mix {}/{}/{} (checks/logins/writes) \
         vs checks only, {:?} each in {} alternating rounds, concurrency {:?}, \
         hashing priority {:?}",
        options.accounts,
        options.logins,
        mix.checks,
        mix.logins,
        mix.writes,
        options.measure,
        options.rounds,
        options.concurrency,
        options.priorities
    );
    let mut report = Report::default();
    for &backend in &options.backends {
        let Some(database) = BenchDatabase::create(backend).await? else {
            println!(
                "{}: skipped, set MAILADMIN_BENCH_POSTGRES_URL",
                backend.name()
            );
            continue;
        };
        let result = run(&database, &options, &mut report).await;
        database.drop_database().await?;
        result?;
    }
    report.print();
    anyhow::ensure!(report.wrong == 0, "{} answers were wrong", report.wrong);
    Ok(())
}

async fn run(
    database: &BenchDatabase,
    options: &Options,
    report: &mut Report,
) -> anyhow::Result<()> {
    let app = open_app(&database.url, Settings::new(&database.url)).await?;
    let seeding = Instant::now();
    common::seed(&app, 0, options.organizations, options.accounts).await?;
    // The organization the writes go to: room for every account they
    // create (Pro's limit raised), credit from a top-up once the server runs.
    let until = chrono::Utc::now() + chrono::Duration::days(20);
    let writes_organization =
        common::seed_organization(&app, "Load writes", "writes-", 0, until).await?;
    let mut plans = app.plan_catalog().await?;
    for terms in plans.iter_mut().filter(|t| t.plan == Plan::Pro) {
        terms.max_accounts = 1_000_000;
    }
    app.update_plan_catalog(&common::operator(), plans).await?;
    let seeded = read_directory(&database.url).await?;
    anyhow::ensure!(!seeded.rows.is_empty(), "no account was seeded");
    let logins: Vec<(String, i64)> = seeded
        .rows
        .iter()
        .step_by((seeded.rows.len() / options.logins).max(1))
        .take(options.logins)
        .map(|(_, user_id, primary)| (primary.clone(), *user_id))
        .collect();
    set_password(&database.url, &logins).await?;
    println!(
        "\n{}: seeded {} accounts ({} with a password) in {:.1} s",
        database.backend.name(),
        seeded.rows.len(),
        logins.len(),
        seeding.elapsed().as_secs_f64()
    );

    for (index, priority) in options.priorities.iter().enumerate() {
        let run = Run {
            logins: &logins,
            alias_owners: seeded.rows.iter().map(|(_, id, _)| *id).collect(),
            addresses: &seeded.addresses,
            writes_organization,
            priority,
            first_name: (index as u64) << 32,
        };
        measure(database, options, &run, report).await?;
    }
    Ok(())
}

/// What one server of the run is measured with.
struct Run<'a> {
    logins: &'a [(String, i64)],
    alias_owners: Vec<i64>,
    addresses: &'a [String],
    writes_organization: i64,
    /// The server's `--hashing-priority`.
    priority: &'a str,
    /// Where this server's writes start numbering the names they create,
    /// so no two servers of a run create the same one.
    first_name: u64,
}

/// Starts the server at `run.priority` on the seeded database and measures
/// the three workloads side by side at each concurrency.
async fn measure(
    database: &BenchDatabase,
    options: &Options,
    run: &Run<'_>,
    report: &mut Report,
) -> anyhow::Result<()> {
    let dir = database.dir();
    let token_file = dir.join("operator.token");
    let mut server = ServerProcess::mailadmin_with(
        &database.url,
        dir,
        &format!("server-{}", run.priority),
        &token_file,
        &["--hashing-priority", run.priority],
    )?;
    server.ready(Instant::now()).await?;
    let operator_token = std::fs::read_to_string(&token_file)?.trim().to_string();
    let delivery_token = create_delivery_token(&server.url(), &operator_token).await?;
    let operator = connect(&server.url(), &operator_token).await?;
    let shared = Arc::new(Shared {
        delivery: DeliveryServiceClient::new(connect(&server.url(), &delivery_token).await?),
        admin: AdminServiceClient::new(operator.clone()),
        billing: BillingServiceClient::new(operator),
        probes: load::workload(run.addresses, 1 << 20, 9),
        logins: run.logins.to_vec(),
        password: PASSWORD.into(),
        wrong_logins_in: options.wrong_logins_in,
        alias_owners: run.alias_owners.clone(),
        writes_organization: run.writes_organization,
        domain: mailadmin_server::store::SEED_DOMAIN.into(),
        next_probe: Default::default(),
        next_login: Default::default(),
        next_name: run.first_name.into(),
    });
    shared
        .billing
        .clone()
        .top_up(pb::TopUpRequest {
            organization_id: run.writes_organization,
            amount: Some(pb::Money {
                amount: "100000.00".into(),
                currency: "EUR".into(),
            }),
            idempotency_key: format!("load-initial-{}", run.priority),
            payment_reference: "load benchmark".into(),
        })
        .await?;

    for &concurrency in &options.concurrency {
        let workers = |weights: &dyn Fn(usize) -> Weights, salt: u64| {
            (0..concurrency)
                .map(|i| Mixer::new(shared.clone(), weights(i), salt + i as u64))
                .collect::<Vec<_>>()
        };
        let load_before = loadavg();
        let results = mix::side_by_side(
            vec![
                workers(&|_| Weights::DELIVERY_ONLY, 1 << 32),
                workers(&|_| options.mix, 2 << 32),
                workers(&|i| options.mix.split(concurrency, i), 3 << 32),
            ],
            options.warmup,
            options.measure,
            options.rounds,
        )
        .await;
        println!(
            "{} at {concurrency}: load average {} before, {} after",
            database.backend.name(),
            load_before,
            loadavg()
        );
        report.add(database.backend, run.priority, concurrency, &results);
    }
    server.stop().await
}

/// Gives `logins` the benchmark's password: one Argon2id hash, made here
/// as the server makes them, stored for all of them.
async fn set_password(url: &str, logins: &[(String, i64)]) -> anyhow::Result<()> {
    let hash = mailadmin_server::secrets::hash_password(PASSWORD.into())
        .await
        .map_err(|e| anyhow::anyhow!("hashing the password: {e:?}"))?;
    anyhow::ensure!(
        hash.chars()
            .all(|c| c.is_ascii_alphanumeric() || "$=,+/".contains(c)),
        "an Argon2 hash quotes safely"
    );
    let db = sea_orm::Database::connect(url).await?;
    for chunk in logins.chunks(500) {
        let ids = chunk
            .iter()
            .map(|(_, id)| id.to_string())
            .collect::<Vec<_>>()
            .join(",");
        db.execute_unprepared(&format!(
            "UPDATE users SET password_hash = '{hash}' WHERE id IN ({ids})"
        ))
        .await?;
    }
    Ok(())
}

/// The machine's 1-minute load average, to say how busy it was.
fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "?".into())
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

fn rate(per_second: f64) -> String {
    if per_second < 100.0 {
        format!("{per_second:.1}")
    } else {
        format!("{per_second:.0}")
    }
}

/// The results, as Markdown tables for the README.
#[derive(Default)]
struct Report {
    classes: Vec<String>,
    writes: Vec<String>,
    ratios: Vec<String>,
    wrong: u64,
}

impl Report {
    /// `results`: checks only, the mix picked per call, the mix on
    /// workers of their own (as `run` measures them).
    fn add(&mut self, backend: Backend, priority: &str, concurrency: usize, results: &[Measured]) {
        let database = match backend {
            Backend::Sqlite => "SQLite",
            Backend::Postgres => "PostgreSQL",
        };
        // The default priority is unnamed, as in the tables of earlier runs.
        let database = match priority {
            "low" => database.to_string(),
            other => format!("{database}, hashing {other}"),
        };
        let row =
            |table: &mut Vec<String>, workload: &str, class: &str, m: &Measured, t: &Tally| {
                let p = t.percentiles(&[0.5, 0.99, 0.999]);
                table.push(format!(
                "| {database} | {concurrency} | {workload} | {class} | {} | {} | {} | {} | {} |",
                rate(m.per_second(t)),
                ms(p[0]),
                ms(p[1]),
                ms(p[2]),
                t.error_summary(),
            ));
            };
        let p99_checks = |m: &Measured| m.of(|k| k == Kind::CheckRecipient).percentiles(&[0.99])[0];
        let alone_p99 = p99_checks(&results[0]);
        let mut ratios = format!("| {database} | {concurrency} | {} |", ms(alone_p99));
        for (m, workload) in results.iter().zip(WORKLOADS) {
            self.wrong += m.of(|_| true).wrong;
            let classes: [(&str, &dyn Fn(Kind) -> bool); 4] = [
                ("CheckRecipient", &|k| k == Kind::CheckRecipient),
                ("Authenticate", &|k| k == Kind::Authenticate),
                ("admin writes", &Kind::is_write),
                ("all", &|_| true),
            ];
            for (class, keep) in classes {
                let tally = m.of(keep);
                if tally.count() > 0 && (class != "all" || workload != WORKLOADS[0]) {
                    row(&mut self.classes, workload, class, m, &tally);
                }
            }
            if workload == WORKLOADS[0] {
                continue;
            }
            for kind in Kind::ALL.into_iter().filter(|k| k.is_write()) {
                row(
                    &mut self.writes,
                    workload,
                    kind.name(),
                    m,
                    &m.of(|k| k == kind),
                );
            }
            let p99 = p99_checks(m);
            let ratio = p99.as_secs_f64() / alone_p99.as_secs_f64().max(1e-9);
            let within = if ratio <= 2.0 { "yes" } else { "**no**" };
            ratios.push_str(&format!(" {} | {ratio:.2}× | {within} |", ms(p99)));
        }
        self.ratios.push(ratios);
    }

    fn print(&self) {
        println!(
            "\n| database | concurrency | workload | class | ops/s | p50 | p99 | p99.9 | errors |"
        );
        println!("|---|---|---|---|---|---|---|---|---|");
        for row in &self.classes {
            println!("{row}");
        }
        println!("\nthe admin writes, by RPC:");
        println!(
            "| database | concurrency | workload | RPC | ops/s | p50 | p99 | p99.9 | errors |"
        );
        println!("|---|---|---|---|---|---|---|---|---|");
        for row in &self.writes {
            println!("{row}");
        }
        println!("\nrecipient checks' p99, mixed vs alone (goal: within 2×):");
        println!(
            "| database | concurrency | p99 checks only | p99 mixed per call | ratio | within 2× \
             | p99 mixed, split workers | ratio | within 2× |"
        );
        println!("|---|---|---|---|---|---|---|---|---|");
        for row in &self.ratios {
            println!("{row}");
        }
    }
}
