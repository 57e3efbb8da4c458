//! Import benchmark: `mailadmin user import` of a CSV file against the
//! real `mailadmin-server`, side by side with the same accounts created by
//! plain `CreateUser` calls (the same 4 in flight), on SQLite and
//! PostgreSQL.
//!
//! ```sh
//! MAILADMIN_BENCH_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/postgres \
//!   cargo bench --bench import
//! cargo bench --bench import -- --rows 1000 --backend sqlite
//! ```
//!
//! Both contenders create Entry accounts (one charge each) in organizations
//! of their own on one server; every account costs one Argon2id hash on
//! the server, which is most of the time. The import adds its checking
//! pass (`validate_only` for every row, no hash) and its credit check; the
//! ratio says what they cost.

#[path = "common/mod.rs"]
mod common;
#[path = "delivery/process.rs"]
#[allow(dead_code)]
mod process;

use common::{Backend, BenchDatabase, build_client_binaries};
use mailadmin_client::pb;
use mailadmin_client::pb::admin_service_client::AdminServiceClient;
use mailadmin_client::pb::billing_service_client::BillingServiceClient;
use process::ServerProcess;
use std::path::Path;
use std::time::Instant;

const CONCURRENCY: usize = 4;

struct Options {
    rows: usize,
    backends: Vec<Backend>,
}

fn options() -> Options {
    let mut options = Options {
        rows: 10_000,
        backends: vec![Backend::Sqlite, Backend::Postgres],
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--rows" => options.rows = args.next().and_then(|v| v.parse().ok()).unwrap_or(10_000),
            "--backend" => options.backends = Backend::parse_list(&args.next().unwrap_or_default()),
            _ => {} // cargo bench passes --bench
        }
    }
    options
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let options = options();
    let bins = build_client_binaries().await?;
    println!(
        "import benchmark: {} Entry accounts per contender, {CONCURRENCY} in flight",
        options.rows
    );
    println!(
        "{:<10} {:>16} {:>18} {:>8}",
        "backend", "import acc/s", "CreateUser acc/s", "ratio"
    );
    for backend in options.backends {
        let Some(database) = BenchDatabase::create(backend).await? else {
            println!(
                "{:<10} skipped: set MAILADMIN_BENCH_POSTGRES_URL",
                backend.name()
            );
            continue;
        };
        let result = measure(&database, &bins.join("mailadmin"), options.rows).await;
        database.drop_database().await?;
        let (import, direct) = result?;
        println!(
            "{:<10} {:>16.1} {:>18.1} {:>7.2}×",
            backend.name(),
            import,
            direct,
            import / direct
        );
    }
    Ok(())
}

/// Accounts per second: (the CLI import, plain CreateUser calls).
async fn measure(database: &BenchDatabase, cli: &Path, rows: usize) -> anyhow::Result<(f64, f64)> {
    let dir = database.dir();
    let token_file = dir.join("operator.token");
    let mut server = ServerProcess::mailadmin(&database.url, dir, "server", &token_file)?;
    server.ready(Instant::now()).await?;
    let token = std::fs::read_to_string(&token_file)?.trim().to_string();
    let authed = common::connect(&server.url(), &token).await?;
    let mut admin = AdminServiceClient::new(authed.clone());
    let mut billing = BillingServiceClient::new(authed);

    // Room and credit for every account.
    let mut plans = billing
        .get_plan_catalog(pb::GetPlanCatalogRequest {})
        .await?
        .into_inner()
        .plans;
    for terms in &mut plans {
        terms.max_accounts = (rows as i32 + 10).max(terms.max_accounts);
    }
    billing
        .update_plan_catalog(pb::UpdatePlanCatalogRequest { plans })
        .await?;
    let mut organizations = Vec::new();
    for name in ["imported", "direct"] {
        let created = admin
            .create_organization(pb::CreateOrganizationRequest {
                name: name.into(),
                master: Some(account(&format!("{name}-admin"), pb::Plan::Pro)),
            })
            .await?
            .into_inner();
        let id = created.organization.expect("organization").id;
        billing
            .top_up(pb::TopUpRequest {
                organization_id: id,
                amount: Some(pb::Money {
                    amount: format!("{}.00", rows * 10),
                    currency: "EUR".into(),
                }),
                idempotency_key: format!("bench-{name}"),
                payment_reference: "bench".into(),
            })
            .await?;
        organizations.push(id);
    }

    // (a) the CLI.
    let csv = dir.join("accounts.csv");
    let mut text = String::from("username,first_name,last_name,address,plan,password\n");
    for i in 0..rows {
        let a = account(&format!("imp{i:06}"), pb::Plan::Entry);
        text.push_str(&format!(
            "{},{},{},{},entry,{}\n",
            a.username, a.first_name, a.last_name, a.primary_address, a.password
        ));
    }
    std::fs::write(&csv, text)?;
    let started = Instant::now();
    let status = tokio::process::Command::new(cli)
        .args(["user", "import"])
        .arg(&csv)
        .args(["--org", &organizations[0].to_string()])
        .args(["--concurrency", &CONCURRENCY.to_string()])
        .env("MAILADMIN_URL", format!("http://{}", server.addr))
        .env("MAILADMIN_TOKEN", &token)
        .current_dir(dir)
        .status()
        .await?;
    let import_time = started.elapsed();
    anyhow::ensure!(status.success(), "the import failed: {status}");

    // (b) CreateUser, the same accounts, as many in flight.
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    let mut next = 0;
    loop {
        while tasks.len() < CONCURRENCY && next < rows {
            let mut admin = admin.clone();
            let organization_id = organizations[1];
            let i = next;
            tasks.spawn(async move {
                admin
                    .create_user(pb::CreateUserRequest {
                        organization_id,
                        account: Some(account(&format!("dir{i:06}"), pb::Plan::Entry)),
                        request_id: format!("bench-{i}"),
                        ..Default::default()
                    })
                    .await
                    .map(|_| ())
            });
            next += 1;
        }
        match tasks.join_next().await {
            Some(done) => done??,
            None => break,
        }
    }
    let direct_time = started.elapsed();
    server.stop().await?;
    Ok((
        rows as f64 / import_time.as_secs_f64(),
        rows as f64 / direct_time.as_secs_f64(),
    ))
}

fn account(username: &str, plan: pb::Plan) -> pb::NewAccount {
    pb::NewAccount {
        last_name: "Bench".into(),
        first_name: "Account".into(),
        username: username.into(),
        primary_address: format!("{username}@mailadmin.example"),
        password: format!("a long password for {username}"),
        plan: plan as i32,
    }
}
