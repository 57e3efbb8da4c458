//! Bulk CSV: `user import`, `alias import`, `user export` (docs/cli.md,
//! "User import").
//!
//! An import checks every row against the server's own rules first
//! (`validate_only`), refuses to start when the credit cannot pay for the
//! new accounts, then creates them a few at a time. Each row carries an
//! idempotency key derived from the organization and the row's username
//! and address, so running the same file again after a crash or Ctrl-C
//! creates nothing twice and charges nothing twice. Rows that fail are
//! written to a report (row, column, reason); the others land.

use crate::Ctx;
use crate::accounts::{PlanArg, list_users};
use crate::fail::{Fail, field_violations};
use clap::ValueEnum;
use indicatif::{ProgressBar, ProgressStyle};
use mailadmin_client::pb;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tokio::task::JoinSet;
use tonic::Code;

/// The user CSV's columns; `aliases` is optional (separated by `;`).
const USER_COLUMNS: [&str; 7] = [
    "username",
    "first_name",
    "last_name",
    "address",
    "plan",
    "password",
    "aliases",
];

#[derive(clap::Args, Debug)]
pub struct ImportArgs {
    /// The CSV file (header row required; docs/cli.md lists the columns).
    file: PathBuf,
    /// The organization (operators; an admin's own by default).
    #[arg(long, default_value_t = 0)]
    org: i64,
    /// Check every row against the server's rules and the credit; create nothing.
    #[arg(long)]
    dry_run: bool,
    /// Where to write the failed rows (row, column, reason).
    #[arg(long)]
    report: Option<PathBuf>,
    /// Rows sent to the server at once.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
    concurrency: u16,
}

#[derive(clap::Args, Debug)]
pub struct AliasImportArgs {
    /// The CSV file, columns `username,alias` (header row required).
    file: PathBuf,
    #[arg(long, default_value_t = 0)]
    org: i64,
    /// Check every row; add nothing.
    #[arg(long)]
    dry_run: bool,
    /// Where to write the failed rows (row, column, reason).
    #[arg(long)]
    report: Option<PathBuf>,
}

/// A row that could not land, as the report names it.
#[derive(Debug, Clone)]
struct Failure {
    /// The spreadsheet row: the header is row 1.
    row: usize,
    column: String,
    reason: String,
}

/// One account to create.
#[derive(Debug, Clone)]
struct UserRow {
    row: usize,
    account: pb::NewAccount,
    aliases: Vec<String>,
    request_id: String,
}

/// What the server said of a row.
enum Outcome {
    Created { charged_cents: i64 },
    AlreadyThere,
    Failed(Failure),
}

pub async fn users(ctx: &Ctx, args: ImportArgs) -> Result<(), Fail> {
    let started = Instant::now();
    let (rows, mut failures) = read_users(&args.file, args.org)?;
    let total = rows.len() + failures.len();

    // Every row against the server's rules, the cost of the new ones.
    let checked = run_rows(ctx, args.org, &rows, args.concurrency, true, "checking").await?;
    let mut to_create = Vec::new();
    let (mut cost, mut already) = (0i64, 0usize);
    for (row, outcome) in rows.into_iter().zip(checked.outcomes) {
        match outcome {
            Outcome::Created { charged_cents } => {
                cost += charged_cents;
                to_create.push(row);
            }
            Outcome::AlreadyThere => already += 1,
            Outcome::Failed(failure) => failures.push(failure),
        }
    }
    let balance = balance_cents(ctx, args.org).await?;
    if cost > balance {
        write_report(&report_path(&args.file, &args.report), &mut failures)?;
        return Err(Fail::Rejected(format!(
            "the {} new accounts cost {} EUR and the credit is {} EUR: {} EUR missing; \
             top up first (nothing was created)",
            to_create.len(),
            euros(cost),
            euros(balance),
            euros(cost - balance)
        )));
    }
    if args.dry_run || checked.interrupted {
        finish(
            &args.file,
            &args.report,
            &mut failures,
            Summary {
                total,
                created: 0,
                would_create: to_create.len(),
                already,
                cost,
                dry_run: true,
                interrupted: checked.interrupted,
                elapsed: started.elapsed(),
            },
        )?;
        return if checked.interrupted {
            Err(interrupted())
        } else if failures.is_empty() {
            Ok(())
        } else {
            Err(Fail::Rejected(format!(
                "{} rows would fail",
                failures.len()
            )))
        };
    }

    let done = run_rows(
        ctx,
        args.org,
        &to_create,
        args.concurrency,
        false,
        "importing",
    )
    .await?;
    let (mut created, mut charged) = (0usize, 0i64);
    for outcome in done.outcomes {
        match outcome {
            Outcome::Created { charged_cents } => {
                created += 1;
                charged += charged_cents;
            }
            Outcome::AlreadyThere => already += 1,
            Outcome::Failed(failure) => failures.push(failure),
        }
    }
    finish(
        &args.file,
        &args.report,
        &mut failures,
        Summary {
            total,
            created,
            would_create: 0,
            already,
            cost: charged,
            dry_run: false,
            interrupted: done.interrupted,
            elapsed: started.elapsed(),
        },
    )?;
    if done.interrupted {
        Err(interrupted())
    } else if failures.is_empty() {
        Ok(())
    } else {
        Err(Fail::Rejected(format!(
            "{} rows failed; the others were imported",
            failures.len()
        )))
    }
}

