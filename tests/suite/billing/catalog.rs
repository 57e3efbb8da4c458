//! The plan catalog: its defaults, who may read and change it, and when a
//! new price applies.

use super::{balance, funded_org, of_kind, preview, run_renewals};
use crate::harness::*;
use chrono::Duration;
use mailadmin_client::pb;
use pb::LedgerEntryKind;
use tonic::Code;

/// The catalog: the defaults; an operator changes Entry's price to 3.00,
/// which applies from each account's next period (the refund of a current
/// period still uses what it was charged); Free with a price, a negative
/// price or a plan listed twice is INVALID_ARGUMENT; org admins may not
/// read or change it (docs/rules.md, "Plan catalog").
async fn plan_catalog_prices_apply_from_the_next_period(s: &TestServer) {
    let billing = s.billing_operator();
    let catalog = ok(billing
        .clone()
        .get_plan_catalog(pb::GetPlanCatalogRequest {})
        .await);
    let terms =
        |plan: Plan, price: &str, aliases, accounts, free, domains, console| pb::PlanTerms {
            plan: plan as i32,
            price: Some(eur(price)),
            aliases_per_user: aliases,
            max_accounts: accounts,
            max_free_accounts: free,
            max_domains: domains,
            console,
        };
    let mut plans = catalog.plans.clone();
    plans.sort_by_key(|t| t.plan);
    assert_eq!(
        plans,
        vec![
            terms(Plan::Free, "0.00", 0, 0, 0, 0, false),
            terms(Plan::Entry, "2.50", 10, 10, 2, 1, true),
            terms(Plan::Pro, "7.50", 50, 100, 10, 10, true),
        ],
        "the default catalog"
    );

    let org = funded_org(s, "Acme", Plan::Entry).await;
    let anna = s.create_user(&org.admin, org.id, "anna", Plan::Entry).await;

    let admin_billing = s.billing_client(Some(&org.admin_token));
    assert_code(
        admin_billing
            .clone()
            .update_plan_catalog(pb::UpdatePlanCatalogRequest {
                plans: vec![terms(Plan::Entry, "0.01", 10, 10, 2, 1, true)],
            })
            .await,
        Code::PermissionDenied,
    );
    assert_code(
        admin_billing
            .clone()
            .get_plan_catalog(pb::GetPlanCatalogRequest {})
            .await,
        Code::PermissionDenied,
    );
    let mut failures = Vec::new();
    for (plans, field) in [
        (
            vec![terms(Plan::Free, "1.00", 0, 0, 0, 0, false)],
            "plans[0].price",
        ),
        (
            vec![
                terms(Plan::Entry, "3.00", 10, 10, 2, 1, true),
                terms(Plan::Free, "0.50", 0, 0, 0, 0, false),
            ],
            "plans[1].price",
        ),
        (
            vec![terms(Plan::Entry, "-1.00", 10, 10, 2, 1, true)],
            "plans[0].price",
        ),
        (
            vec![terms(Plan::Entry, "3.001", 10, 10, 2, 1, true)],
            "plans[0].price.amount",
        ),
        (
            vec![
                terms(Plan::Entry, "3.00", 10, 10, 2, 1, true),
                terms(Plan::Entry, "4.00", 10, 10, 2, 1, true),
            ],
            "plans[1].plan",
        ),
    ] {
        if let Err(e) = check_invalid(
            billing
                .clone()
                .update_plan_catalog(pb::UpdatePlanCatalogRequest {
                    plans: plans.clone(),
                })
                .await,
            field,
        ) {
            failures.push(format!("{plans:?}: {e}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    let unchanged = ok(billing
        .clone()
        .get_plan_catalog(pb::GetPlanCatalogRequest {})
        .await);
    assert_eq!(
        unchanged.plans, catalog.plans,
        "a refused update changes nothing"
    );

    let updated = ok(billing
        .clone()
        .update_plan_catalog(pb::UpdatePlanCatalogRequest {
            plans: vec![terms(Plan::Entry, "3.00", 10, 10, 2, 1, true)],
        })
        .await);
    let entry = updated
        .plans
        .iter()
        .find(|t| t.plan == Plan::Entry as i32)
        .expect("Entry in the catalog");
    assert_eq!(amount(&entry.price), "3.00");
    let read = ok(billing
        .clone()
        .get_plan_catalog(pb::GetPlanCatalogRequest {})
        .await);
    assert_eq!(read.plans, updated.plans);
    assert_eq!(
        amount(&balance(s, org.id).await.monthly_cost),
        "3.00",
        "monthly cost at today's prices"
    );

    // The current period was charged 2.50: its unused value is from 2.50.
    s.advance(Duration::days(10));
    let quote = ok(preview(&admin_billing, anna.id, Plan::Pro).await);
    assert_eq!(amount(&quote.refund), "1.67");

    // New accounts and renewals pay 3.00.
    let bert = s.create_user(&org.admin, org.id, "bert", Plan::Entry).await;
    s.advance(Duration::days(20));
    let run = run_renewals(s).await;
    assert_eq!(run.charged, 1, "anna renews on day 30: {run:?}");
    assert_eq!(amount(&run.total_charged), "3.00");
    let ledger = s.assert_ledger_balances(org.id).await;
    let charges: Vec<(i64, i64, String)> = of_kind(&ledger, LedgerEntryKind::Charge)
        .into_iter()
        .map(|e| (e.user_id, e.period_seq, amount(&e.amount)))
        .collect();
    assert_eq!(
        charges,
        vec![
            (anna.id, 1, "-2.50".to_string()),
            (bert.id, 1, "-3.00".to_string()),
            (anna.id, 2, "-3.00".to_string()),
        ]
    );
}

backend_tests!(plan_catalog_prices_apply_from_the_next_period);
