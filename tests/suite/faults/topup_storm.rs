//! SIGKILL in the middle of a storm of payments (docs/rules.md, "Top-ups").
//! The server binary runs on a fresh database (SQLite, and PostgreSQL when
//! `MAILADMIN_TEST_POSTGRES_URL` is set); [`CLIENTS`] concurrent clients,
//! each on its own connection, send top-ups, each with its own idempotency
//! key. The server is killed with SIGKILL once part of them are
//! acknowledged, so some calls die in flight — committed or not, the client
//! cannot tell. It restarts on the same database and every client retries
//! every key it got no answer for, as a payment backend does. Every key is
//! then credited exactly once, and the balance is the initial credit plus
//! the sum of the amounts, which is the sum of the ledger.

use super::*;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tonic::transport::Endpoint;

const CLIENTS: usize = 8;
const KEYS_PER_CLIENT: usize = 40;
const INITIAL_CENTS: i64 = 10_000;
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// The amount client `client` pays under its `i`th key, in cents.
fn amount_of(client: usize, i: usize) -> i64 {
    100 + (client as i64) * 7 + (i as i64 % 13)
}

fn key_of(client: usize, i: usize) -> String {
    format!("storm-{client}-{i}")
}

/// One client: its keys in turn, on its own connection, each call
/// answered or not. Returns the keys it got no answer for.
async fn pay_all(
    url: String,
    token: String,
    org: i64,
    client: usize,
    acknowledged: Arc<AtomicUsize>,
) -> Vec<usize> {
    let channel = Endpoint::from_shared(url)
        .expect("endpoint")
        .connect_timeout(Duration::from_secs(2))
        .connect_lazy();
    let billing = Clients::new(&channel, &token).billing;
    let mut unanswered = Vec::new();
    for i in 0..KEYS_PER_CLIENT {
        let answer = billing
            .clone()
            .top_up(top_up_request(
                org,
                amount_of(client, i),
                &key_of(client, i),
                CALL_TIMEOUT,
            ))
            .await;
        match answer {
            Ok(_) => {
                acknowledged.fetch_add(1, Ordering::SeqCst);
            }
            // The server died under the call, or was already gone.
            Err(_) => unanswered.push(i),
        }
    }
    unanswered
}

async fn storm(url: &str) {
    let dir = tempfile::tempdir().expect("tempdir");
    let token_file = dir.path().join("operator.token");
    let mut server = ServerProcess::start(url, dir.path(), &token_file, "first", &[]);
    let token = read_token_file(&mut server, &token_file).await;
    let channel = server.channel().await;
    let mut c = Clients::new(&channel, &token);
    let created = create_organization(&mut c.admin, "Storm", "storm").await;
    let org = created.organization.expect("organization").id;
    ok(c.billing
        .top_up(top_up_request(org, INITIAL_CENTS, "initial", CALL_TIMEOUT))
        .await);

    // The storm, killed a third of the way through.
    let acknowledged = Arc::new(AtomicUsize::new(0));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|client| {
            tokio::spawn(pay_all(
                server.url(),
                token.clone(),
                org,
                client,
                acknowledged.clone(),
            ))
        })
        .collect();
    let total = CLIENTS * KEYS_PER_CLIENT;
    eventually(
        "a third of the top-ups acknowledged",
        Duration::from_secs(120),
        Duration::from_millis(1),
        || async {
            let done = acknowledged.load(Ordering::SeqCst);
            if done >= total / 3 {
                Ok(())
            } else {
                Err(format!("{done} of {total}"))
            }
        },
    )
    .await;
    server.kill().await;
    let at_kill = acknowledged.load(Ordering::SeqCst);
    let mut unanswered = Vec::new();
    for (client, task) in clients.into_iter().enumerate() {
        let keys = tokio::time::timeout(CALL_TIMEOUT * 3, task)
            .await
            .expect("the clients give up on a dead server")
            .expect("a client task");
        unanswered.extend(keys.into_iter().map(|i| (client, i)));
    }
    let answered = total - unanswered.len();
    assert!(
        answered < total && answered >= total / 3,
        "the kill landed mid-storm: {answered} of {total} answered"
    );
    let db = sea_orm::Database::connect(url)
        .await
        .expect("connecting to the database");
    let committed = count(
        &db,
        &format!(
            "SELECT COUNT(*) FROM ledger_entries WHERE organization_id = {org} \
             AND idempotency_key LIKE 'storm-%'"
        ),
    )
    .await as usize;
    eprintln!(
        "killed with {at_kill} acknowledged; {answered} answered, {committed} committed, \
         {} to retry",
        unanswered.len()
    );
    assert!(committed >= answered, "an acknowledged top-up was lost");

    // Restart on the same database; every client retries what it was not told.
    let mut server = ServerProcess::start(url, dir.path(), &token_file, "second", &[]);
    let channel = server.channel().await;
    let billing = Clients::new(&channel, &token).billing;
    let retries: Vec<_> = unanswered
        .iter()
        .map(|&(client, i)| {
            let mut billing = billing.clone();
            tokio::spawn(async move {
                billing
                    .top_up(top_up_request(
                        org,
                        amount_of(client, i),
                        &key_of(client, i),
                        CALL_TIMEOUT,
                    ))
                    .await
                    .map(|r| r.into_inner())
                    .map_err(|s| format!("{}: {:?} {}", key_of(client, i), s.code(), s.message()))
            })
        })
        .collect();
    for retry in retries {
        retry
            .await
            .expect("a retry task")
            .unwrap_or_else(|e| panic!("a retry after the restart failed: {e}"));
    }
    // A replay of a key acknowledged before the kill credits nothing more.
    let replayed = ok(billing
        .clone()
        .top_up(top_up_request(
            org,
            amount_of(0, 0),
            &key_of(0, 0),
            CALL_TIMEOUT,
        ))
        .await);
    assert_eq!(
        amount(&replayed.entry.expect("the first entry").amount),
        euros(amount_of(0, 0))
    );

    // Every key exactly once; the balance is the initial credit plus every amount.
    let mut paid: HashMap<String, i64> = HashMap::from([("initial".to_string(), INITIAL_CENTS)]);
    for client in 0..CLIENTS {
        for i in 0..KEYS_PER_CLIENT {
            paid.insert(key_of(client, i), amount_of(client, i));
        }
    }
    assert_each_key_once(&db, org, &paid).await;
    let ledger = assert_ledger_balances(&billing, org).await;
    assert_eq!(ledger.len(), total + 1, "the top-ups and nothing else");
    let balance = ok(billing
        .clone()
        .get_balance(pb::GetBalanceRequest {
            organization_id: org,
        })
        .await);
    assert_eq!(cents(&amount(&balance.balance)), paid.values().sum::<i64>());
    let _ = db.close().await;
    server.kill().await;
}

async fn storm_on(backend: Backend) {
    let Some(database) = FreshDatabase::create(backend).await else {
        return;
    };
    let url = database.url.clone();
    let outcome = futures::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(storm(&url))).await;
    database.drop_database().await;
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

mod sqlite {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_key_is_credited_once_after_a_sigkill() {
        super::storm_on(crate::harness::Backend::Sqlite).await;
    }
}

mod postgres {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_key_is_credited_once_after_a_sigkill() {
        super::storm_on(crate::harness::Backend::Postgres).await;
    }
}
