//! The full load at start reads the big tables in windows of ids, each
//! answered as one text value. A directory of several windows, with a
//! hole wider than a window and accounts in every state, routes every
//! address after a restart as the database says.
//! (docs/rules.md, "Start-up and reload")

use super::{Mta, deliver};
use crate::harness::*;
use mailadmin_client::Verdict;
use mailadmin_server::store::{SEED_DOMAIN, Store};
use sea_orm::ConnectionTrait;

/// More than two load windows of 8,192 ids, so that each of the two id
/// ranges read at once spans several windows.
const ACCOUNTS: u64 = 20_000;

async fn a_restart_routes_every_address_across_load_windows(s: &mut TestServer) {
    let org = s.create_org("Bulk", Plan::Pro).await;
    let url = s.settings().database_url.clone();
    let store = Store::connect(&url).await.expect("connecting the store");
    let paid_until = chrono::Utc::now() + chrono::Duration::days(20);
    store
        .seed_directory_bulk(
            org.id,
            "bulk-",
            0..ACCOUNTS,
            mailadmin_server::rules::plans::Plan::Entry,
            paid_until,
        )
        .await
        .expect("seeding accounts in bulk");
    let db = sea_orm::Database::connect(&url).await.expect("connecting");
    let id_of = |n: u64| format!("(SELECT id FROM users WHERE username = 'bulk-{n}')");
    // A hole wider than a window (its query answers no text at all), and
    // accounts in the other states.
    for sql in [
        format!(
            "DELETE FROM addresses WHERE user_id BETWEEN {} AND {}",
            id_of(5_000),
            id_of(14_000)
        ),
        format!(
            "DELETE FROM users WHERE id BETWEEN {} AND {}",
            id_of(5_000),
            id_of(14_000)
        ),
        format!(
            "UPDATE users SET state = 'disabled' WHERE id = {}",
            id_of(3)
        ),
        format!(
            "UPDATE users SET state = 'suspended' WHERE id = {}",
            id_of(19_998)
        ),
    ] {
        db.execute_unprepared(&sql)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    s.stop().await;
    s.settings_mut().provider_domains.push(SEED_DOMAIN.into());
    s.restart().await;
    let mta = Mta::new(s).await;
    let address = |n: u64| format!("bulk-{n}@{SEED_DOMAIN}");
    let user_id = |n: u64| {
        let db = db.clone();
        async move {
            let sql = format!("SELECT id FROM users WHERE username = 'bulk-{n}'");
            db.query_one_raw(sea_orm::Statement::from_string(
                db.get_database_backend(),
                sql,
            ))
            .await
            .expect("reading a user id")
            .map(|row| row.try_get_by_index::<i64>(0).expect("an id"))
        }
    };
    for n in [0, 1, 4_999, 14_001, 16_383, 18_191, 18_192, 18_193, 19_999] {
        let id = user_id(n)
            .await
            .unwrap_or_else(|| panic!("bulk-{n} was seeded and kept"));
        let expected = Verdict::Deliver {
            user_id: id,
            primary_address: address(n),
        };
        mta.expect(&address(n), &expected).await;
    }
    for n in [5_000, 9_000, 14_000] {
        assert_eq!(user_id(n).await, None, "deleted");
        mta.expect(&address(n), &Verdict::RejectUnknown).await;
    }
    let disabled = user_id(3).await.expect("a seeded account");
    mta.expect(&address(3), &Verdict::RejectDisabled { user_id: disabled })
        .await;
    let suspended = user_id(19_998).await.expect("a seeded account");
    mta.expect(
        &address(19_998),
        &Verdict::Deliver {
            user_id: suspended,
            primary_address: address(19_998),
        },
    )
    .await;
    // The organization's own accounts, loaded in the same windows.
    mta.expect(&org.master.primary_address, &deliver(&org.master))
        .await;
}

backend_tests!(a_restart_routes_every_address_across_load_windows);
