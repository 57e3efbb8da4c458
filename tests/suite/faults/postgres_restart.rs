//! The database goes away under load and comes back (docs/rules.md,
//! "Status mapping"; "Freshness"). The test runs a PostgreSQL of its own
//! (`initdb` in a temp directory, on a free loopback port, as the
//! `postgres` user), so the shared one and other tests are untouched. The
//! server binary runs on it under a load of payments (top-ups with
//! idempotency keys), account creations (with request ids) and recipient
//! checks; PostgreSQL is stopped at once (`pg_ctl stop -m immediate`, as a
//! crash would), and later started again. What it proves:
//!
//! - while PostgreSQL is down, every write answers `UNAVAILABLE` ("the
//!   database did not answer") within its deadline — never `INTERNAL`, never
//!   a hang — and recipient checks keep answering from the snapshot;
//! - once it is back, the same server process writes again (no restart),
//!   and its snapshot follows the database again: a change another replica
//!   makes after the restart is visible to its recipient checks;
//! - no money is lost or doubled: every key the clients sent (retried until
//!   acknowledged) is in the ledger exactly once, every account created
//!   once, and the balance is the sum of the ledger.
//!
//! Without a PostgreSQL installation (`/usr/lib/postgresql/*/bin/initdb`)
//! the test is skipped; under `CI` that is a failure.

use super::*;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use tonic::Code;

/// How long a client gives each call: a call still unanswered after that
/// is a hang, which the test refuses.
const CALL_TIMEOUT: Duration = Duration::from_secs(20);
/// How long PostgreSQL stays down while the load runs.
const OUTAGE: Duration = Duration::from_secs(3);
const ENTRY_CENTS: i64 = 250;

/// A PostgreSQL cluster of the test's own, in a temp directory, stopped
/// (immediately) when dropped.
struct PrivatePostgres {
    bin: PathBuf,
    dir: tempfile::TempDir,
    port: u16,
}

impl PrivatePostgres {
    /// The newest `/usr/lib/postgresql/<version>/bin` holding `initdb`.
    fn find_bin() -> Option<PathBuf> {
        let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
            .ok()?
            .filter_map(|entry| {
                let entry = entry.ok()?;
                let version = entry.file_name().to_str()?.parse::<u32>().ok()?;
                let bin = entry.path().join("bin");
                bin.join("initdb").exists().then_some((version, bin))
            })
            .collect();
        versions.sort();
        versions.pop().map(|(_, bin)| bin)
    }

