//! Notifications: LOW_BALANCE once per downward crossing of a configurable
//! threshold, and DOMAIN_CLAIM_DROPPED for the losers of a domain claim.

use super::{balance, count_kind, funded_org, notifications_of, run_renewals, unfunded_org};
use crate::dns_server::TestDns;
use crate::harness::*;
use chrono::Duration;
use mailadmin_client::pb;
use pb::NotificationKind;

/// The low-balance threshold is configurable (`--low-balance-threshold`;
/// docs/rules.md, "Low-balance notifications").
struct Threshold50;

impl Fixture for Threshold50 {
    async fn start() -> Self {
        Threshold50
    }
    fn configure(&self, settings: &mut mailadmin_server::Settings) {
        settings.low_balance_threshold = mailadmin_server::rules::money::Money::from_cents(5000);
    }
}

async fn low_balance_threshold_is_configurable(s: &TestServer, _threshold: &Threshold50) {
    let org = unfunded_org(s, "Acme", Plan::Entry).await;
    s.top_up(org.id, "52.00", "first").await;
    let view = balance(s, org.id).await;
    assert_eq!(amount(&view.low_balance_threshold), "50.00");
    assert!(!view.low_balance);
    s.create_user(&org.admin, org.id, "anna", Plan::Entry).await; // 49.50
    let view = balance(s, org.id).await;
    assert!(view.low_balance, "49.50 is below 50.00");
    let found = notifications_of(s, org.id).await;
    assert_eq!(
        count_kind(&found, NotificationKind::LowBalance),
        1,
        "{found:#?}"
    );
    assert!(found[0].message.contains("50.00"), "{:?}", found[0]);
    s.assert_ledger_balances(org.id).await;
}

/// One LOW_BALANCE notification per downward crossing of 20.00: not at
/// exactly 20.00, not again while below, again after a top-up above and a
/// new crossing; a renewal run that crosses notifies once. GetBalance's
/// low_balance flag follows the credit
/// (docs/rules.md, "Low-balance notifications").
async fn low_balance_notifies_once_per_crossing(s: &TestServer) {
    let org = unfunded_org(s, "Acme", Plan::Pro).await;
    s.top_up(org.id, "25.00", "first").await;
    let low_balance_count = || async {
        count_kind(
            &notifications_of(s, org.id).await,
            NotificationKind::LowBalance,
        )
    };
    assert!(!balance(s, org.id).await.low_balance);

    s.create_user(&org.admin, org.id, "anna", Plan::Entry).await; // 22.50
    s.create_user(&org.admin, org.id, "bert", Plan::Entry).await; // 20.00
    assert_eq!(low_balance_count().await, 0, "20.00 is not below 20.00");
    assert!(!balance(s, org.id).await.low_balance);
    s.create_user(&org.admin, org.id, "carl", Plan::Entry).await; // 17.50
    assert_eq!(low_balance_count().await, 1);
    let view = balance(s, org.id).await;
    assert!(view.low_balance);
    assert_eq!(amount(&view.balance), "17.50");
    s.create_user(&org.admin, org.id, "dora", Plan::Entry).await; // 15.00
    assert_eq!(low_balance_count().await, 1, "not repeated while below");

    s.top_up(org.id, "10.00", "second").await; // 25.00
    assert!(!balance(s, org.id).await.low_balance);
    assert_eq!(low_balance_count().await, 1, "a top-up does not notify");
    s.create_user(&org.admin, org.id, "emil", Plan::Entry).await; // 22.50
    s.create_user(&org.admin, org.id, "fred", Plan::Entry).await; // 20.00
    assert_eq!(low_balance_count().await, 1);
    s.create_user(&org.admin, org.id, "gina", Plan::Entry).await; // 17.50
    assert_eq!(
        low_balance_count().await,
        2,
        "a new crossing notifies again"
    );

    // A renewal run charging 7 × 2.50 from 30.00 crosses once.
    s.top_up(org.id, "12.50", "third").await; // 30.00
    s.advance(Duration::days(30));
    let run = run_renewals(s).await;
    assert_eq!(
        (run.charged, amount(&run.total_charged)),
        (7, "17.50".into())
    );
    assert_eq!(amount(&balance(s, org.id).await.balance), "12.50");
    assert_eq!(
        low_balance_count().await,
        3,
        "one crossing, one notification"
    );
    let found = notifications_of(s, org.id).await;
    assert!(
        found
            .iter()
            .filter(|n| n.kind == NotificationKind::LowBalance as i32)
            .all(|n| n.organization_id == org.id && n.message.contains("20.00")),
        "{found:#?}"
    );
    s.assert_ledger_balances(org.id).await;
}

/// The organizations whose claim on a domain was dropped (another one
/// verified it first) get a DOMAIN_CLAIM_DROPPED notification; the winner
/// does not (docs/rules.md, "Claims").
async fn dropped_domain_claim_is_notified(s: &TestServer, dns: &TestDns) {
    let a = funded_org(s, "Acme", Plan::Entry).await;
    let b = funded_org(s, "Bravo", Plan::Entry).await;
    let _claim_a = s.add_domain(&a, "shared.example").await;
    let claim_b = s.add_domain(&b, "shared.example").await;
    publish(dns, &ownership_record(&claim_b));
    let answer = ok(s
        .domains(&b)
        .verify_domain(pb::VerifyDomainRequest {
            domain_id: claim_b.id,
        })
        .await);
    assert!(answer.verified, "{answer:?}");

    let admin_view = notifications(&s.billing_client(Some(&a.admin_token)), 0).await;
    assert_eq!(
        count_kind(&admin_view, NotificationKind::DomainClaimDropped),
        1,
        "{admin_view:#?}"
    );
    let dropped = &admin_view[0];
    assert_eq!(dropped.organization_id, a.id);
    assert!(
        dropped.message.contains("shared.example"),
        "the notification names the domain: {dropped:?}"
    );
    let winner = notifications_of(s, b.id).await;
    assert_eq!(
        count_kind(&winner, NotificationKind::DomainClaimDropped),
        0,
        "{winner:#?}"
    );
    for org in [&a, &b] {
        s.assert_ledger_balances(org.id).await;
    }
}

backend_tests!(
    low_balance_threshold_is_configurable: Threshold50,
    low_balance_notifies_once_per_crossing,
    dropped_domain_claim_is_notified: TestDns,
);
