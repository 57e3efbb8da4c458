//! Billing: prepaid credit and its ledger, the first period charged at
//! creation, prorated plan changes, refunds on deletion, renewals (missed
//! periods, Free fallback, unpaid accounts), low-balance notifications, the
//! simulated first unpaid renewal, the plan catalog, idempotent top-ups and
//! plan changes, and who may read what. After every scenario the balance
//! equals the sum of the ledger ([`TestServer::assert_ledger_balances`]).

use crate::dns_server::TestDns;
use crate::harness::*;
use chrono::{DateTime, Duration, Utc};
use futures::StreamExt;
use futures::future::join_all;
use mailadmin_client::pb;
use pb::{LedgerEntryKind, NotificationKind};
use tonic::{Code, Status};

/// `start_instant() + days`.
fn day(days: i64) -> DateTime<Utc> {
    start_instant() + Duration::days(days)
}

/// The seconds of a wire timestamp.
fn secs(t: &Option<prost_types::Timestamp>) -> Option<i64> {
    t.as_ref().map(|t| {
        assert_eq!(t.nanos, 0, "instants are whole seconds here: {t:?}");
        t.seconds
    })
}

fn at(t: DateTime<Utc>) -> Option<i64> {
    Some(t.timestamp())
}

/// `org` with an ORG_ADMIN API token that never expires in place of its
/// Login session: these tests move the clock by weeks, far past the
/// 12-hour session.
async fn lasting_admin(s: &TestServer, org: Org) -> Org {
    let created = ok(s
        .operator()
        .create_token(pb::CreateTokenRequest {
            role: Role::OrgAdmin as i32,
            organization_id: org.id,
            user_id: 0,
            description: format!("console of {}", org.name),
            ttl_seconds: 0,
        })
        .await);
    Org {
        admin: s.with_token(&created.secret),
        admin_token: created.secret,
        ..org
    }
}

/// An organization with 1000.00 EUR of credit and a lasting admin token.
async fn funded_org(s: &TestServer, name: &str, master_plan: Plan) -> Org {
    let org = s.create_org(name, master_plan).await;
    lasting_admin(s, org).await
}

/// An organization without credit and with a lasting admin token.
async fn unfunded_org(s: &TestServer, name: &str, master_plan: Plan) -> Org {
    let org = s.create_org_without_credit(name, master_plan).await;
    lasting_admin(s, org).await
}

async fn balance(s: &TestServer, organization_id: i64) -> pb::GetBalanceResponse {
    ok(s.billing_operator()
        .get_balance(pb::GetBalanceRequest { organization_id })
        .await)
}

async fn run_renewals(s: &TestServer) -> pb::RunRenewalsResponse {
    ok(s.billing_operator()
        .run_renewals(pb::RunRenewalsRequest {})
        .await)
}

async fn change(
    client: &Client,
    user_id: i64,
    plan: Plan,
    request_id: &str,
) -> Result<tonic::Response<pb::ChangeSubscriptionResponse>, Status> {
    client
        .clone()
        .change_subscription(pb::ChangeSubscriptionRequest {
            user_id,
            plan: plan as i32,
            request_id: request_id.to_string(),
        })
        .await
}

async fn preview(
    billing: &BillingClient,
    user_id: i64,
    plan: Plan,
) -> Result<tonic::Response<pb::PreviewSubscriptionChangeResponse>, Status> {
    billing
        .clone()
        .preview_subscription_change(pb::PreviewSubscriptionChangeRequest {
            user_id,
            plan: plan as i32,
        })
        .await
}

async fn get_user(s: &TestServer, user_id: i64) -> pb::User {
    ok(s.operator().get_user(pb::GetUserRequest { user_id }).await)
        .user
        .expect("user in the answer")
}

fn kind_of(entry: &pb::LedgerEntry) -> LedgerEntryKind {
    LedgerEntryKind::try_from(entry.kind).unwrap_or(LedgerEntryKind::Unspecified)
}

/// The ledger entries of `kind`, oldest first.
fn of_kind(ledger: &[pb::LedgerEntry], kind: LedgerEntryKind) -> Vec<pb::LedgerEntry> {
    ledger
        .iter()
        .rev()
        .filter(|e| kind_of(e) == kind)
        .cloned()
        .collect()
}

/// How many notifications of `kind`.
fn count_kind(found: &[pb::Notification], kind: NotificationKind) -> usize {
    found.iter().filter(|n| n.kind == kind as i32).count()
}