    /// A new cluster, started. `None`: no PostgreSQL installed (a failure
    /// under CI).
    async fn start() -> Option<PrivatePostgres> {
        let Some(bin) = Self::find_bin() else {
            if std::env::var_os("CI").is_some_and(|v| !v.is_empty()) {
                panic!(
                    "CI must run the PostgreSQL restart test: no initdb under \
                     /usr/lib/postgresql/<version>/bin (install postgresql)"
                );
            }
            eprintln!("skipping: no PostgreSQL installation (/usr/lib/postgresql/*/bin/initdb)");
            return None;
        };
        let dir = tempfile::tempdir().expect("tempdir");
        // PostgreSQL refuses to run as root: the cluster belongs to `postgres`.
        if is_root() {
            let status = std::process::Command::new("chown")
                .args(["postgres:postgres"])
                .arg(dir.path())
                .status()
                .expect("running chown");
            assert!(status.success(), "chown postgres {}", dir.path().display());
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let pg = PrivatePostgres { bin, dir, port };
        pg.run(
            "initdb",
            &[
                "-D",
                &pg.data().display().to_string(),
                "-U",
                "postgres",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--no-sync",
            ],
        )
        .await;
        pg.start_again().await;
        Some(pg)
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// `postgres://postgres@127.0.0.1:PORT/<database>`.
    fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    /// Runs one of PostgreSQL's programs as `postgres`; panics with its
    /// output when it fails.
    async fn run(&self, program: &str, args: &[&str]) {
        let path = self.bin.join(program);
        let mut command = if is_root() {
            let mut command = tokio::process::Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(&path);
            command
        } else {
            tokio::process::Command::new(&path)
        };
        let output = command
            .args(args)
            .current_dir(self.dir.path())
            .stdin(std::process::Stdio::null())
            .output()
            .await
            .unwrap_or_else(|e| panic!("running {}: {e}", path.display()));
        assert!(
            output.status.success(),
            "{program} {args:?} failed ({}):\n{}\n{}\nserver log:\n{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr),
            std::fs::read_to_string(self.dir.path().join("postgres.log")).unwrap_or_default()
        );
    }

    /// `pg_ctl start`, waiting until it accepts connections.
    async fn start_again(&self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c max_connections=100",
            self.port,
            self.dir.path().display()
        );
        self.run(
            "pg_ctl",
            &[
                "-D",
                &self.data().display().to_string(),
                "-l",
                &self.dir.path().join("postgres.log").display().to_string(),
                "-o",
                &options,
                "-w",
                "-t",
                "60",
                "start",
            ],
        )
        .await;
    }

    /// `pg_ctl stop -m immediate`: every session is cut without a word, as
    /// in a crash; the next start recovers from the write-ahead log.
    async fn stop_immediately(&self) {
        self.run(
            "pg_ctl",
            &[
                "-D",
                &self.data().display().to_string(),
                "-m",
                "immediate",
                "-w",
                "-t",
                "60",
                "stop",
            ],
        )
        .await;
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let pg_ctl = self.bin.join("pg_ctl");
        let data = self.data();
        let mut command = if is_root() {
            let mut command = std::process::Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(&pg_ctl);
            command
        } else {
            std::process::Command::new(&pg_ctl)
        };
        let _ = command
            .arg("-D")
            .arg(&data)
            .args(["-m", "immediate", "-w", "stop"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
    }
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// One call of the load and how it was answered.
#[derive(Debug, Clone)]
struct Call {
    /// The idempotency key or request id.
    key: String,
    cents: i64,
    sent: Instant,
    answered: Instant,
    /// `Ok`, or the status code and message.
    outcome: Result<(), (Code, String)>,
}

type Log = Arc<Mutex<Vec<Call>>>;

fn record(log: &Log, key: String, cents: i64, sent: Instant, outcome: Result<(), tonic::Status>) {
    log.lock().unwrap().push(Call {
        key,
        cents,
        sent,
        answered: Instant::now(),
        outcome: outcome.map_err(|s| (s.code(), s.message().to_string())),
    });
}

/// Top-ups, each with a new key, until `stop`.
async fn pay(billing: BillingClient, org: i64, writer: usize, stop: Arc<AtomicBool>, log: Log) {
    for i in 0..10_000 {
        if stop.load(Ordering::SeqCst) {
            return;
        }
        let key = format!("load-{writer}-{i}");
        let cents = 100 + 10 * writer as i64 + (i % 7);
        let sent = Instant::now();
        let answer = billing
            .clone()
            .top_up(top_up_request(org, cents, &key, CALL_TIMEOUT))
            .await;
        record(&log, key, cents, sent, answer.map(|_| ()));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Entry accounts, each with its own request id, until `stop`.
async fn create(admin: Client, org: i64, stop: Arc<AtomicBool>, log: Log) {
    // The master's Pro plan allows 100 accounts.
    for i in 0..60 {
        if stop.load(Ordering::SeqCst) {
            return;
        }
        let username = format!("load-user-{i}");
        let sent = Instant::now();
        let answer = admin
            .clone()
            .create_user(create_request(org, &username))
            .await;
        record(&log, username, ENTRY_CENTS, sent, answer.map(|_| ()));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn create_request(org: i64, username: &str) -> tonic::Request<pb::CreateUserRequest> {
    let mut request = tonic::Request::new(pb::CreateUserRequest {
        organization_id: org,
        account: Some(new_account(username, Plan::Entry)),
        request_id: format!("create-{username}"),
        ..Default::default()
    });
    request.set_timeout(CALL_TIMEOUT);
    request
}

/// Recipient checks of `address` until `stop`.
async fn check(delivery: DeliveryPbClient, address: String, stop: Arc<AtomicBool>, log: Log) {
    for _ in 0..100_000 {
        if stop.load(Ordering::SeqCst) {
            return;
        }
        let sent = Instant::now();
        let answer = match verdict(&delivery, &address, Duration::from_secs(5)).await {
            Ok(pb::Verdict::Deliver) => Ok(()),
            Ok(other) => Err(tonic::Status::internal(format!("verdict {other:?}"))),
            Err(failure) => Err(tonic::Status::unknown(failure)),
        };
        record(&log, address.clone(), 0, sent, answer);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_are_unavailable_while_postgres_is_down_and_recover() {
    let Some(pg) = PrivatePostgres::start().await else {
        return;
    };
    let admin_db = sea_orm::Database::connect(pg.url("postgres").as_str())
        .await
        .expect("connecting to the private PostgreSQL");
    admin_db
        .execute_unprepared("CREATE DATABASE mailadmin")
        .await
        .expect("creating the database");
    let _ = admin_db.close().await;
    let url = pg.url("mailadmin");
    let dir = tempfile::tempdir().expect("tempdir");
    let token_file = dir.path().join("operator.token");
    let mut server = ServerProcess::start(&url, dir.path(), &token_file, "replica-a", &[]);
    let token = read_token_file(&mut server, &token_file).await;
    let channel = server.channel().await;
    let mut c = Clients::new(&channel, &token);

    let created = create_organization(&mut c.admin, "Outage", "outage").await;
    let org = created.organization.expect("organization").id;
    let master = created.master.expect("master");
    let mut paid: HashMap<String, i64> = HashMap::new();
    ok(c.billing
        .top_up(top_up_request(org, 50_000, "seed", CALL_TIMEOUT))
        .await);
    paid.insert("seed".into(), 50_000);
    let delivery = Clients::new(&channel, &create_delivery_token(&mut c.admin).await).delivery;

    // The load: three payers, an account creator, a recipient checker.
    let stop = Arc::new(AtomicBool::new(false));
    let (payments, creations, checks): (Log, Log, Log) = Default::default();
    let mut load = Vec::new();
    for writer in 0..3 {
        load.push(tokio::spawn(pay(
            c.billing.clone(),
            org,
            writer,
            stop.clone(),
            payments.clone(),
        )));
    }
    load.push(tokio::spawn(create(
        c.admin.clone(),
        org,
        stop.clone(),
        creations.clone(),
    )));
    load.push(tokio::spawn(check(
        delivery.clone(),
        master.primary_address.clone(),
        stop.clone(),
        checks.clone(),
    )));
    let acknowledged = |log: &Log| {
        log.lock()
            .unwrap()
            .iter()
            .filter(|c| c.outcome.is_ok())
            .count()
    };
    eventually(
        "the load is under way",
        Duration::from_secs(60),
        Duration::from_millis(20),
        || async {
            let (p, u) = (acknowledged(&payments), acknowledged(&creations));
            if p >= 20 && u >= 2 {
                Ok(())
            } else {
                Err(format!("{p} payments, {u} accounts"))
            }
        },
    )
    .await;

    // PostgreSQL stops; the load goes on against a database that is gone.
    pg.stop_immediately().await;
    let down_since = Instant::now();
    tokio::time::sleep(OUTAGE).await;
    let probe = c
        .billing
        .top_up(top_up_request(org, 777, "probe-down", CALL_TIMEOUT))
        .await;
    paid.insert("probe-down".into(), 777);
    let status = assert_code(probe, Code::Unavailable);
    assert!(
        status
            .message()
            .starts_with("the database did not answer; retry later (request id "),
        "{status:?}"
    );
    let probe = c.admin.create_user(create_request(org, "while-down")).await;
    assert_code(probe, Code::Unavailable);
    assert_code(
        c.billing
            .get_balance(pb::GetBalanceRequest {
                organization_id: org,
            })
            .await,
        Code::Unavailable,
    );
    assert_eq!(
        verdict(&delivery, &master.primary_address, Duration::from_secs(5)).await,
        Ok(pb::Verdict::Deliver),
        "recipient checks answer from the snapshot"
    );
    let up_again_from = Instant::now();
    pg.start_again().await;

    // The same server process writes again, by itself.
    let recovered = eventually(
        "a top-up after PostgreSQL restarted",
        Duration::from_secs(60),
        Duration::from_millis(100),
        || async {
            let answer = c
                .billing
                .clone()
                .top_up(top_up_request(org, 555, "probe-up", CALL_TIMEOUT))
                .await;
            answer.map_err(|s| format!("{:?}: {}", s.code(), s.message()))
        },
    )
    .await;
    paid.insert("probe-up".into(), 555);
    eprintln!(
        "writes recovered {:?} after PostgreSQL was started again (balance {})",
        up_again_from.elapsed(),
        amount(&recovered.into_inner().balance)
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    stop.store(true, Ordering::SeqCst);
    for task in load {
        tokio::time::timeout(CALL_TIMEOUT * 2, task)
            .await
            .expect("the load stops")
            .expect("a load task");
    }

    // Every answer was OK or UNAVAILABLE, within its deadline; writes sent
    // while PostgreSQL was down were all refused.
    let payments = payments.lock().unwrap().clone();
    let creations = creations.lock().unwrap().clone();
    let mut refused_while_down = 0;
    for call in payments.iter().chain(&creations) {
        assert!(
            call.answered - call.sent < CALL_TIMEOUT,
            "{} took {:?}",
            call.key,
            call.answered - call.sent
        );
        if let Err((code, message)) = &call.outcome {
            assert_eq!(
                *code,
                Code::Unavailable,
                "{}: {code:?} {message}\nserver log:\n{}",
                call.key,
                server.log_tail()
            );
            assert!(
                message.starts_with("the database did not answer; retry later"),
                "{}: {message}",
                call.key
            );
        }
        if call.sent > down_since && call.answered < up_again_from {
            assert!(
                call.outcome.is_err(),
                "{} was acknowledged while PostgreSQL was down",
                call.key
            );
            refused_while_down += 1;
        }
    }
    assert!(
        refused_while_down >= 5,
        "the load kept writing during the outage ({refused_while_down} calls refused)"
    );
    let checks = checks.lock().unwrap().clone();
    let failed_checks: Vec<&Call> = checks.iter().filter(|c| c.outcome.is_err()).collect();
    let checks_while_down = checks
        .iter()
        .filter(|c| c.sent > down_since && c.answered < up_again_from)
        .count();
    assert!(
        failed_checks.is_empty() && checks_while_down > 10,
        "recipient checks answer all along ({} of {} failed, {checks_while_down} while down): {:?}",
        failed_checks.len(),
        checks.len(),
        failed_checks.first()
    );

    // Clients retry what they were not told succeeded, with the same keys.
    for call in &payments {
        paid.insert(call.key.clone(), call.cents);
    }
    let unanswered: Vec<&Call> = payments.iter().filter(|c| c.outcome.is_err()).collect();
    for call in &unanswered {
        ok(c.billing
            .top_up(top_up_request(org, call.cents, &call.key, CALL_TIMEOUT))
            .await);
    }
    ok(c.billing
        .top_up(top_up_request(org, 777, "probe-down", CALL_TIMEOUT))
        .await);
    let mut usernames: Vec<String> = creations.iter().map(|c| c.key.clone()).collect();
    usernames.push("while-down".into());
    for username in &usernames {
        ok(c.admin.create_user(create_request(org, username)).await);
    }
    eprintln!(
        "{} payments ({} retried), {} accounts; {refused_while_down} writes refused while down, \
         {} recipient checks",
        payments.len(),
        unanswered.len(),
        usernames.len(),
        checks.len()
    );

    // The snapshot follows the database again: a change made by another
    // replica after the restart reaches this one's recipient checks.
    let mut replica_b = ServerProcess::start(&url, dir.path(), &token_file, "replica-b", &[]);
    let b = Clients::new(&replica_b.channel().await, &token);
    let mut b_admin = b.admin.clone();
    ok(b_admin
        .create_user(create_request(org, "after-restart"))
        .await);
    usernames.push("after-restart".into());
    let address = address_for("after-restart");
    eventually(
        "replica A sees an account replica B created after the restart",
        Duration::from_secs(30),
        Duration::from_millis(50),
        || async {
            match verdict(&delivery, &address, Duration::from_secs(5)).await {
                Ok(pb::Verdict::Deliver) => Ok(()),
                other => Err(format!("{other:?}")),
            }
        },
    )
    .await;
    replica_b.kill().await;

    // Nothing lost, nothing doubled.
    let db = sea_orm::Database::connect(url.as_str())
        .await
        .expect("connecting to the database");
    assert_each_key_once(&db, org, &paid).await;
    for username in &usernames {
        assert_eq!(
            count(
                &db,
                &format!("SELECT COUNT(*) FROM users WHERE username = '{username}'")
            )
            .await,
            1,
            "{username} created exactly once"
        );
    }
    let accounts = count(
        &db,
        &format!("SELECT COUNT(*) FROM users WHERE organization_id = {org} AND is_master = false"),
    )
    .await;
    assert_eq!(accounts, usernames.len() as i64);
    assert_ledger_balances(&c.billing, org).await;
    let balance = ok(c
        .billing
        .get_balance(pb::GetBalanceRequest {
            organization_id: org,
        })
        .await);
    assert_eq!(
        cents(&amount(&balance.balance)),
        paid.values().sum::<i64>() - accounts * ENTRY_CENTS,
        "every payment once, less each account's first period once"
    );
    let _ = db.close().await;
    server.kill().await;
    drop(pg);
}