fn interrupted() -> Fail {
    Fail::Interrupted(
        "interrupted: run the same command again to finish (rows already imported are \
         skipped, nothing is charged twice)"
            .into(),
    )
}

struct Ran {
    /// One per row sent, in row order; rows never sent (interrupted) are missing.
    outcomes: Vec<Outcome>,
    interrupted: bool,
}

/// Sends `rows` (`validate_only` or for real), `concurrency` at a time,
/// with progress on stderr. Ctrl-C stops sending; the rows in flight finish.
async fn run_rows(
    ctx: &Ctx,
    organization_id: i64,
    rows: &[UserRow],
    concurrency: u16,
    validate_only: bool,
    what: &'static str,
) -> Result<Ran, Fail> {
    let stop = Arc::new(AtomicBool::new(false));
    let watcher = {
        let stop = stop.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                stop.store(true, Ordering::SeqCst);
            }
        })
    };
    let progress = Progress::new(rows.len() as u64, what);
    let mut outcomes: Vec<Option<Outcome>> = (0..rows.len()).map(|_| None).collect();
    let mut tasks = JoinSet::new();
    let mut next = 0;
    let mut unreachable = None;
    loop {
        while tasks.len() < concurrency as usize
            && next < rows.len()
            && !stop.load(Ordering::SeqCst)
            && unreachable.is_none()
        {
            let row = rows[next].clone();
            let mut admin = ctx.conn.admin();
            let index = next;
            tasks.spawn(async move {
                let answer = admin
                    .create_user(pb::CreateUserRequest {
                        organization_id,
                        account: Some(row.account.clone()),
                        request_id: row.request_id.clone(),
                        validate_only,
                        aliases: row.aliases.clone(),
                    })
                    .await;
                (index, outcome(&row, answer, validate_only))
            });
            next += 1;
        }
        let Some(joined) = tasks.join_next().await else {
            break;
        };
        let (index, outcome) = joined.map_err(|e| Fail::Local(format!("a row's task: {e}")))?;
        match outcome {
            Ok(outcome) => outcomes[index] = Some(outcome),
            Err(fail) => unreachable = Some(fail),
        }
        progress.inc();
    }
    watcher.abort();
    progress.finish();
    if let Some(fail) = unreachable {
        return Err(fail);
    }
    let interrupted = stop.load(Ordering::SeqCst) && next < rows.len();
    Ok(Ran {
        outcomes: outcomes.into_iter().flatten().collect(),
        interrupted,
    })
}

/// The server's answer for a row. `Err`: the server did not answer, which
/// stops the import (re-running it picks up where it stopped).
fn outcome(
    row: &UserRow,
    answer: Result<tonic::Response<pb::CreateUserResponse>, tonic::Status>,
    validating: bool,
) -> Result<Outcome, Fail> {
    match answer {
        Ok(answer) => {
            let answer = answer.into_inner();
            if answer.already_created {
                return Ok(Outcome::AlreadyThere);
            }
            let charged = answer.charged.map(|m| m.amount).unwrap_or_default();
            Ok(Outcome::Created {
                charged_cents: cents(&charged).unwrap_or(0),
            })
        }
        Err(status) => {
            // Validation refused for lack of credit: the row is fine, and
            // its cost counts towards the import's own credit check.
            if validating && let Some(needed) = credit_needed(&status) {
                return Ok(Outcome::Created {
                    charged_cents: needed,
                });
            }
            match Fail::from(status) {
                Fail::Refused(status) => Ok(Outcome::Failed(failure_of(row, &status))),
                other => Err(other),
            }
        }
    }
}

