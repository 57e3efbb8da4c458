//! Two `mailadmin-server` processes on one PostgreSQL database (PostgreSQL
//! only) (docs/rules.md, "Freshness"): each follows the other's changes
//! through LISTEN/NOTIFY, a replica killed with SIGKILL and restarted
//! answers from the database's state at once, and a change feed that died
//! silently is replaced. This module holds the two replicas' setup.

mod events;
mod follow;
mod silent_feed;
mod throttle;

use crate::harness::*;
use mailadmin_client::{DeliveryClient, Verdict, pb};
use std::time::{Duration, Instant};

/// How long another replica may take to follow a change in these tests.
/// The code enforces no bound (docs/rules.md, "Freshness"); the tests only
/// record the lag.
const REPLICA_DEADLINE: Duration = Duration::from_secs(10);

mod postgres {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn two_server_processes_follow_each_other() {
        super::on_fresh_postgres(|url| async move { super::follow::two_replicas(&url).await })
            .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn account_events_follow_across_replicas() {
        super::on_fresh_postgres(|url| async move {
            super::events::events_follow_across_replicas(&url).await
        })
        .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn failed_sign_ins_count_across_replicas() {
        super::on_fresh_postgres(|url| async move {
            super::throttle::failures_count_across_replicas(&url).await
        })
        .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_silent_change_feed_is_replaced() {
        super::on_fresh_postgres(|url| async move { super::silent_feed::silent_feed(&url).await })
            .await;
    }
}

/// Runs `test` on a fresh PostgreSQL database (skipped without one, as
/// the harness decides), and drops the database whether it passes or not.
async fn on_fresh_postgres<F: std::future::Future<Output = ()>>(test: impl FnOnce(String) -> F) {
    let Some(database) = FreshDatabase::create(Backend::Postgres).await else {
        return;
    };
    let outcome =
        futures::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(test(database.url.clone())))
            .await;
    database.drop_database().await;
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

fn admin_client(channel: &tonic::transport::Channel, token: &str) -> Client {
    pb::admin_service_client::AdminServiceClient::with_interceptor(
        channel.clone(),
        Bearer::token(token),
    )
}

/// Polls `client` until `address` gets `expected` (within
/// [`REPLICA_DEADLINE`]); returns how long that took.
async fn wait_for(
    client: &DeliveryClient,
    address: &str,
    expected: &Verdict,
    replica: &mut ServerProcess,
    what: &str,
) -> Duration {
    let started = Instant::now();
    loop {
        let got = client.check_recipient(address).await;
        if &got == expected {
            let lag = started.elapsed();
            eprintln!("{what}: after {lag:?}");
            return lag;
        }
        replica.assert_running();
        assert!(
            started.elapsed() < REPLICA_DEADLINE,
            "{what}: CheckRecipient({address:?}) still {got:?} (expected {expected:?}) after \
             {REPLICA_DEADLINE:?}; the replica's log:\n{}",
            replica.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Two server processes on one database, as the replica tests start them:
/// A creates the schema and the operator token; B (on `url_b`, the same
/// database) starts after it, finds that token in the database, and is
/// called with it too. Made through A: an organization with a Pro master,
/// and a DELIVERY token.
struct Replicas {
    dir: tempfile::TempDir,
    a: ServerProcess,
    b: ServerProcess,
    token_file_b: std::path::PathBuf,
    token: String,
    channel_a: tonic::transport::Channel,
    admin_a: Client,
    org_id: i64,
    mta_token: String,
}

impl Replicas {
    async fn start(url: &str, url_b: &str, organization: &str) -> Replicas {
        let dir = tempfile::tempdir().expect("tempdir");
        let token_file_a = dir.path().join("a.token");
        let token_file_b = dir.path().join("b.token");
        let mut a = ServerProcess::start(url, dir.path(), &token_file_a, "a", &[]);
        let token = read_token_file(&mut a, &token_file_a).await;
        let channel_a = a.channel().await;
        let b = ServerProcess::start(url_b, dir.path(), &token_file_b, "b", &[]);
        let mut admin_a = admin_client(&channel_a, &token);
        let master = format!("{}-admin", organization.to_lowercase());
        let created = ok(admin_a
            .create_organization(pb::CreateOrganizationRequest {
                name: organization.into(),
                master: Some(new_account(&master, Plan::Pro)),
            })
            .await);
        let org_id = created.organization.expect("organization").id;
        let mta_token = create_delivery_token(&mut admin_a).await;
        Replicas {
            dir,
            a,
            b,
            token_file_b,
            token,
            channel_a,
            admin_a,
            org_id,
            mta_token,
        }
    }
}

/// A Free account `username` for organization `org_id`.
fn free_user(org_id: i64, username: &str) -> pb::CreateUserRequest {
    pb::CreateUserRequest {
        organization_id: org_id,
        account: Some(new_account(username, Plan::Free)),
        request_id: String::new(),
        ..Default::default()
    }
}
