//! Fault tests: the real server binary (or the in-process server) under the
//! failures production will see — its database stopped and started again
//! under load, a SIGKILL in the middle of a burst of payments, a full disk,
//! a flood of connections, clients that hold connections open without
//! finishing them. Each one proves the server answers what the rules say
//! (docs/rules.md, "Status mapping"), keeps the delivery path answering,
//! recovers without a restart where it can, and loses or doubles no money:
//! after the fault, every balance is the sum of its ledger and every
//! acknowledged payment is in the ledger exactly once (docs/rules.md,
//! "Credit and ledger"). Every wait is a bounded loop with a deadline.
//!
//! - [`postgres_restart`]: a private PostgreSQL stopped and restarted under load;
//! - [`topup_storm`]: SIGKILL during concurrent top-ups, every key retried;
//! - [`sqlite_storage`]: the SQLite file's file system full, then freed;
//! - [`check_flood`]: logins under a flood of recipient checks, hashing idle;
//! - [`connection_flood`]: 10,000 connections opened at once and dropped;
//! - [`slow_loris`]: connections and streams that never finish.

mod check_flood;
mod connection_flood;
mod postgres_restart;
mod slow_loris;
mod sqlite_storage;
mod topup_storm;

use crate::harness::*;
use mailadmin_client::pb;
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};
use std::collections::HashMap;
use std::future::Future;
use std::time::{Duration, Instant};
use tonic::transport::Channel;

/// The gRPC clients of one server, all carrying one token.
#[derive(Clone)]
struct Clients {
    admin: Client,
    billing: BillingClient,
    delivery: DeliveryPbClient,
}

impl Clients {
    fn new(channel: &Channel, token: &str) -> Clients {
        Clients {
            admin: pb::admin_service_client::AdminServiceClient::with_interceptor(
                channel.clone(),
                Bearer::token(token),
            ),
            billing: pb::billing_service_client::BillingServiceClient::with_interceptor(
                channel.clone(),
                Bearer::token(token),
            ),
            delivery: pb::delivery_service_client::DeliveryServiceClient::with_interceptor(
                channel.clone(),
                Bearer::token(token),
            ),
        }
    }
}

/// An organization named `name` whose master, `<slug>-admin`, is on Pro,
/// created by an operator's `admin` client.
async fn create_organization(
    admin: &mut Client,
    name: &str,
    slug: &str,
) -> pb::CreateOrganizationResponse {
    ok(admin
        .create_organization(pb::CreateOrganizationRequest {
            name: name.into(),
            master: Some(new_account(&format!("{slug}-admin"), Plan::Pro)),
        })
        .await)
}

/// What the single-server fault tests start from: `mailadmin-server` with
/// `flags` as a process of its own on a fresh SQLite database (its log
/// `<slug>.log`), the operator's clients, and organization `name` whose
/// master is `<slug>-admin`.
struct Started {
    database: FreshDatabase,
    /// Holds the server's log, key and token files while the test runs.
    _dir: tempfile::TempDir,
    server: ServerProcess,
    operator_token: String,
    channel: Channel,
    operator: Clients,
    organization: pb::CreateOrganizationResponse,
}

/// [`Started`], or `None` where the harness skips (no database).
async fn start_with_organization(name: &str, slug: &str, flags: &[&str]) -> Option<Started> {
    let database = FreshDatabase::create(Backend::Sqlite).await?;
    let dir = tempfile::tempdir().expect("tempdir");
    let token_file = dir.path().join("operator.token");
    let mut server = ServerProcess::start(&database.url, dir.path(), &token_file, slug, flags);
    let operator_token = read_token_file(&mut server, &token_file).await;
    let channel = server.channel().await;
    let mut operator = Clients::new(&channel, &operator_token);
    let organization = create_organization(&mut operator.admin, name, slug).await;
    Some(Started {
        database,
        _dir: dir,
        server,
        operator_token,
        channel,
        operator,
        organization,
    })
}

/// A TopUp request of `cents` to `organization_id` under `key` (also its
/// payment reference), answered within `timeout`.
fn top_up_request(
    organization_id: i64,
    cents: i64,
    key: &str,
    timeout: Duration,
) -> tonic::Request<pb::TopUpRequest> {
    let mut request = tonic::Request::new(pb::TopUpRequest {
        organization_id,
        amount: Some(eur(&euros(cents))),
        idempotency_key: key.to_string(),
        payment_reference: key.to_string(),
    });
    request.set_timeout(timeout);
    request
}

