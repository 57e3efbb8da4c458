//! GetBalance and who may read an organization's balance, ledger and
//! notifications.

use super::{at, balance, change, day, funded_org, get_user, kind_of, preview, secs, unfunded_org};
use crate::harness::*;
use chrono::Duration;
use mailadmin_client::pb;
use pb::LedgerEntryKind;
use tonic::Code;

/// GetBalance.first_unpaid_renewal_at simulates the renewals to come: with
/// credit for N renewals it is the (N+1)-th renewal date, in time order
/// across accounts; unset when nothing is paid or the credit covers the
/// next 400 days (docs/rules.md, "Balance view").
async fn first_unpaid_renewal_is_simulated(s: &TestServer) {
    let org = unfunded_org(s, "Acme", Plan::Entry).await;
    assert_eq!(balance(s, org.id).await.first_unpaid_renewal_at, None);
    s.top_up(org.id, "12.50", "first").await;
    s.create_user(&org.admin, org.id, "anna", Plan::Entry).await; // renews day 30, 60, 90…
    s.advance(Duration::days(10));
    s.create_user(&org.admin, org.id, "bert", Plan::Entry).await; // renews day 40, 70, 100…

    // 7.50 pays 3 renewals: anna d30, bert d40, anna d60; bert d70 is not.
    let view = balance(s, org.id).await;
    assert_eq!(amount(&view.balance), "7.50");
    assert_eq!(amount(&view.monthly_cost), "5.00");
    assert_eq!(secs(&view.first_unpaid_renewal_at), at(day(70)));

    // 12.50 pays 5: …, bert d70, anna d90; bert d100 is not.
    s.top_up(org.id, "5.00", "second").await;
    assert_eq!(
        secs(&balance(s, org.id).await.first_unpaid_renewal_at),
        at(day(100))
    );
    // Another organization, one account created on day 10 with 8.75 left:
    // 3 renewals of 2.50 (d40, d70, d100) are paid, d130 is not.
    let carl_org = unfunded_org(s, "Bravo", Plan::Entry).await;
    s.top_up(carl_org.id, "11.25", "bravo").await;
    s.create_user(&carl_org.admin, carl_org.id, "carl", Plan::Entry)
        .await; // day 10: renews d40, d70, d100…
    let view = balance(s, carl_org.id).await;
    assert_eq!(amount(&view.balance), "8.75");
    assert_eq!(secs(&view.first_unpaid_renewal_at), at(day(130)));

    // Plenty of credit: nothing unpaid within 400 days.
    s.top_up(org.id, "1000.00", "plenty").await;
    assert_eq!(balance(s, org.id).await.first_unpaid_renewal_at, None);

    // After the renewals ran, the simulation continues from the new dates.
    let poor = unfunded_org(s, "Charlie", Plan::Entry).await;
    s.top_up(poor.id, "2.50", "charlie").await;
    s.create_user(&poor.admin, poor.id, "dora", Plan::Entry)
        .await; // day 10, 0.00 left
    assert_eq!(
        secs(&balance(s, poor.id).await.first_unpaid_renewal_at),
        at(day(40)),
        "no credit: the next renewal is unpaid"
    );
    for id in [org.id, carl_org.id, poor.id] {
        s.assert_ledger_balances(id).await;
    }
}

/// With a Free master the management RPCs are locked, but balance, ledger
/// and notifications stay readable by its admin (docs/rules.md, "Console").
/// An org admin gets NOT_FOUND for another organization's billing, exactly
/// as for one that does not exist (docs/rules.md, "Tenancy").
async fn billing_reads_by_organization(s: &TestServer) {
    let free = funded_org(s, "Freebie", Plan::Free).await;
    assert_code(
        free.admin
            .clone()
            .list_users(pb::ListUsersRequest::default())
            .await,
        Code::FailedPrecondition,
    );
    assert_code(
        free.admin
            .clone()
            .create_user(pb::CreateUserRequest {
                organization_id: 0,
                account: Some(new_account("anna", Plan::Entry)),
                request_id: String::new(),
                ..Default::default()
            })
            .await,
        Code::FailedPrecondition,
    );
    let mut free_billing = s.billing_client(Some(&free.admin_token));
    for organization_id in [0, free.id] {
        let view = ok(free_billing
            .get_balance(pb::GetBalanceRequest { organization_id })
            .await);
        assert_eq!(amount(&view.balance), "1000.00");
        let ledger = ok(free_billing
            .list_ledger(pb::ListLedgerRequest {
                organization_id,
                ..Default::default()
            })
            .await);
        assert_eq!(ledger.entries.len(), 1);
        assert_eq!(kind_of(&ledger.entries[0]), LedgerEntryKind::Topup);
        ok(free_billing
            .list_notifications(pb::ListNotificationsRequest {
                organization_id,
                ..Default::default()
            })
            .await);
    }
    assert_ledger_balances(&free_billing, free.id).await;

    let a = funded_org(s, "Acme", Plan::Entry).await;
    let b = funded_org(s, "Bravo", Plan::Entry).await;
    let bob = s.create_user(&b.admin, b.id, "bob", Plan::Entry).await;
    let a_billing = s.billing_client(Some(&a.admin_token));
    let mut failures = Vec::new();
    for organization_id in [b.id, 999_999] {
        let mut c = a_billing.clone();
        let results = [
            (
                "GetBalance",
                c.get_balance(pb::GetBalanceRequest { organization_id })
                    .await
                    .map(drop),
            ),
            (
                "ListLedger",
                c.list_ledger(pb::ListLedgerRequest {
                    organization_id,
                    ..Default::default()
                })
                .await
                .map(drop),
            ),
            (
                "ListNotifications",
                c.list_notifications(pb::ListNotificationsRequest {
                    organization_id,
                    ..Default::default()
                })
                .await
                .map(drop),
            ),
        ];
        for (name, result) in results {
            if let Err(e) = check_code(result, Code::NotFound) {
                failures.push(format!("{name} of organization {organization_id}: {e}"));
            }
        }
    }
    if let Err(e) = check_code(preview(&a_billing, bob.id, Plan::Pro).await, Code::NotFound) {
        failures.push(format!("PreviewSubscriptionChange of B's user: {e}"));
    }
    if let Err(e) = check_code(
        change(&a.admin, bob.id, Plan::Pro, "").await,
        Code::NotFound,
    ) {
        failures.push(format!("ChangeSubscription of B's user: {e}"));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(get_user(s, bob.id).await.plan, Plan::Entry as i32);

    // Operators name the organization.
    assert_invalid(
        s.billing_operator()
            .get_balance(pb::GetBalanceRequest { organization_id: 0 })
            .await,
        "organization_id",
    );
    assert_code(
        s.billing_operator()
            .get_balance(pb::GetBalanceRequest {
                organization_id: 999_999,
            })
            .await,
        Code::NotFound,
    );
    for id in [free.id, a.id, b.id] {
        s.assert_ledger_balances(id).await;
    }
}

backend_tests!(
    first_unpaid_renewal_is_simulated,
    billing_reads_by_organization
);
