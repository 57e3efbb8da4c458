//! ChangeSubscription and its preview: the prorated refund and the new
//! charge, idempotent retries, and changes the credit cannot cover.

use super::{
    acme_with_anna, at, balance, change, day, entry_accounts, get_user, of_kind, preview,
    run_renewals, secs, unfunded_org,
};
use crate::harness::*;
use chrono::Duration;
use futures::future::join_all;
use mailadmin_client::pb;
use pb::LedgerEntryKind;
use tonic::Code;

/// Entry → Pro 10 days into a 30-day period: the unused 20 days of 2.50 come
/// back (1.67), Pro is charged in full (7.50), net 5.83; the preview says the
/// same beforehand; the new period starts now (docs/rules.md, "Plan changes").
async fn upgrade_after_ten_days_is_prorated(s: &TestServer) {
    let (org, anna) = acme_with_anna(s).await;
    s.advance(Duration::days(10));

    let billing = s.billing_client(Some(&org.admin_token));
    let quote = ok(preview(&billing, anna.id, Plan::Pro).await);
    assert_eq!(amount(&quote.refund), "1.67");
    assert_eq!(amount(&quote.charge), "7.50");
    assert_eq!(amount(&quote.net), "5.83");
    assert_eq!(amount(&quote.balance), "997.50");
    assert!(quote.affordable);
    assert_eq!(
        amount(&balance(s, org.id).await.balance),
        "997.50",
        "a preview changes nothing"
    );

    let changed = ok(change(&org.admin, anna.id, Plan::Pro, "").await);
    assert_eq!(amount(&changed.refund), "1.67");
    assert_eq!(amount(&changed.charge), "7.50");
    assert_eq!(amount(&changed.net), "5.83");
    assert_eq!(amount(&changed.balance), "991.67");
    let user = changed.user.expect("user in the answer");
    assert_eq!(user.plan, Plan::Pro as i32);
    assert_eq!(
        secs(&user.paid_until),
        at(day(40)),
        "the Pro period starts now"
    );
    let stored = get_user(s, anna.id).await;
    assert_eq!(stored.plan, Plan::Pro as i32);
    assert_eq!(secs(&stored.paid_until), at(day(40)));

    let ledger = s.assert_ledger_balances(org.id).await;
    let refunds = of_kind(&ledger, LedgerEntryKind::Refund);
    assert_eq!(refunds.len(), 1, "{ledger:#?}");
    assert_eq!(amount(&refunds[0].amount), "1.67");
    assert_eq!(
        (refunds[0].user_id, refunds[0].plan, refunds[0].period_seq),
        (anna.id, Plan::Entry as i32, 1)
    );
    let charges = of_kind(&ledger, LedgerEntryKind::Charge);
    assert_eq!(charges.len(), 2, "{ledger:#?}");
    assert_eq!(amount(&charges[1].amount), "-7.50");
    assert_eq!(
        (charges[1].user_id, charges[1].plan, charges[1].period_seq),
        (anna.id, Plan::Pro as i32, 2)
    );
    assert_eq!(amount(&balance(s, org.id).await.monthly_cost), "7.50");

    // The Pro period renews 30 days after the change, at the Pro price.
    s.advance(Duration::days(29));
    assert_eq!(run_renewals(s).await.charged, 0, "not due before day 40");
    s.advance(Duration::days(1));
    let run = run_renewals(s).await;
    assert_eq!(
        (run.charged, amount(&run.total_charged)),
        (1, "7.50".into())
    );
    s.assert_ledger_balances(org.id).await;
}

