//! Time limits (docs/rules.md, "Time limits"): a call the database holds
//! (another session holds the row lock it needs — PostgreSQL — or the
//! write lock — SQLite) ends within its deadline, the caller's
//! `grpc-timeout` or the server's maximum, with `DEADLINE_EXCEEDED`; or,
//! when the database's own statement limit comes first, `UNAVAILABLE`. The
//! abandoned call writes nothing, the delivery path answers all along, and
//! once the lock goes the same call succeeds.

use crate::harness::*;
use mailadmin_client::pb;
use mailadmin_server::Settings;
use sea_orm::{ConnectionTrait, DatabaseTransaction, TransactionTrait};
use std::time::{Duration, Instant};
use tonic::Code;

/// The server gives up on a call after 2 s; the database would wait 60 s.
pub struct ShortDeadline;

impl Fixture for ShortDeadline {
    async fn start() -> Self {
        ShortDeadline
    }
    fn configure(&self, settings: &mut Settings) {
        settings.request_timeout = Duration::from_secs(2);
        settings.db_limits.statement = Duration::from_secs(60);
    }
}

/// The database gives up on a statement after 1 s; the server would wait 30 s.
pub struct ShortStatement;

impl Fixture for ShortStatement {
    async fn start() -> Self {
        ShortStatement
    }
    fn configure(&self, settings: &mut Settings) {
        settings.request_timeout = Duration::from_secs(30);
        settings.db_limits.statement = Duration::from_secs(1);
    }
}

/// Another session holding what a top-up of `organization_id` needs: its
/// organization's row (PostgreSQL), the write lock (SQLite).
async fn hold_the_lock(
    s: &TestServer,
    organization_id: i64,
) -> (sea_orm::DatabaseConnection, DatabaseTransaction) {
    let db = sea_orm::Database::connect(s.settings().database_url.as_str())
        .await
        .expect("a second session");
    let txn = db
        .begin_with_options(sea_orm::TransactionOptions {
            sqlite_transaction_mode: Some(sea_orm::SqliteTransactionMode::Immediate),
            ..Default::default()
        })
        .await
        .expect("BEGIN");
    if db.get_database_backend() == sea_orm::DbBackend::Postgres {
        txn.execute_unprepared(&format!(
            "SELECT id FROM organizations WHERE id = {organization_id} FOR UPDATE"
        ))
        .await
        .expect("locking the organization");
    }
    (db, txn)
}

async fn top_up(
    s: &TestServer,
    organization_id: i64,
    key: &str,
    timeout: Option<Duration>,
) -> (Result<pb::TopUpResponse, tonic::Status>, Duration) {
    let mut request = tonic::Request::new(pb::TopUpRequest {
        organization_id,
        amount: Some(eur("10.00")),
        idempotency_key: key.into(),
        payment_reference: key.into(),
    });
    if let Some(timeout) = timeout {
        request.set_timeout(timeout);
    }
    let started = Instant::now();
    let answer = s.billing_operator().top_up(request).await;
    (answer.map(tonic::Response::into_inner), started.elapsed())
}

async fn a_locked_call_ends_at_its_deadline(s: &TestServer, _: &ShortDeadline) {
    let org = s.create_org("Acme", Plan::Pro).await;
    let before = s.assert_ledger_balances(org.id).await;
    let delivery = s.delivery_token().await;
    let (_db, lock) = hold_the_lock(s, org.id).await;

    // The caller's own deadline, shorter than the server's.
    let (answer, took) = top_up(s, org.id, "held-1", Some(Duration::from_millis(700))).await;
    assert_code(answer, Code::DeadlineExceeded);
    assert!(took < Duration::from_millis(1700), "{took:?}");
    // No deadline asked: the server's maximum.
    let (answer, took) = top_up(s, org.id, "held-2", None).await;
    let status = assert_code(answer, Code::DeadlineExceeded);
    assert!(status.message().contains("2000 ms"), "{status:?}");
    assert!(took < Duration::from_secs(3), "{took:?}");

    // The delivery path reads no database: it answers meanwhile.
    let started = Instant::now();
    ok(s.delivery_pb_client(Some(&delivery))
        .check_recipient(pb::CheckRecipientRequest {
            address: org.master.primary_address.clone(),
        })
        .await);
    assert!(started.elapsed() < Duration::from_millis(500));

    lock.rollback().await.expect("releasing the lock");
    let (answer, _) = top_up(s, org.id, "after", None).await;
    answer.expect("the same call once the lock is gone");
    let after = s.assert_ledger_balances(org.id).await;
    assert_eq!(
        after.len(),
        before.len() + 1,
        "the abandoned top-ups credited nothing; the last one once"
    );
}

async fn a_statement_over_its_limit_is_unavailable(s: &TestServer, _: &ShortStatement) {
    let org = s.create_org("Acme", Plan::Pro).await;
    let before = s.assert_ledger_balances(org.id).await;
    let (_db, lock) = hold_the_lock(s, org.id).await;
    let (answer, took) = top_up(s, org.id, "held", None).await;
    let status = assert_code(answer, Code::Unavailable);
    assert!(status.message().contains("database"), "{status:?}");
    assert!(took < Duration::from_secs(5), "{took:?}");
    lock.rollback().await.expect("releasing the lock");
    let (answer, _) = top_up(s, org.id, "held", None).await;
    answer.expect("retried with the same key once the lock is gone");
    assert_eq!(
        s.assert_ledger_balances(org.id).await.len(),
        before.len() + 1
    );
}

backend_tests!(
    a_locked_call_ends_at_its_deadline: ShortDeadline,
    a_statement_over_its_limit_is_unavailable: ShortStatement,
);
