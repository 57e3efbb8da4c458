//! Money on the wire (EUR with two decimals, as cents), the ledger and
//! the notifications of an organization, and the check that its balance
//! is the sum of its ledger.

use super::{BillingClient, TestServer, ok};
use mailadmin_client::pb;

impl TestServer {
    /// Credits `amount` (e.g. "12.50") to an organization through TopUp,
    /// with `key` as idempotency key; returns the new balance.
    pub async fn top_up(&self, organization_id: i64, amount: &str, key: &str) -> String {
        let mut billing = self.billing_operator();
        let response = ok(billing
            .top_up(pb::TopUpRequest {
                organization_id,
                amount: Some(eur(amount)),
                idempotency_key: key.to_string(),
                payment_reference: format!("test payment {key}"),
            })
            .await);
        response.balance.expect("balance in the answer").amount
    }

    /// [`assert_ledger_balances`] for `organization_id`, as the operator.
    pub async fn assert_ledger_balances(&self, organization_id: i64) -> Vec<pb::LedgerEntry> {
        assert_ledger_balances(&self.billing_operator(), organization_id).await
    }
}

/// An amount in EUR on the wire.
pub fn eur(amount: &str) -> pb::Money {
    pb::Money {
        amount: amount.to_string(),
        currency: "EUR".to_string(),
    }
}

/// The amount of a Money the server sent, checking it is EUR with exactly
/// two decimals.
#[track_caller]
pub fn amount(money: &Option<pb::Money>) -> String {
    let money = money
        .as_ref()
        .unwrap_or_else(|| panic!("a Money is missing from the answer"));
    assert_eq!(money.currency, "EUR", "currency of {money:?}");
    cents(&money.amount);
    money.amount.clone()
}

/// `"12.50"` / `"-2.50"` → cents. The server always writes two decimals;
/// anything else fails the test.
#[track_caller]
pub fn cents(amount: &str) -> i64 {
    let (negative, digits) = match amount.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, amount),
    };
    let (whole, decimals) = digits
        .split_once('.')
        .unwrap_or_else(|| panic!("{amount:?} has no decimals"));
    assert!(
        decimals.len() == 2
            && !whole.is_empty()
            && whole
                .chars()
                .chain(decimals.chars())
                .all(|c| c.is_ascii_digit()),
        "{amount:?} is not an amount with two decimals"
    );
    let value: i64 =
        whole.parse::<i64>().expect("whole euros") * 100 + decimals.parse::<i64>().expect("cents");
    if negative { -value } else { value }
}

/// Cents → `"12.50"`.
pub fn euros(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    format!("{sign}{}.{:02}", cents.abs() / 100, cents.abs() % 100)
}

/// Every ledger entry of an organization (newest first), reading every
/// page of `page_size`; checks the pages neither repeat nor skip order.
pub async fn ledger_entries(
    billing: &BillingClient,
    organization_id: i64,
    page_size: i32,
) -> Vec<pb::LedgerEntry> {
    let mut billing = billing.clone();
    let mut entries: Vec<pb::LedgerEntry> = Vec::new();
    let mut page_token = String::new();
    for _ in 0..100_000 {
        let page = ok(billing
            .list_ledger(pb::ListLedgerRequest {
                organization_id,
                page_size,
                page_token: page_token.clone(),
            })
            .await);
        assert!(
            page.entries.len() <= page_size as usize,
            "a ledger page holds at most page_size entries"
        );
        for entry in page.entries {
            if let Some(previous) = entries.last() {
                assert!(
                    entry.id < previous.id,
                    "ListLedger is newest first, without repeats: {} after {}",
                    entry.id,
                    previous.id
                );
            }
            entries.push(entry);
        }
        if page.next_page_token.is_empty() {
            return entries;
        }
        page_token = page.next_page_token;
    }
    panic!("ListLedger never reached its last page");
}

/// Every notification of an organization (newest first), all pages.
pub async fn notifications(billing: &BillingClient, organization_id: i64) -> Vec<pb::Notification> {
    let mut billing = billing.clone();
    let mut found = Vec::new();
    let mut page_token = String::new();
    for _ in 0..10_000 {
        let page = ok(billing
            .list_notifications(pb::ListNotificationsRequest {
                organization_id,
                page_size: 10,
                page_token: page_token.clone(),
            })
            .await);
        found.extend(page.notifications);
        if page.next_page_token.is_empty() {
            return found;
        }
        page_token = page.next_page_token;
    }
    panic!("ListNotifications never reached its last page");
}

/// The credit always equals the sum of the ledger
/// (docs/rules.md, "Credit and ledger"). Reads every ledger page and
/// checks, besides the sum: each entry's balance_after is the running sum
/// in id order, never negative; charges are negative,
/// top-ups and refunds positive; every entry is the organization's.
/// Returns the ledger (newest first).
pub async fn assert_ledger_balances(
    billing: &BillingClient,
    organization_id: i64,
) -> Vec<pb::LedgerEntry> {
    let entries = ledger_entries(billing, organization_id, 25).await;
    let balance = ok(billing
        .clone()
        .get_balance(pb::GetBalanceRequest { organization_id })
        .await);
    let balance = cents(&amount(&balance.balance));
    let mut running = 0;
    let mut problems = Vec::new();
    for entry in entries.iter().rev() {
        let value = cents(&amount(&entry.amount));
        running += value;
        let after = cents(&amount(&entry.balance_after));
        if entry.organization_id != organization_id {
            problems.push(format!(
                "entry {} belongs to {}",
                entry.id, entry.organization_id
            ));
        }
        if after != running {
            problems.push(format!(
                "entry {} ({:?} {}): balance_after {} but the running sum is {}",
                entry.id,
                pb::LedgerEntryKind::try_from(entry.kind),
                euros(value),
                euros(after),
                euros(running)
            ));
        }
        if after < 0 {
            problems.push(format!(
                "entry {}: negative balance_after {}",
                entry.id,
                euros(after)
            ));
        }
        let kind = pb::LedgerEntryKind::try_from(entry.kind);
        let sign_ok = match kind {
            Ok(pb::LedgerEntryKind::Charge) => value < 0,
            Ok(pb::LedgerEntryKind::Topup | pb::LedgerEntryKind::Refund) => value > 0,
            Ok(pb::LedgerEntryKind::Adjustment) => value != 0,
            _ => false,
        };
        if !sign_ok {
            problems.push(format!("entry {}: {kind:?} of {}", entry.id, euros(value)));
        }
    }
    assert!(
        problems.is_empty(),
        "ledger of organization {organization_id} is inconsistent:\n{}",
        problems.join("\n")
    );
    assert_eq!(
        euros(balance),
        euros(running),
        "organization {organization_id}: the balance equals the sum of its {} ledger entries",
        entries.len()
    );
    assert!(balance >= 0, "the credit is never negative");
    entries
}