async fn notifications_of(s: &TestServer, organization_id: i64) -> Vec<pb::Notification> {
    notifications(&s.billing_operator(), organization_id).await
}

/// The seed's example: three Entry accounts cost 3 × 2.50 per 30 days,
/// charged at creation and again when they renew, once however many runs.
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
/// paid_until is creation + 30 days, as GetUser shows it afterwards.
async fn create_user_answer_shows_the_paid_period(s: &TestServer) {
    let org = funded_org(s, "Acme", Plan::Entry).await;
    let created = s.create_user(&org.admin, org.id, "anna", Plan::Entry).await;
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

/// Entry → Pro 10 days into a 30-day period: the unused 20 days of 2.50
/// come back (1.67), Pro is charged in full (7.50), net 5.83; the preview
/// says the same beforehand; the new period starts now.
async fn upgrade_after_ten_days_is_prorated(s: &TestServer) {
    let org = funded_org(s, "Acme", Plan::Entry).await;
    let anna = s.create_user(&org.admin, org.id, "anna", Plan::Entry).await;
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

/// Deleting an Entry account 20 days into its period refunds the unused
/// 10 days: 0.83. An enabled account cannot be deleted (and refunds
/// nothing); a deleted account never renews.
async fn deleting_refunds_the_unused_value(s: &TestServer) {
    let org = funded_org(s, "Acme", Plan::Entry).await;
    let anna = s.create_user(&org.admin, org.id, "anna", Plan::Entry).await;
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

/// 50 concurrent Entry → Pro upgrades (5.83 each) against a credit of
/// exactly 10 × 5.83: exactly 10 succeed, the other 40 are refused with
/// what was needed and what was available, and the credit ends at 0.00,
/// never below.
async fn concurrent_upgrades_spend_the_credit_exactly(s: &TestServer) {
    const ACCOUNTS: usize = 50;
    // A Pro master: 100 accounts allowed.
    let org = unfunded_org(s, "Acme", Plan::Pro).await;
    s.top_up(org.id, "125.00", "accounts").await;
    let created: Vec<pb::User> = futures::stream::iter(0..ACCOUNTS)
        .map(|i| {
            let admin = org.admin.clone();
            async move {
                ok(admin
                    .clone()
                    .create_user(pb::CreateUserRequest {
                        organization_id: 0,
                        account: Some(new_account(&format!("user{i:02}"), Plan::Entry)),
                        request_id: String::new(),
                    })
                    .await)
                .user
                .expect("user in the answer")
            }
        })
        .buffer_unordered(4)
        .collect()
        .await;
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

/// TopUp replayed (20 concurrent calls, one idempotency key) credits once
/// and every answer carries the first entry; another amount (or another
/// organization) under a used key is ALREADY_EXISTS; bad amounts are
/// INVALID_ARGUMENT naming the field, and credit nothing.
async fn top_up_is_idempotent_and_validated(s: &TestServer) {
    let org = unfunded_org(s, "Acme", Plan::Entry).await;
    let other = unfunded_org(s, "Bravo", Plan::Entry).await;
    let billing = s.billing_operator();
    let request = |organization_id: i64, amount: &str, key: &str| pb::TopUpRequest {
        organization_id,
        amount: Some(eur(amount)),
        idempotency_key: key.to_string(),
        payment_reference: format!("psp-{key}"),
    };

    let answers = join_all((0..20).map(|_| {
        let mut billing = billing.clone();
        let request = request(org.id, "12.50", "payment-1");
        async move { billing.top_up(request).await }
    }))
    .await;
    let answers: Vec<pb::TopUpResponse> = answers.into_iter().map(ok).collect();
    let first = answers[0].entry.clone().expect("entry in the answer");
    assert_eq!(kind_of(&first), LedgerEntryKind::Topup);
    assert_eq!(amount(&first.amount), "12.50");
    assert_eq!(amount(&first.balance_after), "12.50");
    assert_eq!(first.reference, "psp-payment-1");
    assert_eq!(first.organization_id, org.id);
    for answer in &answers {
        assert_eq!(
            answer.entry.as_ref().map(|e| e.id),
            Some(first.id),
            "every replay answers the first entry"
        );
        assert_eq!(amount(&answer.balance), "12.50");
    }
    let ledger = s.assert_ledger_balances(org.id).await;
    assert_eq!(ledger.len(), 1, "credited once: {ledger:#?}");
    assert_eq!(amount(&balance(s, org.id).await.balance), "12.50");

    // The same key again, later: still the first entry.
    let replay = ok(billing
        .clone()
        .top_up(request(org.id, "12.50", "payment-1"))
        .await);
    assert_eq!(replay.entry.map(|e| e.id), Some(first.id));

    assert_code(
        billing
            .clone()
            .top_up(request(org.id, "99.00", "payment-1"))
            .await,
        Code::AlreadyExists,
    );
    assert_code(
        billing
            .clone()
            .top_up(request(other.id, "12.50", "payment-1"))
            .await,
        Code::AlreadyExists,
    );

    let mut failures = Vec::new();
    for (amount_text, currency, field) in [
        ("0", "EUR", "amount.amount"),
        ("0.00", "EUR", "amount.amount"),
        ("-5", "EUR", "amount.amount"),
        ("1.234", "EUR", "amount.amount"),
        ("1e3", "EUR", "amount.amount"),
        ("abc", "EUR", "amount.amount"),
        ("", "EUR", "amount.amount"),
        ("10.00", "USD", "amount.currency"),
    ] {
        let mut bad = request(
            org.id,
            amount_text,
            &format!("bad-{amount_text}-{currency}"),
        );
        bad.amount = Some(pb::Money {
            amount: amount_text.to_string(),
            currency: currency.to_string(),
        });
        if let Err(e) = check_invalid(billing.clone().top_up(bad).await, field) {
            failures.push(format!("{amount_text:?} {currency}: {e}"));
        }
    }
    let mut missing = request(org.id, "1.00", "no-amount");
    missing.amount = None;
    if let Err(e) = check_invalid(billing.clone().top_up(missing).await, "amount") {
        failures.push(format!("no amount: {e}"));
    }
    if let Err(e) = check_invalid(
        billing.clone().top_up(request(org.id, "1.00", "  ")).await,
        "idempotency_key",
    ) {
        failures.push(format!("blank key: {e}"));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_code(
        billing
            .clone()
            .top_up(request(999_999, "1.00", "nobody"))
            .await,
        Code::NotFound,
    );

    let ledger = s.assert_ledger_balances(org.id).await;
    assert_eq!(ledger.len(), 1, "nothing else credited: {ledger:#?}");
    assert_eq!(amount(&balance(s, org.id).await.balance), "12.50");
    assert!(s.assert_ledger_balances(other.id).await.is_empty());
}

/// A top-up the credit cannot hold (the sum would overflow) is refused
/// with a clear error and credits nothing; the server keeps answering.
async fn top_up_beyond_the_representable_is_refused(s: &TestServer) {
    let org = unfunded_org(s, "Acme", Plan::Entry).await;
    // The credit holds at most 1,000,000,000.00 EUR.
    let huge = "1000000000.00";
    assert_eq!(s.top_up(org.id, huge, "huge-1").await, huge);
    let second = s
        .billing_operator()
        .top_up(pb::TopUpRequest {
            organization_id: org.id,
            amount: Some(eur("0.01")),
            idempotency_key: "huge-2".into(),
            payment_reference: "psp-huge-2".into(),
        })
        .await;
    assert_code_in(
        second,
        &[
            Code::InvalidArgument,
            Code::FailedPrecondition,
            Code::OutOfRange,
        ],
    );
    assert_eq!(amount(&balance(s, org.id).await.balance), huge);
    assert_eq!(s.assert_ledger_balances(org.id).await.len(), 1);
    // Too large for any credit at all: INVALID_ARGUMENT on the amount.
    assert_invalid(
        s.billing_operator()
            .top_up(pb::TopUpRequest {
                organization_id: org.id,
                amount: Some(eur("90000000000000000.00")),
                idempotency_key: "huge-3".into(),
                payment_reference: "psp-huge-3".into(),
            })
            .await,
        "amount.amount",
    );
}

/// The low-balance threshold is configurable (`--low-balance-threshold`).
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

/// A retried ChangeSubscription (same request_id) applies once and answers
/// the first result, retried one after the other or concurrently; the same
/// request_id for another plan is ALREADY_EXISTS.
async fn retried_change_applies_once(s: &TestServer) {
    let org = funded_org(s, "Acme", Plan::Entry).await;
    let anna = s.create_user(&org.admin, org.id, "anna", Plan::Entry).await;
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
/// master's plan is not changed through ChangeSubscription.
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

/// Concurrent renewal runs charge each due period once between them.
async fn concurrent_renewal_runs_charge_once(s: &TestServer) {
    const ACCOUNTS: usize = 20;
    let org = funded_org(s, "Acme", Plan::Pro).await;
    let users: Vec<pb::User> = futures::stream::iter(0..ACCOUNTS)
        .map(|i| {
            let admin = org.admin.clone();
            async move {
                ok(admin
                    .clone()
                    .create_user(pb::CreateUserRequest {
                        organization_id: 0,
                        account: Some(new_account(&format!("user{i:02}"), Plan::Entry)),
                        request_id: String::new(),
                    })
                    .await)
                .user
                .expect("user in the answer")
            }
        })
        .buffer_unordered(4)
        .collect()
        .await;
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
/// periods), and a disabled account keeps renewing.
async fn renewals_charge_missed_periods_and_disabled_accounts(s: &TestServer) {
    let org = funded_org(s, "Acme", Plan::Entry).await;
    let anna = s.create_user(&org.admin, org.id, "anna", Plan::Entry).await;
    let bert = s.create_user(&org.admin, org.id, "bert", Plan::Entry).await;
    ok(org
        .admin
        .clone()
        .disable_user(pb::DisableUserRequest { user_id: bert.id })
        .await);

    s.advance(Duration::days(95));
    let run = run_renewals(s).await;
    assert_eq!(run.charged, 6, "3 periods for each of 2 accounts: {run:?}");
    assert_eq!(amount(&run.total_charged), "15.00");
    assert_eq!(run_renewals(s).await.charged, 0);

    for user in [&anna, &bert] {
        let stored = get_user(s, user.id).await;
        assert_eq!(secs(&stored.paid_until), at(day(120)), "{stored:?}");
        assert!(!stored.unpaid);
    }
    assert_eq!(
        get_user(s, bert.id).await.state,
        AccountState::Disabled as i32
    );
    let ledger = s.assert_ledger_balances(org.id).await;
    for user in [&anna, &bert] {
        let seqs: Vec<i64> = of_kind(&ledger, LedgerEntryKind::Charge)
            .into_iter()
            .filter(|e| e.user_id == user.id)
            .map(|e| e.period_seq)
            .collect();
        assert_eq!(seqs, vec![1, 2, 3, 4], "{}", user.username);
    }
    assert_eq!(amount(&balance(s, org.id).await.balance), "980.00");
}

/// A renewal without credit moves the account to Free while the
/// organization's free quota allows (an Entry master: 2), with a
/// MOVED_TO_FREE notification; beyond it the account stays on its plan,
/// unpaid, with one RENEWAL_FAILED notification, retried by every run;
/// once the credit allows, the next run charges it and clears unpaid.
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

/// One LOW_BALANCE notification per downward crossing of 20.00: not at
/// exactly 20.00, not again while below, again after a top-up above and a
/// new crossing; a renewal run that crosses notifies once. GetBalance's
/// low_balance flag follows the credit.
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

/// GetBalance.first_unpaid_renewal_at simulates the renewals to come: with
/// credit for N renewals it is the (N+1)-th renewal date, in time order
/// across accounts; unset when nothing is paid or the credit covers the
/// next 400 days.
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

/// The catalog: the defaults; an operator changes Entry's price to 3.00,
/// which applies from each account's next period (the refund of a current
/// period still uses what it was charged); Free with a price, a negative
/// price or a plan listed twice is INVALID_ARGUMENT; org admins may not
/// read or change it.
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
        "SPEC's default catalog"
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

/// With a Free master the management RPCs are locked, but balance, ledger
/// and notifications stay readable by its admin. An org admin gets
/// NOT_FOUND for another organization's billing, exactly as for one that
/// does not exist.
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

/// The organizations whose claim on a domain was dropped (another one
/// verified it first) get a DOMAIN_CLAIM_DROPPED notification; the winner
/// does not.
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
    three_entry_accounts_cost_seven_fifty,
    create_user_answer_shows_the_paid_period,
    upgrade_after_ten_days_is_prorated,
    deleting_refunds_the_unused_value,
    concurrent_upgrades_spend_the_credit_exactly,
    top_up_is_idempotent_and_validated,
    top_up_beyond_the_representable_is_refused,
    low_balance_threshold_is_configurable: Threshold50,
    retried_change_applies_once,
    insufficient_credit_changes_nothing,
    renewals_charge_missed_periods_and_disabled_accounts,
    concurrent_renewal_runs_charge_once,
    renewal_without_credit_moves_to_free_then_unpaid,
    low_balance_notifies_once_per_crossing,
    first_unpaid_renewal_is_simulated,
    plan_catalog_prices_apply_from_the_next_period,
    billing_reads_by_organization,
    dropped_domain_claim_is_notified: TestDns,
);
