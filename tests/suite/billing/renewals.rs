//! Renewals: each due period charged once, missed periods after downtime,
//! and what happens when the credit cannot pay.

use super::{
    at, balance, count_kind, day, entry_accounts, funded_org, get_user, notifications_of, of_kind,
    run_renewals, secs, unfunded_org,
};
use crate::harness::*;
use chrono::Duration;
use futures::future::join_all;
use mailadmin_client::pb;
use pb::{LedgerEntryKind, NotificationKind};

/// Concurrent renewal runs charge each due period once between them
/// (docs/rules.md, "Renewals").
async fn concurrent_renewal_runs_charge_once(s: &TestServer) {
    const ACCOUNTS: usize = 20;
    let org = funded_org(s, "Acme", Plan::Pro).await;
    let users = entry_accounts(&org, ACCOUNTS).await;
    s.advance(Duration::days(30));
    let runs = join_all((0..8).map(|_| {
        let mut billing = s.billing_operator();
        async move { billing.run_renewals(pb::RunRenewalsRequest {}).await }
    }))
    .await;
    let runs: Vec<pb::RunRenewalsResponse> = runs.into_iter().map(ok).collect();
    let charged: i32 = runs.iter().map(|r| r.charged).sum();
    let total: i64 = runs.iter().map(|r| cents(&amount(&r.total_charged))).sum();
    assert_eq!(
        charged, ACCOUNTS as i32,
        "one charge per account between the runs: {runs:?}"
    );
    assert_eq!(euros(total), "50.00");
    let ledger = s.assert_ledger_balances(org.id).await;
    let mut renewed: Vec<i64> = of_kind(&ledger, LedgerEntryKind::Charge)
        .into_iter()
        .filter(|e| e.period_seq == 2)
        .map(|e| e.user_id)
        .collect();
    renewed.sort_unstable();
    let mut expected: Vec<i64> = users.iter().map(|u| u.id).collect();
    expected.sort_unstable();
    assert_eq!(renewed, expected, "each account renewed once");
    assert_eq!(amount(&balance(s, org.id).await.balance), "900.00");
}

/// Renewals after downtime charge each missed period in turn (95 days: 3
/// periods), and disabled and suspended accounts keep renewing
/// (docs/rules.md, "Renewals", "Account states").
async fn renewals_charge_missed_periods_and_disabled_accounts(s: &TestServer) {
    let org = funded_org(s, "Acme", Plan::Entry).await;
    let anna = s.create_user(&org.admin, org.id, "anna", Plan::Entry).await;
    let bert = s.create_user(&org.admin, org.id, "bert", Plan::Entry).await;
    let cleo = s.create_user(&org.admin, org.id, "cleo", Plan::Entry).await;
    ok(org
        .admin
        .clone()
        .disable_user(pb::DisableUserRequest { user_id: bert.id })
        .await);
    ok(org
        .admin
        .clone()
        .suspend_user(pb::SuspendUserRequest { user_id: cleo.id })
        .await);

    s.advance(Duration::days(95));
    let run = run_renewals(s).await;
    assert_eq!(run.charged, 9, "3 periods for each of 3 accounts: {run:?}");
    assert_eq!(amount(&run.total_charged), "22.50");
    assert_eq!(run_renewals(s).await.charged, 0);

    for user in [&anna, &bert, &cleo] {
        let stored = get_user(s, user.id).await;
        assert_eq!(secs(&stored.paid_until), at(day(120)), "{stored:?}");
        assert!(!stored.unpaid);
    }
    assert_eq!(
        get_user(s, bert.id).await.state,
        AccountState::Disabled as i32
    );
    assert_eq!(
        get_user(s, cleo.id).await.state,
        AccountState::Suspended as i32
    );
    let ledger = s.assert_ledger_balances(org.id).await;
    for user in [&anna, &bert, &cleo] {
        let seqs: Vec<i64> = of_kind(&ledger, LedgerEntryKind::Charge)
            .into_iter()
            .filter(|e| e.user_id == user.id)
            .map(|e| e.period_seq)
            .collect();
        assert_eq!(seqs, vec![1, 2, 3, 4], "{}", user.username);
    }
    assert_eq!(amount(&balance(s, org.id).await.balance), "970.00");
}