/// What a refusal for lack of credit says the row costs, in cents.
fn credit_needed(status: &tonic::Status) -> Option<i64> {
    use tonic_types::StatusExt;
    let info = status.get_details_error_info()?;
    (info.reason == "INSUFFICIENT_CREDIT")
        .then(|| info.metadata.get("needed").and_then(|n| cents(n)))
        .flatten()
}

/// The row, column and reason a refusal names.
fn failure_of(row: &UserRow, status: &tonic::Status) -> Failure {
    let violations = field_violations(status);
    if let Some((field, reason)) = violations.first() {
        return Failure {
            row: row.row,
            column: column_of(field).to_string(),
            reason: reason.clone(),
        };
    }
    let message = status.message().to_string();
    let column = match status.code() {
        Code::AlreadyExists if message.starts_with("username") => "username",
        Code::AlreadyExists if message.contains(&row.account.primary_address) => "address",
        Code::AlreadyExists if message.starts_with("address") => "aliases",
        _ => "",
    };
    Failure {
        row: row.row,
        column: column.to_string(),
        reason: message,
    }
}

/// The CSV column a request field comes from.
fn column_of(field: &str) -> &str {
    match field {
        "account.username" => "username",
        "account.first_name" => "first_name",
        "account.last_name" => "last_name",
        "account.primary_address" => "address",
        "account.password" => "password",
        "account.plan" => "plan",
        f if f.starts_with("aliases") => "aliases",
        _ => "",
    }
}

/// Parses the file: rows to send, and rows refused before any call (an
/// unknown plan, a duplicate within the file). A missing header or
/// column, or an unknown column, is a usage error.
fn read_users(file: &Path, organization_id: i64) -> Result<(Vec<UserRow>, Vec<Failure>), Fail> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .flexible(false)
        .from_path(file)
        .map_err(|e| Fail::Usage(format!("{}: {e}", file.display())))?;
    let headers: Vec<String> = reader
        .headers()
        .map_err(|e| Fail::Usage(format!("{}: {e}", file.display())))?
        .iter()
        .map(|h| h.to_ascii_lowercase())
        .collect();
    let unknown: Vec<&String> = headers
        .iter()
        .filter(|h| !USER_COLUMNS.contains(&h.as_str()))
        .collect();
    if !unknown.is_empty() {
        return Err(Fail::Usage(format!(
            "{}: unknown columns {unknown:?}; the columns are {USER_COLUMNS:?}",
            file.display()
        )));
    }
    let position = |name: &str| headers.iter().position(|h| h == name);
    let mut columns = HashMap::new();
    for name in &USER_COLUMNS[..6] {
        let index = position(name).ok_or_else(|| {
            Fail::Usage(format!(
                "{}: the header has no {name} column (the first row must name the columns)",
                file.display()
            ))
        })?;
        columns.insert(*name, index);
    }
    let aliases_column = position("aliases");
    let (mut rows, mut failures) = (Vec::new(), Vec::new());
    let mut seen: HashMap<String, usize> = HashMap::new();
    for (n, record) in reader.records().enumerate() {
        let row = n + 2;
        let record = record.map_err(|e| Fail::Usage(format!("{}: {e}", file.display())))?;
        let field = |name: &str| record.get(columns[name]).unwrap_or_default().to_string();
        let fail = |column: &str, reason: String| Failure {
            row,
            column: column.to_string(),
            reason,
        };
        let plan = match PlanArg::from_str(&field("plan"), true) {
            Ok(plan) => plan,
            Err(_) => {
                failures.push(fail(
                    "plan",
                    format!("unknown plan {:?}: free, entry or pro", field("plan")),
                ));
                continue;
            }
        };
        let aliases: Vec<String> = aliases_column
            .and_then(|i| record.get(i))
            .unwrap_or_default()
            .split(';')
            .map(str::trim)
            .filter(|a| !a.is_empty())
            .map(str::to_string)
            .collect();
        let mut duplicate = None;
        for (column, value) in std::iter::once(("username", field("username")))
            .chain(std::iter::once(("address", field("address"))))
            .chain(aliases.iter().map(|a| ("aliases", a.clone())))
        {
            let key = value.to_lowercase();
            if let Some(first) = seen.get(&key) {
                duplicate = Some(fail(column, format!("{value} is also in row {first}")));
                break;
            }
        }
        if let Some(duplicate) = duplicate {
            failures.push(duplicate);
            continue;
        }
        for value in [field("username"), field("address")]
            .into_iter()
            .chain(aliases.iter().cloned())
        {
            seen.insert(value.to_lowercase(), row);
        }
        let account = pb::NewAccount {
            last_name: field("last_name"),
            first_name: field("first_name"),
            username: field("username"),
            primary_address: field("address"),
            password: field("password"),
            plan: plan.proto() as i32,
        };
        let request_id = request_id(organization_id, &account);
        rows.push(UserRow {
            row,
            account,
            aliases,
            request_id,
        });
    }
    Ok((rows, failures))
}

