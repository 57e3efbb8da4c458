//! TopUp: idempotent by key, validated, and bounded by what the credit can
//! hold.

use super::{balance, kind_of, unfunded_org};
use crate::harness::*;
use futures::future::join_all;
use mailadmin_client::pb;
use pb::LedgerEntryKind;
use tonic::Code;

/// TopUp replayed (20 concurrent calls, one idempotency key) credits once and
/// every answer carries the first entry; another amount (or another
/// organization) under a used key is ALREADY_EXISTS; bad amounts are
/// INVALID_ARGUMENT naming the field, and credit nothing
/// (docs/rules.md, "Top-ups").
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
/// with a clear error and credits nothing; the server keeps answering
/// (docs/rules.md, "Credit and ledger").
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

backend_tests!(
    top_up_is_idempotent_and_validated,
    top_up_beyond_the_representable_is_refused,
);
