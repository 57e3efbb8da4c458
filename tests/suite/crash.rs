//! Crash safety of the renewal run: it is idempotent and crash-safe, each
//! account and period charged exactly once whatever runs concurrently, is
//! retried or is killed midway (docs/rules.md, "Renewals"). The real server
//! binary runs on its own fresh database, renewing 2,000 seeded Entry
//! accounts in small batches; it is killed with SIGKILL in the middle of the
//! run, restarted on the same database, and the next run must charge
//! exactly the periods the first one did not, once each.

use crate::harness::*;
use mailadmin_client::pb;
use mailadmin_server::rules::money::Money;
use mailadmin_server::store::Store;
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};
use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};
use tonic::transport::Channel;

/// Seeded accounts, all due.
const ACCOUNTS: i64 = 2000;
const ENTRY_CENTS: i64 = 250;
/// Accounts per renewal transaction, and the pause between two: 40
/// batches of which the kill must land after the first commit and before
/// the last.
const BATCH_SIZE: &str = "50";
const BATCH_PAUSE_MS: &str = "20";
const RENEWAL_ARGS: &[&str] = &[
    "--renewal-batch-size",
    BATCH_SIZE,
    "--renewal-batch-pause-ms",
    BATCH_PAUSE_MS,
];

fn billing(channel: &Channel, token: &str) -> BillingClient {
    pb::billing_service_client::BillingServiceClient::with_interceptor(
        channel.clone(),
        Bearer::token(token),
    )
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

/// Renewal periods (seq 2), renewal charges and renewed accounts of the
/// organization, straight from the database, with its credit in cents.
async fn renewal_state(db: &DatabaseConnection, org: i64) -> (i64, i64, i64, i64) {
    let periods = count(
        db,
        &format!("SELECT COUNT(*) FROM periods WHERE organization_id = {org} AND seq = 2"),
    )
    .await;
    let charges = count(
        db,
        &format!(
            "SELECT COUNT(*) FROM ledger_entries WHERE organization_id = {org} \
             AND kind = 'charge' AND period_seq = 2"
        ),
    )
    .await;
    let renewed = count(
        db,
        &format!(
            "SELECT COUNT(*) FROM users WHERE organization_id = {org} \
             AND is_master = false AND period_seq = 2"
        ),
    )
    .await;
    let credit = count(
        db,
        &format!("SELECT balance_cents FROM organizations WHERE id = {org}"),
    )
    .await;
    (periods, charges, renewed, credit)
}

async fn renewal_killed_mid_run_resumes_exactly(backend: Backend) {
    let Some(database) = FreshDatabase::create(backend).await else {
        return;
    };
    let url = database.url.clone();
    let outcome =
        futures::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(kill_and_restart(&url)))
            .await;
    database.drop_database().await;
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

async fn kill_and_restart(url: &str) {
    let dir = tempfile::tempdir().expect("tempdir");
    let token_file = dir.path().join("operator.token");

    // First start: a fresh database, so it writes an operator token.
    let mut server = ServerProcess::start(url, dir.path(), &token_file, "first", RENEWAL_ARGS);
    let token = read_token_file(&mut server, &token_file).await;
    let channel = server.channel().await;
    let mut admin =
        mailadmin_client::pb::admin_service_client::AdminServiceClient::with_interceptor(
            channel.clone(),
            Bearer::token(&token),
        );
    let created = ok(admin
        .create_organization(pb::CreateOrganizationRequest {
            name: "Crash".into(),
            master: Some(new_account("crash-admin", Plan::Pro)),
        })
        .await);
    let org = created.organization.expect("organization").id;

    // 2,000 Entry accounts whose period ended a minute ago (the binary runs
    // on the system clock), and credit for their renewals plus 10.00.
    let store = Store::connect(url).await.expect("connecting the store");
    let paid_until = chrono::Utc::now() - chrono::Duration::minutes(1);
    let seeded = store
        .seed_paid_accounts(
            org,
            "seed",
            ACCOUNTS as usize,
            mailadmin_server::rules::plans::Plan::Entry,
            Money::from_cents(ENTRY_CENTS),
            paid_until,
        )
        .await
        .expect("seeding accounts");
    assert_eq!(seeded.len() as i64, ACCOUNTS);
    store
        .seed_credit(org, Money::from_cents(ACCOUNTS * ENTRY_CENTS + 1000))
        .await
        .expect("seeding credit");
    let db = sea_orm::Database::connect(url)
        .await
        .expect("connecting to the database");

    // The run, killed as soon as its first batch has committed.
    let run = tokio::spawn({
        let mut billing = billing(&channel, &token);
        async move { billing.run_renewals(pb::RunRenewalsRequest {}).await }
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (periods, ..) = renewal_state(&db, org).await;
        if periods > 0 {
            break;
        }
        if run.is_finished() || Instant::now() > deadline {
            server.kill().await;
            panic!(
                "no renewal committed before the run ended ({:?}); server log:\n{}",
                run.await,
                server.log_tail()
            );
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    server.kill().await;
    let first_run = run.await.expect("the RunRenewals task");
    let (charged, charges, renewed, credit) = renewal_state(&db, org).await;
    assert!(
        first_run.is_err() && charged < ACCOUNTS,
        "the kill landed after the run finished ({charged} of {ACCOUNTS} renewed, answer \
         {first_run:?}): raise --renewal-batch-pause-ms ({BATCH_PAUSE_MS} ms) so it lands mid-run"
    );
    assert!(charged > 0, "the kill landed before the first batch");
    // Each batch commits as a whole: periods, ledger, positions and credit agree.
    assert_eq!(
        (charges, renewed, credit),
        (
            charged,
            charged,
            ACCOUNTS * ENTRY_CENTS + 1000 - charged * ENTRY_CENTS
        ),
        "after the kill: {charged} periods but {charges} charges, {renewed} renewed \
         accounts, credit {credit}"
    );
    eprintln!("killed mid-run: {charged} of {ACCOUNTS} renewals had committed");
    drop(channel);

    // Restart on the same database; the next run renews the rest, once.
    let mut server = ServerProcess::start(url, dir.path(), &token_file, "second", RENEWAL_ARGS);
    let channel = server.channel().await;
    let mut billing = billing(&channel, &token);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        server.assert_running();
        match billing
            .get_balance(pb::GetBalanceRequest {
                organization_id: org,
            })
            .await
        {
            Ok(_) => break,
            Err(e) if Instant::now() > deadline => {
                panic!(
                    "the restarted server never answered: {e:?}\n{}",
                    server.log_tail()
                )
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
    let second_run = ok(billing.run_renewals(pb::RunRenewalsRequest {}).await);
    assert_eq!(
        i64::from(second_run.charged),
        ACCOUNTS - charged,
        "the second run charges exactly what the first did not: {second_run:?}"
    );
    assert_eq!(
        amount(&second_run.total_charged),
        euros((ACCOUNTS - charged) * ENTRY_CENTS)
    );
    assert_eq!((second_run.moved_to_free, second_run.unpaid), (0, 0));
    let third_run = ok(billing.run_renewals(pb::RunRenewalsRequest {}).await);
    assert_eq!(third_run.charged, 0, "{third_run:?}");

    // Every seeded account: exactly one period 2, none beyond.
    let rows = db
        .query_all_raw(Statement::from_string(
            db.get_database_backend(),
            format!(
                "SELECT user_id, COUNT(*) FROM periods WHERE organization_id = {org} \
                 AND seq = 2 GROUP BY user_id"
            ),
        ))
        .await
        .expect("periods per account");
    let per_account: HashMap<i64, i64> = rows
        .iter()
        .map(|row| {
            (
                row.try_get_by_index::<i64>(0).expect("user_id"),
                row.try_get_by_index::<i64>(1).expect("count"),
            )
        })
        .collect();
    let seeded_ids: HashSet<i64> = seeded.iter().copied().collect();
    let renewed_ids: HashSet<i64> = per_account.keys().copied().collect();
    assert_eq!(
        renewed_ids.len(),
        seeded_ids.len(),
        "missing: {:?}; unexpected: {:?}",
        seeded_ids
            .difference(&renewed_ids)
            .take(10)
            .collect::<Vec<_>>(),
        renewed_ids
            .difference(&seeded_ids)
            .take(10)
            .collect::<Vec<_>>()
    );
    assert_eq!(renewed_ids, seeded_ids);
    let duplicated: Vec<_> = per_account.iter().filter(|(_, n)| **n != 1).collect();
    assert!(
        duplicated.is_empty(),
        "accounts with several period 2: {duplicated:?}"
    );
    assert_eq!(
        count(
            &db,
            &format!("SELECT COUNT(*) FROM periods WHERE organization_id = {org} AND seq > 2")
        )
        .await,
        0,
        "no period beyond the one due"
    );

    // The ledger: 2,000 charges of -2.50 for period 2, one per account;
    // the balance is the sum of the ledger.
    let ledger = assert_ledger_balances(&billing, org).await;
    let renewal_charges: Vec<&pb::LedgerEntry> = ledger
        .iter()
        .filter(|e| e.kind == pb::LedgerEntryKind::Charge as i32 && e.period_seq == 2)
        .collect();
    assert_eq!(renewal_charges.len() as i64, ACCOUNTS);
    assert!(
        renewal_charges
            .iter()
            .all(|e| amount(&e.amount) == "-2.50" && e.plan == Plan::Entry as i32)
    );
    let charged_ids: HashSet<i64> = renewal_charges.iter().map(|e| e.user_id).collect();
    assert_eq!(charged_ids, seeded_ids, "one charge per account");
    assert_eq!(
        ledger.len() as i64,
        ACCOUNTS + 1,
        "the seeded credit and the charges"
    );
    let view = ok(billing
        .get_balance(pb::GetBalanceRequest {
            organization_id: org,
        })
        .await);
    assert_eq!(amount(&view.balance), "10.00");
    let low = notifications(&billing, org)
        .await
        .into_iter()
        .filter(|n| n.kind == pb::NotificationKind::LowBalance as i32)
        .count();
    assert_eq!(low, 1, "the credit crossed 20.00 once, whatever the crash");

    let _ = db.close().await;
    server.kill().await;
}

mod sqlite {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn renewal_killed_mid_run_resumes_exactly() {
        super::renewal_killed_mid_run_resumes_exactly(crate::harness::Backend::Sqlite).await;
    }
}

mod postgres {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn renewal_killed_mid_run_resumes_exactly() {
        super::renewal_killed_mid_run_resumes_exactly(crate::harness::Backend::Postgres).await;
    }
}