/// The row's idempotency key: the organization, username and address,
/// hashed (a re-run of the file, even edited, maps each account to its key).
fn request_id(organization_id: i64, account: &pb::NewAccount) -> String {
    let digest = Sha256::new()
        .chain_update(organization_id.to_be_bytes())
        .chain_update(account.username.trim().to_lowercase().as_bytes())
        .chain_update([0])
        .chain_update(account.primary_address.trim().to_lowercase().as_bytes())
        .finalize();
    let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    format!("import-{hex}")
}

async fn balance_cents(ctx: &Ctx, org: i64) -> Result<i64, Fail> {
    let balance = ctx
        .conn
        .billing()
        .get_balance(pb::GetBalanceRequest {
            organization_id: org,
        })
        .await?
        .into_inner()
        .balance
        .unwrap_or_default();
    cents(&balance.amount).ok_or_else(|| {
        Fail::Local(format!(
            "the server's balance {:?} is not an amount",
            balance.amount
        ))
    })
}

/// `"12.50"` → 1250 (exact; no float).
fn cents(amount: &str) -> Option<i64> {
    let (negative, digits) = match amount.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, amount),
    };
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, "0"));
    let fraction = format!("{fraction:0<2}");
    if fraction.len() != 2 {
        return None;
    }
    let value = whole.parse::<i64>().ok()? * 100 + fraction.parse::<i64>().ok()?;
    Some(if negative { -value } else { value })
}

fn euros(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    format!("{sign}{}.{:02}", cents.abs() / 100, cents.abs() % 100)
}

struct Summary {
    total: usize,
    created: usize,
    would_create: usize,
    already: usize,
    cost: i64,
    dry_run: bool,
    interrupted: bool,
    elapsed: Duration,
}

/// The report file (when rows failed) and the summary on stderr.
fn finish(
    file: &Path,
    report: &Option<PathBuf>,
    failures: &mut [Failure],
    summary: Summary,
) -> Result<(), Fail> {
    let path = report_path(file, report);
    write_report(&path, failures)?;
    let seconds = summary.elapsed.as_secs_f64().max(0.001);
    if summary.dry_run {
        eprintln!(
            "{} rows: {} would be created ({} EUR), {} already imported, {} would fail{}",
            summary.total,
            summary.would_create,
            euros(summary.cost),
            summary.already,
            failures.len(),
            if summary.interrupted {
                " (interrupted)"
            } else {
                ""
            }
        );
    } else {
        eprintln!(
            "{} rows: {} created ({} EUR charged), {} already imported, {} failed, in {:.1} s \
             ({:.0} accounts/s){}",
            summary.total,
            summary.created,
            euros(summary.cost),
            summary.already,
            failures.len(),
            seconds,
            summary.created as f64 / seconds,
            if summary.interrupted {
                " (interrupted)"
            } else {
                ""
            }
        );
    }
    if !failures.is_empty() {
        eprintln!("failed rows: {}", path.display());
    }
    Ok(())
}