/// The first row's first column, as an integer.
async fn count(db: &DatabaseConnection, sql: &str) -> i64 {
    let row = db
        .query_one_raw(Statement::from_string(db.get_database_backend(), sql))
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .unwrap_or_else(|| panic!("{sql}: no row"));
    row.try_get_by_index::<i64>(0)
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// Each idempotency key in the organization's ledger, with how many
/// entries carry it and their total in cents, straight from the database.
async fn ledger_keys(db: &DatabaseConnection, organization_id: i64) -> HashMap<String, (i64, i64)> {
    let sql = format!(
        "SELECT idempotency_key, COUNT(*), CAST(SUM(amount_cents) AS BIGINT) FROM ledger_entries \
         WHERE organization_id = {organization_id} AND idempotency_key IS NOT NULL \
         GROUP BY idempotency_key"
    );
    let rows = db
        .query_all_raw(Statement::from_string(db.get_database_backend(), &sql))
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    rows.iter()
        .map(|row| {
            (
                row.try_get_by_index::<String>(0).expect("key"),
                (
                    row.try_get_by_index::<i64>(1).expect("count"),
                    row.try_get_by_index::<i64>(2).expect("sum"),
                ),
            )
        })
        .collect()
}

/// Asserts every key of `paid` (key → cents) is in the organization's
/// ledger exactly once with its amount, and no other key is.
async fn assert_each_key_once(
    db: &DatabaseConnection,
    organization_id: i64,
    paid: &HashMap<String, i64>,
) {
    let found = ledger_keys(db, organization_id).await;
    let mut problems = Vec::new();
    for (key, cents) in paid {
        match found.get(key) {
            Some((1, sum)) if sum == cents => {}
            Some((n, sum)) => {
                problems.push(format!("{key}: {n} entries, {sum} cents, not 1 of {cents}"))
            }
            None => problems.push(format!("{key}: acknowledged but not in the ledger")),
        }
    }
    for key in found.keys().filter(|key| !paid.contains_key(*key)) {
        problems.push(format!("{key}: in the ledger but never sent"));
    }
    assert!(
        problems.is_empty(),
        "{} of {} top-up keys are not credited exactly once:\n{}",
        problems.len(),
        paid.len(),
        problems[..problems.len().min(20)].join("\n")
    );
}

/// Calls `attempt` until it returns `Some`, every `pause`, for at most
/// `limit`; panics with `what` and the last miss after that.
async fn eventually<T, F, Fut>(what: &str, limit: Duration, pause: Duration, mut attempt: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let deadline = Instant::now() + limit;
    loop {
        match attempt().await {
            Ok(value) => return value,
            Err(miss) if Instant::now() > deadline => {
                panic!("{what}: not within {limit:?}; last: {miss}")
            }
            Err(_) => tokio::time::sleep(pause).await,
        }
    }
}

/// Raises this process's soft limit on open files to at least `wanted`,
/// raising the hard limit too where that is permitted, else up to the hard
/// limit. Children started afterwards inherit it. Returns the soft limit now
/// in force.
fn raise_open_files(wanted: u64) -> u64 {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct passed.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit), 0);
        if limit.rlim_cur < wanted {
            let hard = limit.rlim_max;
            limit.rlim_cur = wanted;
            limit.rlim_max = hard.max(wanted);
            if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                // Not permitted above the hard limit (no CAP_SYS_RESOURCE).
                limit.rlim_cur = hard;
                limit.rlim_max = hard;
                let _ = libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
            }
        }
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit), 0);
    }
    limit.rlim_cur
}

/// The verdict CheckRecipient gives `address` within `timeout`; `Err`:
/// the status code and message.
async fn verdict(
    delivery: &DeliveryPbClient,
    address: &str,
    timeout: Duration,
) -> Result<pb::Verdict, String> {
    let mut request = tonic::Request::new(pb::CheckRecipientRequest {
        address: address.to_string(),
    });
    request.set_timeout(timeout);
    let answer = delivery
        .clone()
        .check_recipient(request)
        .await
        .map_err(|s| format!("{:?}: {}", s.code(), s.message()))?
        .into_inner();
    let result = answer.result.expect("a verdict in the answer");
    Ok(pb::Verdict::try_from(result.verdict).unwrap_or(pb::Verdict::Unspecified))
}
