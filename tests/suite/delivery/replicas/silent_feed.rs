//! A replica whose change feed dies without a word notices the missing
//! heartbeats, listens again and reloads.

use super::{Replicas, free_user, wait_for};
use crate::delivery::{TIMEOUT, deliver};
use crate::harness::*;
use mailadmin_client::{DeliveryClient, Verdict, pb};

/// The PostgreSQL backends that serve `application`'s LISTEN and run on
/// this machine (SIGSTOP needs a local process).
async fn listening_backends(db: &sea_orm::DatabaseConnection, application: &str) -> Vec<u32> {
    use sea_orm::ConnectionTrait;
    let rows = db
        .query_all_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Postgres,
            format!(
                "SELECT pid FROM pg_stat_activity WHERE application_name = '{application}' \
                 AND query LIKE 'LISTEN%'"
            ),
        ))
        .await
        .expect("reading pg_stat_activity");
    rows.iter()
        .filter_map(|row| u32::try_from(row.try_get::<i32>("", "pid").ok()?).ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .is_ok_and(|comm| comm.starts_with("postgres"))
        })
        .collect()
}

fn signal(pid: u32, signal: &str) {
    let status = std::process::Command::new("kill")
        .args([signal, &pid.to_string()])
        .status()
        .expect("running kill");
    assert!(status.success(), "kill {signal} {pid}");
}

/// A replica's change feed can die without a word (a NAT or failover drops
/// the connection, and PostgreSQL sends nothing to an idle listener): here
/// B's listening backend is frozen with SIGSTOP, so its connection stays
/// open and silent. B notices the missing heartbeats, listens again and
/// reloads, and then refuses an account disabled on A meanwhile — and
/// follows A's later changes through the new connection. A replica that
/// hears nothing for 3 s listens again (docs/rules.md, "Freshness").
pub(super) async fn silent_feed(url: &str) {
    let separator = if url.contains('?') { '&' } else { '?' };
    let url_b = format!("{url}{separator}application_name=mailadmin-b");
    let Replicas {
        dir: _dir,
        mut a,
        mut b,
        channel_a,
        mut admin_a,
        org_id,
        mta_token,
        ..
    } = Replicas::start(url, &url_b, "Silence").await;
    let create = |username: &str| free_user(org_id, username);
    let alice = ok(admin_a.create_user(create("alice")).await)
        .user
        .expect("user");
    let mta_b = DeliveryClient::new(&b.url(), &mta_token, TIMEOUT).expect("a client for B");
    let address = address_for("alice");
    wait_for(&mta_b, &address, &deliver(&alice), &mut b, "B follows A").await;

    let db = sea_orm::Database::connect(url)
        .await
        .expect("connecting to PostgreSQL");
    let Some(&pid) = listening_backends(&db, "mailadmin-b").await.first() else {
        eprintln!("PostgreSQL does not run on this machine: no SIGSTOP, nothing to check");
        b.kill().await;
        a.kill().await;
        return;
    };
    signal(pid, "-STOP");
    let outcome = futures::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(async {
        ok(admin_a
            .disable_user(pb::DisableUserRequest { user_id: alice.id })
            .await);
        let disabled = Verdict::RejectDisabled { user_id: alice.id };
        wait_for(
            &mta_b,
            &address,
            &disabled,
            &mut b,
            "B, its change feed frozen, refuses after a disable on A",
        )
        .await;
        let listening = listening_backends(&db, "mailadmin-b").await;
        assert!(
            listening.iter().any(|&fresh| fresh != pid),
            "B listens on a new connection (frozen: {pid}, listening: {listening:?})"
        );
        let bob = ok(admin_a.create_user(create("bob")).await)
            .user
            .expect("user");
        wait_for(
            &mta_b,
            &address_for("bob"),
            &deliver(&bob),
            &mut b,
            "B follows A through its new change feed",
        )
        .await;
    }))
    .await;
    signal(pid, "-CONT");
    drop(channel_a);
    b.kill().await;
    a.kill().await;
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}