fn report_path(file: &Path, report: &Option<PathBuf>) -> PathBuf {
    report.clone().unwrap_or_else(|| {
        let name = file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "import".into());
        PathBuf::from(format!("{name}.report.csv"))
    })
}

/// `row,column,reason`, by row; nothing written when no row failed (an
/// earlier report of the same file is removed).
fn write_report(path: &Path, failures: &mut [Failure]) -> Result<(), Fail> {
    if failures.is_empty() {
        let _ = std::fs::remove_file(path);
        return Ok(());
    }
    failures.sort_by_key(|f| f.row);
    let mut writer = csv::Writer::from_path(path)
        .map_err(|e| Fail::Local(format!("{}: {e}", path.display())))?;
    let write = |writer: &mut csv::Writer<std::fs::File>| -> csv::Result<()> {
        writer.write_record(["row", "column", "reason"])?;
        for failure in failures.iter() {
            writer.write_record([
                failure.row.to_string().as_str(),
                &failure.column,
                &failure.reason,
            ])?;
        }
        writer.flush()?;
        Ok(())
    };
    write(&mut writer).map_err(|e| Fail::Local(format!("{}: {e}", path.display())))
}

/// A bar with rate and ETA on a terminal; a line every 2 s otherwise.
struct Progress {
    bar: Option<ProgressBar>,
    plain: Option<std::sync::Mutex<(u64, Instant)>>,
    total: u64,
    what: &'static str,
    started: Instant,
}

impl Progress {
    fn new(total: u64, what: &'static str) -> Progress {
        let terminal = std::io::stderr().is_terminal();
        let bar = terminal.then(|| {
            let bar = ProgressBar::new(total);
            bar.set_style(
                ProgressStyle::with_template(
                    "{msg:10} {bar:40} {pos}/{len} rows, {per_sec}, ETA {eta}",
                )
                .expect("a valid template"),
            );
            bar.set_message(what);
            bar
        });
        Progress {
            plain: (!terminal).then(|| std::sync::Mutex::new((0, Instant::now()))),
            bar,
            total,
            what,
            started: Instant::now(),
        }
    }

