//! A full reload under way, on PostgreSQL: the server's change-feed
//! connection is cut with `pg_terminate_backend`, so it listens again and
//! reloads the whole directory. Meanwhile recipient checks keep asking, and
//! an account is disabled through the same server: the next check must see
//! it at once, and the finished reload must not undo it.

use crate::process::ServerProcess;
use mailadmin_client::pb::admin_service_client::AdminServiceClient;
use mailadmin_client::{DeliveryClient, Verdict, pb};
use sea_orm::ConnectionTrait;
use std::time::{Duration, Instant};

pub struct Outcome {
    pub reload: Duration,
    pub checks: u64,
    /// Checks during the reload that did not answer DELIVER.
    pub wrong: u64,
    pub slowest: Duration,
    /// The disable made during the reload was the very next check's answer.
    pub change_seen: bool,
    /// …and still the answer once the reload was published.
    pub change_kept: bool,
}

const LOADED: &str = "routing snapshot loaded";

/// `probe` delivers throughout; `victim` (user id, address) is disabled
/// during the reload and enabled again after.
pub async fn measure(
    server: &ServerProcess,
    database_url: &str,
    operator_token: &str,
    client: &DeliveryClient,
    probe: &str,
    victim: (i64, &str),
) -> anyhow::Result<Outcome> {
    let loads = |server: &ServerProcess| server.log().matches(LOADED).count();
    let before = loads(server);
    let mut admin =
        AdminServiceClient::new(crate::common::connect(&server.url(), operator_token).await?);
    let db = sea_orm::Database::connect(database_url).await?;
    let cut = db
        .query_all_raw(sea_orm::Statement::from_string(
            db.get_database_backend(),
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = current_database() AND query ILIKE 'LISTEN%'"
                .to_string(),
        ))
        .await?;
    anyhow::ensure!(!cut.is_empty(), "no listening backend to cut");
    let started = Instant::now();
    let mut outcome = Outcome {
        reload: Duration::ZERO,
        checks: 0,
        wrong: 0,
        slowest: Duration::ZERO,
        change_seen: false,
        change_kept: false,
    };
    let mut changed = false;
    while loads(server) == before {
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(300),
            "no reload within 300 s; log:\n{}",
            server.log()
        );
        let asked = Instant::now();
        let verdict = client.check_recipient(probe).await;
        outcome.slowest = outcome.slowest.max(asked.elapsed());
        outcome.checks += 1;
        if !matches!(verdict, Verdict::Deliver { .. }) {
            outcome.wrong += 1;
        }
        if !changed && started.elapsed() > Duration::from_millis(500) {
            changed = true;
            admin
                .disable_user(pb::DisableUserRequest { user_id: victim.0 })
                .await?;
            let seen = client.check_recipient(victim.1).await;
            // Only counts if the reload was still running after it.
            outcome.change_seen =
                seen == Verdict::RejectDisabled { user_id: victim.0 } && loads(server) == before;
        }
    }
    outcome.reload = started.elapsed();
    let after = client.check_recipient(victim.1).await;
    outcome.change_kept = after == Verdict::RejectDisabled { user_id: victim.0 };
    admin
        .enable_user(pb::EnableUserRequest { user_id: victim.0 })
        .await?;
    Ok(outcome)
}