/// 50 concurrent Entry → Pro upgrades (5.83 each) against a credit of
/// exactly 10 × 5.83: exactly 10 succeed, the other 40 are refused with
/// what was needed and what was available, and the credit ends at 0.00,
/// never below (docs/rules.md, "Credit and ledger").
async fn concurrent_upgrades_spend_the_credit_exactly(s: &TestServer) {
    const ACCOUNTS: usize = 50;
    // A Pro master: 100 accounts allowed.
    let org = unfunded_org(s, "Acme", Plan::Pro).await;
    s.top_up(org.id, "125.00", "accounts").await;
    let created = entry_accounts(&org, ACCOUNTS).await;
    assert_eq!(amount(&balance(s, org.id).await.balance), "0.00");

    s.advance(Duration::days(10));
    assert_eq!(s.top_up(org.id, "58.30", "upgrades").await, "58.30");

    let answers = join_all(
        created
            .iter()
            .map(|user| change(&org.admin, user.id, Plan::Pro, "")),
    )
    .await;
    let mut balances = Vec::new();
    let mut failures = Vec::new();
    for answer in answers {
        match answer {
            Ok(response) => {
                let response = response.into_inner();
                assert_eq!(amount(&response.refund), "1.67");
                assert_eq!(amount(&response.charge), "7.50");
                assert_eq!(amount(&response.net), "5.83");
                let after = cents(&amount(&response.balance));
                assert!(after >= 0, "never negative: {response:?}");
                balances.push(after);
            }
            Err(status) => {
                if status.code() != Code::FailedPrecondition
                    || !status.message().contains("needed")
                    || !status.message().contains("available")
                {
                    failures.push(format!("{:?}: {}", status.code(), status.message()));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "refusals are FAILED_PRECONDITION with needed and available:\n{}",
        failures.join("\n")
    );
    assert_eq!(balances.len(), 10, "exactly 10 of 50 upgrades succeed");
    balances.sort_unstable();
    let expected: Vec<i64> = (0..10).map(|k| k * 583).collect();
    assert_eq!(
        balances, expected,
        "each success took 5.83 from what the previous one left"
    );
    let view = balance(s, org.id).await;
    assert_eq!(amount(&view.balance), "0.00");
    let pro = list_users_where(&s.operator(), org.id, 0, Plan::Pro as i32, "").await;
    assert_eq!(
        pro.iter().filter(|u| !u.is_master).count(),
        10,
        "10 accounts (besides the Pro master) on Pro"
    );
    let ledger = s.assert_ledger_balances(org.id).await;
    assert_eq!(of_kind(&ledger, LedgerEntryKind::Refund).len(), 10);
    let pro_charges = of_kind(&ledger, LedgerEntryKind::Charge)
        .into_iter()
        .filter(|e| e.plan == Plan::Pro as i32)
        .count();
    assert_eq!(pro_charges, 10);
}

/// A retried ChangeSubscription (same request_id) applies once and answers the
/// first result, retried one after the other or concurrently; the same
/// request_id for another plan is ALREADY_EXISTS
/// (docs/rules.md, "Plan changes").
async fn retried_change_applies_once(s: &TestServer) {
    let (org, anna) = acme_with_anna(s).await;
    let bert = s.create_user(&org.admin, org.id, "bert", Plan::Entry).await;
    s.advance(Duration::days(10));

    let first = ok(change(&org.admin, anna.id, Plan::Pro, "upgrade-anna").await);
    let retry = ok(change(&org.admin, anna.id, Plan::Pro, "upgrade-anna").await);
    for answer in [&first, &retry] {
        assert_eq!(amount(&answer.refund), "1.67");
        assert_eq!(amount(&answer.charge), "7.50");
        assert_eq!(amount(&answer.net), "5.83");
        assert_eq!(amount(&answer.balance), "989.17");
        let user = answer.user.as_ref().expect("user in the answer");
        assert_eq!(user.plan, Plan::Pro as i32);
        assert_eq!(secs(&user.paid_until), at(day(40)));
    }
    assert_code(
        change(&org.admin, anna.id, Plan::Free, "upgrade-anna").await,
        Code::AlreadyExists,
    );
    assert_eq!(get_user(s, anna.id).await.plan, Plan::Pro as i32);

    // Ten concurrent retries of one request.
    let answers =
        join_all((0..10).map(|_| change(&org.admin, bert.id, Plan::Pro, "upgrade-bert"))).await;
    let mut failures = Vec::new();
    for answer in answers {
        match answer {
            Ok(answer) => {
                let answer = answer.into_inner();
                if (
                    amount(&answer.refund),
                    amount(&answer.charge),
                    amount(&answer.net),
                ) != ("1.67".into(), "7.50".into(), "5.83".into())
                {
                    failures.push(format!("another answer: {answer:?}"));
                }
            }
            Err(status) => failures.push(format!("{:?}: {}", status.code(), status.message())),
        }
    }

    let ledger = s.assert_ledger_balances(org.id).await;
    for user in [&anna, &bert] {
        let charges: Vec<_> = of_kind(&ledger, LedgerEntryKind::Charge)
            .into_iter()
            .filter(|e| e.user_id == user.id)
            .collect();
        assert_eq!(
            charges
                .iter()
                .map(|e| (e.period_seq, amount(&e.amount)))
                .collect::<Vec<_>>(),
            vec![(1, "-2.50".to_string()), (2, "-7.50".to_string())],
            "{}: the first period, then one Pro period",
            user.username
        );
        let refunds = of_kind(&ledger, LedgerEntryKind::Refund)
            .into_iter()
            .filter(|e| e.user_id == user.id)
            .count();
        assert_eq!(refunds, 1, "{}: one refund", user.username);
    }
    assert_eq!(amount(&balance(s, org.id).await.balance), "983.34");
    assert!(
        failures.is_empty(),
        "concurrent retries of one request_id answer the first result:\n{}",
        failures.join("\n")
    );
}

/// Without enough credit a plan change is refused (FAILED_PRECONDITION
/// with needed and available) and changes nothing; a paid CreateUser is
/// refused and creates nothing; exactly enough credit is enough. The
/// master's plan is not changed through ChangeSubscription
/// (docs/rules.md, "Plan changes").
async fn insufficient_credit_changes_nothing(s: &TestServer) {
    let org = unfunded_org(s, "Acme", Plan::Entry).await;
    s.top_up(org.id, "5.00", "first").await;
    let anna = s.create_user(&org.admin, org.id, "anna", Plan::Entry).await;
    s.advance(Duration::days(10));

    let billing = s.billing_client(Some(&org.admin_token));
    let quote = ok(preview(&billing, anna.id, Plan::Pro).await);
    assert_eq!(amount(&quote.net), "5.83");
    assert_eq!(amount(&quote.balance), "2.50");
    assert!(!quote.affordable);

    let before = s.assert_ledger_balances(org.id).await;
    let refused = assert_code(
        change(&org.admin, anna.id, Plan::Pro, "").await,
        Code::FailedPrecondition,
    );
    for part in ["needed", "5.83", "available", "2.50"] {
        assert!(
            refused.message().contains(part),
            "the refusal names {part:?}: {:?}",
            refused.message()
        );
    }
    let user = get_user(s, anna.id).await;
    assert_eq!(user.plan, Plan::Entry as i32);
    assert_eq!(secs(&user.paid_until), at(day(30)));
    let after = s.assert_ledger_balances(org.id).await;
    assert_eq!(after, before, "the ledger is unchanged");
    assert_eq!(amount(&balance(s, org.id).await.balance), "2.50");

    // CreateUser on Pro (7.50) with 2.50: refused, nothing created.
    let refused = assert_code(
        org.admin
            .clone()
            .create_user(pb::CreateUserRequest {
                organization_id: 0,
                account: Some(new_account("bert", Plan::Pro)),
                request_id: String::new(),
                ..Default::default()
            })
            .await,
        Code::FailedPrecondition,
    );
    assert!(
        refused.message().contains("needed") && refused.message().contains("available"),
        "{:?}",
        refused.message()
    );
    let users = s.list_users(&s.operator(), org.id).await;
    assert!(
        users.iter().all(|u| u.username != "bert"),
        "no account was created: {users:#?}"
    );
    assert_eq!(s.assert_ledger_balances(org.id).await, before);
    assert_code(
        s.login("bert", &password_for("bert")).await,
        Code::Unauthenticated,
    );

    // Exactly enough: 2.50 + 5.00 = 7.50 pays Pro, and the name was free.
    s.top_up(org.id, "5.00", "second").await;
    let bert = s.create_user(&org.admin, org.id, "bert", Plan::Pro).await;
    assert_eq!(bert.plan, Plan::Pro as i32);
    assert_eq!(amount(&balance(s, org.id).await.balance), "0.00");

    // The master's plan is the operator's business (SetMasterPlan).
    assert_code(
        change(&org.admin, org.master.id, Plan::Pro, "").await,
        Code::FailedPrecondition,
    );
    // Changing to the current plan is refused too.
    assert_code(
        change(&org.admin, anna.id, Plan::Entry, "").await,
        Code::FailedPrecondition,
    );
    s.assert_ledger_balances(org.id).await;
}

backend_tests!(
    upgrade_after_ten_days_is_prorated,
    concurrent_upgrades_spend_the_credit_exactly,
    retried_change_applies_once,
    insufficient_credit_changes_nothing,
);
