//! Periods: the first one charged at creation, renewed every 30 days, and
//! the unused value refunded when a paid account is deleted.

use super::{acme_with_anna, at, balance, day, funded_org, get_user, of_kind, run_renewals, secs};
use crate::harness::*;
use chrono::Duration;
use mailadmin_client::pb;
use pb::LedgerEntryKind;
use tonic::Code;

/// Three Entry accounts cost 3 × 2.50 per 30 days, charged at creation and
/// again when they renew, once however many runs (docs/rules.md, "Periods").
/// The master account is never billed.
async fn three_entry_accounts_cost_seven_fifty(s: &TestServer) {
    let org = funded_org(s, "Acme", Plan::Entry).await;
    let mut users = Vec::new();
    for name in ["anna", "bert", "carl"] {
        let created = s.create_user(&org.admin, org.id, name, Plan::Entry).await;
        let user = get_user(s, created.id).await;
        assert_eq!(user.plan, Plan::Entry as i32);
        assert_eq!(
            secs(&user.paid_until),
            at(day(30)),
            "the first period starts at creation and lasts 30 days"
        );
        assert!(!user.unpaid);
        users.push(user);
    }

    let ledger = s.assert_ledger_balances(org.id).await;
    let charges = of_kind(&ledger, LedgerEntryKind::Charge);
    assert_eq!(charges.len(), 3, "one charge per account: {ledger:#?}");
    for (charge, user) in charges.iter().zip(&users) {
        assert_eq!(amount(&charge.amount), "-2.50");
        assert_eq!(charge.user_id, user.id);
        assert_eq!(charge.plan, Plan::Entry as i32);
        assert_eq!(charge.period_seq, 1);
    }
    assert!(
        ledger.iter().all(|e| e.user_id != org.master.id),
        "the master account is never billed: {ledger:#?}"
    );
    let view = balance(s, org.id).await;
    assert_eq!(amount(&view.balance), "992.50");
    assert_eq!(amount(&view.monthly_cost), "7.50");
    assert_eq!(amount(&view.low_balance_threshold), "20.00");
    assert!(!view.low_balance);
    assert_eq!(view.unpaid_accounts, 0);
    let master = get_user(s, org.master.id).await;
    assert_eq!(master.paid_until, None, "the master has no paid period");

    s.advance(Duration::days(30));
    let run = run_renewals(s).await;
    assert_eq!(run.charged, 3, "{run:?}");
    assert_eq!(amount(&run.total_charged), "7.50");
    assert_eq!((run.moved_to_free, run.unpaid), (0, 0));
    let again = run_renewals(s).await;
    assert_eq!(again.charged, 0, "a second run charges nothing: {again:?}");
    assert_eq!(amount(&again.total_charged), "0.00");

    for user in &users {
        let user = get_user(s, user.id).await;
        assert_eq!(secs(&user.paid_until), at(day(60)), "{user:?}");
        assert_eq!(user.plan, Plan::Entry as i32);
    }
    let ledger = s.assert_ledger_balances(org.id).await;
    let renewals: Vec<_> = of_kind(&ledger, LedgerEntryKind::Charge)
        .into_iter()
        .filter(|e| e.period_seq == 2)
        .collect();
    assert_eq!(renewals.len(), 3, "{ledger:#?}");
    assert!(renewals.iter().all(|e| amount(&e.amount) == "-2.50"));
    assert_eq!(amount(&balance(s, org.id).await.balance), "985.00");
}

/// The CreateUser answer of a paid account shows its first period:
/// paid_until is creation + 30 days, as GetUser shows it afterwards
/// (docs/rules.md, "Account fields").
async fn create_user_answer_shows_the_paid_period(s: &TestServer) {
    let (org, created) = acme_with_anna(s).await;
    let stored = get_user(s, created.id).await;
    assert_eq!(secs(&stored.paid_until), at(day(30)), "GetUser: {stored:?}");
    assert_eq!(
        secs(&created.paid_until),
        at(day(30)),
        "the CreateUser answer shows the period just charged: {created:?}"
    );
    let free = s.create_user(&org.admin, org.id, "bert", Plan::Free).await;
    assert_eq!(free.paid_until, None, "Free has no paid period");
    s.assert_ledger_balances(org.id).await;
}

/// Deleting an Entry account 20 days into its period refunds the unused
/// 10 days: 0.83. An enabled account cannot be deleted (and refunds
/// nothing); a deleted account never renews (docs/rules.md, "Deletion refund").
async fn deleting_refunds_the_unused_value(s: &TestServer) {
    let (org, anna) = acme_with_anna(s).await;
    s.advance(Duration::days(20));
    let mut admin = org.admin.clone();
    assert_code(
        admin
            .delete_user(pb::DeleteUserRequest { user_id: anna.id })
            .await,
        Code::FailedPrecondition,
    );
    assert_eq!(amount(&balance(s, org.id).await.balance), "997.50");

    ok(admin
        .disable_user(pb::DisableUserRequest { user_id: anna.id })
        .await);
    ok(admin
        .delete_user(pb::DeleteUserRequest { user_id: anna.id })
        .await);

    let ledger = s.assert_ledger_balances(org.id).await;
    let refunds = of_kind(&ledger, LedgerEntryKind::Refund);
    assert_eq!(refunds.len(), 1, "{ledger:#?}");
    assert_eq!(amount(&refunds[0].amount), "0.83");
    assert_eq!(
        (refunds[0].user_id, refunds[0].plan, refunds[0].period_seq),
        (anna.id, Plan::Entry as i32, 1)
    );
    let view = balance(s, org.id).await;
    assert_eq!(amount(&view.balance), "998.33");
    assert_eq!(amount(&view.monthly_cost), "0.00");
    assert_eq!(view.first_unpaid_renewal_at, None);

    s.advance(Duration::days(30));
    let run = run_renewals(s).await;
    assert_eq!(run.charged, 0, "a deleted account never renews: {run:?}");
    let ledger = s.assert_ledger_balances(org.id).await;
    assert_eq!(of_kind(&ledger, LedgerEntryKind::Charge).len(), 1);
}

backend_tests!(
    three_entry_accounts_cost_seven_fifty,
    create_user_answer_shows_the_paid_period,
    deleting_refunds_the_unused_value,
);