/// A renewal without credit moves the account to Free while the
/// organization's free quota allows (an Entry master: 2), with a
/// MOVED_TO_FREE notification; beyond it the account stays on its plan,
/// unpaid, with one RENEWAL_FAILED notification, retried by every run;
/// once the credit allows, the next run charges it and clears unpaid
/// (docs/rules.md, "Renewals").
async fn renewal_without_credit_moves_to_free_then_unpaid(s: &TestServer) {
    let org = unfunded_org(s, "Acme", Plan::Entry).await;
    s.top_up(org.id, "7.50", "three accounts").await;
    let anna = s.create_user(&org.admin, org.id, "anna", Plan::Entry).await;
    let bert = s.create_user(&org.admin, org.id, "bert", Plan::Entry).await;
    let carl = s.create_user(&org.admin, org.id, "carl", Plan::Entry).await;
    assert_eq!(amount(&balance(s, org.id).await.balance), "0.00");

    s.advance(Duration::days(30) + Duration::hours(1));
    let run = run_renewals(s).await;
    assert_eq!(
        (run.charged, run.moved_to_free, run.unpaid),
        (0, 2, 1),
        "{run:?}"
    );
    assert_eq!(amount(&run.total_charged), "0.00");
    for user in [&anna, &bert] {
        let stored = get_user(s, user.id).await;
        assert_eq!(stored.plan, Plan::Free as i32, "{stored:?}");
        assert_eq!(stored.paid_until, None);
        assert!(!stored.unpaid);
    }
    let stored = get_user(s, carl.id).await;
    assert_eq!(stored.plan, Plan::Entry as i32, "{stored:?}");
    assert!(stored.unpaid, "{stored:?}");
    assert_eq!(secs(&stored.paid_until), at(day(30)));

    let found = notifications_of(s, org.id).await;
    assert_eq!(
        count_kind(&found, NotificationKind::MovedToFree),
        2,
        "{found:#?}"
    );
    assert_eq!(
        count_kind(&found, NotificationKind::RenewalFailed),
        1,
        "{found:#?}"
    );
    let failed = found
        .iter()
        .find(|n| n.kind == NotificationKind::RenewalFailed as i32)
        .expect("RENEWAL_FAILED");
    assert!(failed.message.contains("carl"), "{failed:?}");
    assert_eq!(failed.organization_id, org.id);
    for name in ["anna", "bert"] {
        assert!(
            found.iter().any(|n| n.kind == NotificationKind::MovedToFree as i32
                && n.message.contains(name)),
            "MOVED_TO_FREE names {name}: {found:#?}"
        );
    }
    let view = balance(s, org.id).await;
    assert_eq!(view.unpaid_accounts, 1);
    assert_eq!(amount(&view.monthly_cost), "2.50");
    assert_eq!(
        secs(&view.first_unpaid_renewal_at),
        at(day(30) + Duration::hours(1)),
        "an unpaid renewal is due now"
    );

    // Every later run retries, without notifying again.
    s.advance(Duration::days(1));
    let run = run_renewals(s).await;
    assert_eq!((run.charged, run.moved_to_free, run.unpaid), (0, 0, 1));
    let found = notifications_of(s, org.id).await;
    assert_eq!(count_kind(&found, NotificationKind::RenewalFailed), 1);
    assert_eq!(count_kind(&found, NotificationKind::MovedToFree), 2);

    s.top_up(org.id, "2.50", "for carl").await;
    let run = run_renewals(s).await;
    assert_eq!((run.charged, run.moved_to_free, run.unpaid), (1, 0, 0));
    assert_eq!(amount(&run.total_charged), "2.50");
    let stored = get_user(s, carl.id).await;
    assert!(!stored.unpaid, "{stored:?}");
    assert_eq!(stored.plan, Plan::Entry as i32);
    assert_eq!(
        secs(&stored.paid_until),
        at(day(60)),
        "the renewal starts where the last period ended"
    );
    let view = balance(s, org.id).await;
    assert_eq!(view.unpaid_accounts, 0);
    assert_eq!(amount(&view.balance), "0.00");
    let found = notifications_of(s, org.id).await;
    assert_eq!(count_kind(&found, NotificationKind::RenewalFailed), 1);
    let ledger = s.assert_ledger_balances(org.id).await;
    let carl_seqs: Vec<i64> = of_kind(&ledger, LedgerEntryKind::Charge)
        .into_iter()
        .filter(|e| e.user_id == carl.id)
        .map(|e| e.period_seq)
        .collect();
    assert_eq!(carl_seqs, vec![1, 2]);
}

backend_tests!(
    concurrent_renewal_runs_charge_once,
    renewals_charge_missed_periods_and_disabled_accounts,
    renewal_without_credit_moves_to_free_then_unpaid,
);