    fn inc(&self) {
        if let Some(bar) = &self.bar {
            bar.inc(1);
        }
        if let Some(plain) = &self.plain {
            let mut state = plain.lock().expect("progress lock");
            state.0 += 1;
            if state.1.elapsed() >= Duration::from_secs(2) {
                state.1 = Instant::now();
                let rate = state.0 as f64 / self.started.elapsed().as_secs_f64().max(0.001);
                eprintln!(
                    "{} {}/{} rows ({rate:.0}/s)",
                    self.what, state.0, self.total
                );
            }
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// `alias import`: one alias per row (`username,alias`), added to that
/// account; an alias the account already has counts as done.
pub async fn aliases(ctx: &Ctx, args: AliasImportArgs) -> Result<(), Fail> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_path(&args.file)
        .map_err(|e| Fail::Usage(format!("{}: {e}", args.file.display())))?;
    let headers: Vec<String> = reader
        .headers()
        .map_err(|e| Fail::Usage(format!("{}: {e}", args.file.display())))?
        .iter()
        .map(|h| h.to_ascii_lowercase())
        .collect();
    let (Some(user_column), Some(alias_column)) = (
        headers.iter().position(|h| h == "username"),
        headers.iter().position(|h| h == "alias"),
    ) else {
        return Err(Fail::Usage(format!(
            "{}: the header must name the columns username and alias",
            args.file.display()
        )));
    };
    let ids: HashMap<String, i64> = list_users(ctx, args.org, None, None, String::new(), None)
        .await?
        .into_iter()
        .map(|u| (u.username, u.id))
        .collect();
    let mut admin = ctx.conn.admin();
    let mut failures = Vec::new();
    let (mut added, mut already, mut total) = (0usize, 0usize, 0usize);
    let started = Instant::now();
    for (n, record) in reader.records().enumerate() {
        let row = n + 2;
        total += 1;
        let record = record.map_err(|e| Fail::Usage(format!("{}: {e}", args.file.display())))?;
        let username = record.get(user_column).unwrap_or_default().to_lowercase();
        let address = record.get(alias_column).unwrap_or_default().to_string();
        let Some(&user_id) = ids.get(&username) else {
            failures.push(Failure {
                row,
                column: "username".into(),
                reason: format!("no account {username} in the organization"),
            });
            continue;
        };
        let answer = admin
            .add_alias(pb::AddAliasRequest {
                user_id,
                address: address.clone(),
                validate_only: args.dry_run,
            })
            .await;
        match answer {
            Ok(_) => added += 1,
            Err(status) if status.code() == Code::AlreadyExists => {
                let owner = admin
                    .resolve_address(pb::ResolveAddressRequest {
                        address: address.clone(),
                    })
                    .await?
                    .into_inner()
                    .user_id;
                if owner == user_id {
                    already += 1;
                } else {
                    failures.push(Failure {
                        row,
                        column: "alias".into(),
                        reason: status.message().to_string(),
                    });
                }
            }
            Err(status) => match Fail::from(status) {
                Fail::Refused(status) => failures.push(Failure {
                    row,
                    column: if field_violations(&status).is_empty() {
                        String::new()
                    } else {
                        "alias".into()
                    },
                    reason: field_violations(&status)
                        .first()
                        .map(|(_, reason)| reason.clone())
                        .unwrap_or_else(|| status.message().to_string()),
                }),
                other => return Err(other),
            },
        }
    }
    let path = report_path(&args.file, &args.report);
    write_report(&path, &mut failures)?;
    let verb = if args.dry_run {
        "would be added"
    } else {
        "added"
    };
    eprintln!(
        "{total} rows: {added} {verb}, {already} already there, {} failed, in {:.1} s",
        failures.len(),
        started.elapsed().as_secs_f64()
    );
    if failures.is_empty() {
        Ok(())
    } else {
        eprintln!("failed rows: {}", path.display());
        Err(Fail::Rejected(format!("{} rows failed", failures.len())))
    }
}

/// `user export`: the organization's accounts in the import's columns
/// (without passwords), deleted accounts left out.
pub async fn export_users(ctx: &Ctx, org: i64, file: Option<PathBuf>) -> Result<(), Fail> {
    let users = list_users(ctx, org, None, None, String::new(), None).await?;
    let mut admin = ctx.conn.admin();
    let out: Box<dyn std::io::Write> = match &file {
        Some(path) => Box::new(
            std::fs::File::create(path)
                .map_err(|e| Fail::Local(format!("{}: {e}", path.display())))?,
        ),
        None => Box::new(std::io::stdout()),
    };
    let mut writer = csv::Writer::from_writer(out);
    let local = |e: csv::Error| Fail::Local(format!("writing the CSV: {e}"));
    writer
        .write_record([
            "username",
            "first_name",
            "last_name",
            "address",
            "plan",
            "aliases",
        ])
        .map_err(local)?;
    for user in users {
        let aliases: Vec<String> = admin
            .list_aliases(pb::ListAliasesRequest { user_id: user.id })
            .await?
            .into_inner()
            .addresses
            .into_iter()
            .filter(|a| a.kind() == pb::AddressKind::Alias)
            .map(|a| a.address)
            .collect();
        let plan = crate::output::enum_name(user.plan().as_str_name(), "PLAN_");
        writer
            .write_record([
                user.username.as_str(),
                &user.first_name,
                &user.last_name,
                &user.primary_address,
                &plan,
                &aliases.join(";"),
            ])
            .map_err(local)?;
    }
    writer
        .flush()
        .map_err(|e| Fail::Local(format!("writing the CSV: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_are_exact_cents() {
        assert_eq!(cents("12.50"), Some(1250));
        assert_eq!(cents("0.05"), Some(5));
        assert_eq!(cents("-3.1"), Some(-310));
        assert_eq!(cents("7"), Some(700));
        assert_eq!(cents("1.234"), None);
        assert_eq!(euros(-310), "-3.10");
    }

    #[test]
    fn keys_follow_the_account_not_the_row() {
        let account = |username: &str| pb::NewAccount {
            username: username.into(),
            primary_address: format!("{}@Example.com ", username.trim()),
            ..Default::default()
        };
        assert_eq!(request_id(1, &account("a")), request_id(1, &account(" A ")));
        assert_ne!(request_id(1, &account("a")), request_id(2, &account("a")));
        assert_ne!(request_id(1, &account("a")), request_id(1, &account("b")));
    }
}
