//! Prepaid billing rules: the credit never goes negative, every change is a
//! ledger entry, each paid account has a chain of 30-day periods, plan
//! changes refund the unused value of the current period, renewals charge
//! what came due (or move the account to Free, or mark it unpaid), and a
//! charge that takes the credit below the threshold notifies the admin once
//! per crossing. `store/` carries each decision out in one transaction.

use super::model::{NewAuditEvent, User};
use super::money::{Money, unused_value};
use super::plans::{AccountCounts, Plan, PlanTerms};
use super::{DomainError, DomainResult};
use chrono::{DateTime, Duration, Utc};

/// The most an organization's credit may hold: far beyond any real
/// prepayment, far below where cents overflow.
pub const MAX_CREDIT_CENTS: i64 = 100_000_000_000; // 1,000,000,000.00 EUR

/// Every period lasts 30 days.
pub fn period_length() -> Duration {
    Duration::days(30)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LedgerKind {
    TopUp,
    Charge,
    Refund,
    Adjustment,
}

impl LedgerKind {
    pub fn as_str(self) -> &'static str {
        match self {
            LedgerKind::TopUp => "topup",
            LedgerKind::Charge => "charge",
            LedgerKind::Refund => "refund",
            LedgerKind::Adjustment => "adjustment",
        }
    }

    pub fn parse_stored(stored: &str) -> Option<Self> {
        Some(match stored {
            "topup" => LedgerKind::TopUp,
            "charge" => LedgerKind::Charge,
            "refund" => LedgerKind::Refund,
            "adjustment" => LedgerKind::Adjustment,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerEntry {
    pub id: i64,
    pub organization_id: i64,
    pub kind: LedgerKind,
    /// Signed: credits positive, charges negative.
    pub amount: Money,
    pub balance_after: Money,
    pub user_id: Option<i64>,
    pub plan: Option<Plan>,
    pub period_seq: Option<i64>,
    pub idempotency_key: Option<String>,
    pub reference: Option<String>,
    pub description: String,
    pub created_at: DateTime<Utc>,
}

/// A ledger entry about to be written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewLedgerEntry {
    pub organization_id: i64,
    pub kind: LedgerKind,
    pub amount: Money,
    pub balance_after: Money,
    pub user_id: Option<i64>,
    pub plan: Option<Plan>,
    pub period_seq: Option<i64>,
    pub idempotency_key: Option<String>,
    pub reference: Option<String>,
    pub description: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotificationKind {
    LowBalance,
    RenewalFailed,
    MovedToFree,
    DomainClaimDropped,
}

impl NotificationKind {
    pub fn as_str(self) -> &'static str {
        match self {
            NotificationKind::LowBalance => "low_balance",
            NotificationKind::RenewalFailed => "renewal_failed",
            NotificationKind::MovedToFree => "moved_to_free",
            NotificationKind::DomainClaimDropped => "domain_claim_dropped",
        }
    }

    pub fn parse_stored(stored: &str) -> Option<Self> {
        Some(match stored {
            "low_balance" => NotificationKind::LowBalance,
            "renewal_failed" => NotificationKind::RenewalFailed,
            "moved_to_free" => NotificationKind::MovedToFree,
            "domain_claim_dropped" => NotificationKind::DomainClaimDropped,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    pub id: i64,
    pub organization_id: i64,
    pub kind: NotificationKind,
    pub message: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewNotification {
    pub organization_id: i64,
    pub kind: NotificationKind,
    pub message: String,
}

/// One 30-day period of an account, as charged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Period {
    pub user_id: i64,
    pub organization_id: i64,
    pub seq: i64,
    pub plan: Plan,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub charged: Money,
}

/// Where an account's billing stands after a decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountBilling {
    pub user_id: i64,
    pub plan: Plan,
    /// End of the current paid period; `None` for Free.
    pub paid_until: Option<DateTime<Utc>>,
    pub period_seq: i64,
    pub unpaid: bool,
}

/// A current period closed early, with what it refunded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClosedPeriod {
    pub user_id: i64,
    pub seq: i64,
    pub refunded: Money,
    pub closed_at: DateTime<Utc>,
}

/// Everything one billing decision writes, in one transaction.
#[derive(Debug, Default)]
pub struct BillingWrite {
    pub periods: Vec<Period>,
    pub closed: Vec<ClosedPeriod>,
    pub accounts: Vec<AccountBilling>,
    pub entries: Vec<NewLedgerEntry>,
    pub notifications: Vec<NewNotification>,
    /// Final credit of each organization touched.
    pub balances: Vec<(i64, Money)>,
    pub audit: Vec<NewAuditEvent>,
}

/// One organization's credit within a transaction (its row is locked):
/// every change goes through here, so the credit never goes negative, each
/// change becomes a ledger entry, and crossing the low-balance threshold
/// downwards notifies once.
#[derive(Debug, Clone)]
pub struct Credit {
    pub organization_id: i64,
    pub balance: Money,
    threshold: Money,
    entries: Vec<NewLedgerEntry>,
    notifications: Vec<NewNotification>,
}

/// What a charge needed and what there was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shortfall {
    pub needed: Money,
    pub available: Money,
}

impl From<Shortfall> for DomainError {
    fn from(s: Shortfall) -> DomainError {
        DomainError::InsufficientCredit {
            needed: s.needed.to_decimal(),
            available: s.available.to_decimal(),
        }
    }
}

/// What a ledger entry is about.
#[derive(Debug, Clone, Default)]
pub struct About {
    pub user_id: Option<i64>,
    pub plan: Option<Plan>,
    pub period_seq: Option<i64>,
    pub description: String,
}

impl Credit {
    pub fn new(organization_id: i64, balance: Money, threshold: Money) -> Self {
        Credit {
            organization_id,
            balance,
            threshold,
            entries: Vec::new(),
            notifications: Vec::new(),
        }
    }

    /// Takes `amount` from the credit, or refuses without changing anything.
    pub fn charge(&mut self, amount: Money, about: About) -> Result<(), Shortfall> {
        if amount > self.balance {
            return Err(Shortfall {
                needed: amount,
                available: self.balance,
            });
        }
        let before = self.balance;
        self.balance = Money::from_cents(self.balance.cents() - amount.cents());
        self.push(
            LedgerKind::Charge,
            Money::from_cents(-amount.cents()),
            about,
        );
        if before >= self.threshold && self.balance < self.threshold {
            self.notifications.push(NewNotification {
                organization_id: self.organization_id,
                kind: NotificationKind::LowBalance,
                message: format!(
                    "Your credit is {} EUR, below {} EUR. Please top it up so renewals keep being paid.",
                    self.balance, self.threshold
                ),
            });
        }
        Ok(())
    }

    /// Adds `amount` (a refund, a top-up) to the credit; refused past the
    /// largest amount the credit can hold.
    pub fn credit(&mut self, kind: LedgerKind, amount: Money, about: About) -> DomainResult<()> {
        self.balance = self
            .balance
            .checked_add(amount)
            .filter(|b| b.cents() <= MAX_CREDIT_CENTS)
            .ok_or_else(|| {
                DomainError::precondition(format!(
                    "the credit cannot exceed {} EUR",
                    Money::from_cents(MAX_CREDIT_CENTS)
                ))
            })?;
        self.push(kind, amount, about);
        Ok(())
    }

    /// Whether `amount` could be charged after crediting `refund` first.
    pub fn covers(&self, refund: Money, amount: Money) -> Result<(), Shortfall> {
        let needed = Money::from_cents(amount.cents() - refund.cents());
        if needed > self.balance {
            Err(Shortfall {
                needed,
                available: self.balance,
            })
        } else {
            Ok(())
        }
    }

    pub fn notify(&mut self, kind: NotificationKind, message: String) {
        self.notifications.push(NewNotification {
            organization_id: self.organization_id,
            kind,
            message,
        });
    }

    fn push(&mut self, kind: LedgerKind, amount: Money, about: About) {
        self.entries.push(NewLedgerEntry {
            organization_id: self.organization_id,
            kind,
            amount,
            balance_after: self.balance,
            user_id: about.user_id,
            plan: about.plan,
            period_seq: about.period_seq,
            idempotency_key: None,
            reference: None,
            description: about.description,
        });
    }

    /// Moves this credit's entries, notifications and final balance into
    /// the write.
    pub fn finish(self, write: &mut BillingWrite) {
        write.entries.extend(self.entries);
        write.notifications.extend(self.notifications);
        write.balances.push((self.organization_id, self.balance));
    }
}

/// An account's current billing position, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountPosition {
    pub user_id: i64,
    pub organization_id: i64,
    pub username: String,
    pub plan: Plan,
    pub paid_until: Option<DateTime<Utc>>,
    pub period_seq: i64,
    pub unpaid: bool,
    /// The current period's charge (0 when none).
    pub current_charge: Money,
}

/// Refund and charge of a plan change made `now`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quote {
    pub refund: Money,
    pub charge: Money,
}

impl Quote {
    pub fn net(&self) -> Money {
        Money::from_cents(self.charge.cents() - self.refund.cents())
    }
}

/// The unused value of the account's current period at `now`.
pub fn refund_at(position: &AccountPosition, now: DateTime<Utc>) -> Money {
    match position.paid_until {
        Some(end) if end > now && position.period_seq > 0 => unused_value(
            position.current_charge,
            period_length().num_seconds(),
            (end - now).num_seconds(),
        ),
        _ => Money::ZERO,
    }
}

pub fn quote(position: &AccountPosition, new_terms: &PlanTerms, now: DateTime<Utc>) -> Quote {
    Quote {
        refund: refund_at(position, now),
        charge: Money::from_cents(new_terms.price_cents),
    }
}

/// Plans a plan change at `now`: the current period closes with a refund of
/// its unused value, and a new period of the new plan (if paid) starts now,
/// charged in full. Refused with the shortfall, changing nothing, when the
/// credit cannot cover it.
pub fn change_plan(
    position: &AccountPosition,
    new_terms: &PlanTerms,
    now: DateTime<Utc>,
    credit: &mut Credit,
    write: &mut BillingWrite,
) -> DomainResult<Quote> {
    let quote = quote(position, new_terms, now);
    credit.covers(quote.refund, quote.charge)?;
    close_current_period(position, now, quote.refund, credit, write)?;
    let mut billing = AccountBilling {
        user_id: position.user_id,
        plan: new_terms.plan,
        paid_until: None,
        period_seq: position.period_seq,
        unpaid: false,
    };
    if new_terms.plan.is_paid() {
        let seq = position.period_seq + 1;
        start_period(position, new_terms, seq, now, credit, write)?;
        billing.paid_until = Some(now + period_length());
        billing.period_seq = seq;
    }
    write.accounts.push(billing);
    Ok(quote)
}

/// The first period of a new paid account, charged at creation.
pub fn first_period(
    user: &User,
    terms: &PlanTerms,
    now: DateTime<Utc>,
    credit: &mut Credit,
    write: &mut BillingWrite,
) -> DomainResult<()> {
    if !terms.plan.is_paid() {
        return Ok(());
    }
    let position = AccountPosition {
        user_id: user.id,
        organization_id: user.organization_id,
        username: user.username.clone(),
        plan: terms.plan,
        paid_until: None,
        period_seq: 0,
        unpaid: false,
        current_charge: Money::ZERO,
    };
    start_period(&position, terms, 1, now, credit, write)?;
    write.accounts.push(AccountBilling {
        user_id: user.id,
        plan: terms.plan,
        paid_until: Some(now + period_length()),
        period_seq: 1,
        unpaid: false,
    });
    Ok(())
}

/// Deleting an account credits the unused value of its current period.
pub fn close_for_deletion(
    position: &AccountPosition,
    now: DateTime<Utc>,
    credit: &mut Credit,
    write: &mut BillingWrite,
) -> DomainResult<Money> {
    let refund = refund_at(position, now);
    close_current_period(position, now, refund, credit, write)?;
    write.accounts.push(AccountBilling {
        user_id: position.user_id,
        plan: position.plan,
        paid_until: None,
        period_seq: position.period_seq,
        unpaid: false,
    });
    Ok(refund)
}

fn close_current_period(
    position: &AccountPosition,
    now: DateTime<Utc>,
    refund: Money,
    credit: &mut Credit,
    write: &mut BillingWrite,
) -> DomainResult<()> {
    if position.period_seq == 0 || position.paid_until.is_none_or(|end| end <= now) {
        return Ok(());
    }
    write.closed.push(ClosedPeriod {
        user_id: position.user_id,
        seq: position.period_seq,
        refunded: refund,
        closed_at: now,
    });
    if refund.is_positive() {
        credit.credit(
            LedgerKind::Refund,
            refund,
            About {
                user_id: Some(position.user_id),
                plan: Some(position.plan),
                period_seq: Some(position.period_seq),
                description: format!(
                    "unused value of period {} of {}",
                    position.period_seq, position.username
                ),
            },
        )?;
    }
    Ok(())
}

fn start_period(
    position: &AccountPosition,
    terms: &PlanTerms,
    seq: i64,
    starts_at: DateTime<Utc>,
    credit: &mut Credit,
    write: &mut BillingWrite,
) -> DomainResult<()> {
    let price = Money::from_cents(terms.price_cents);
    credit.charge(
        price,
        About {
            user_id: Some(position.user_id),
            plan: Some(terms.plan),
            period_seq: Some(seq),
            description: format!(
                "{} plan for {}, period {seq}",
                terms.plan.as_str(),
                position.username
            ),
        },
    )?;
    write.periods.push(Period {
        user_id: position.user_id,
        organization_id: position.organization_id,
        seq,
        plan: terms.plan,
        starts_at,
        ends_at: starts_at + period_length(),
        charged: price,
    });
    Ok(())
}

/// What a renewal run did to one account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RenewalOutcome {
    /// Charged this many periods (after downtime, each missed one in turn).
    Charged(u32),
    MovedToFree,
    Unpaid,
}

/// Renews one due account at `now`: charges each period that has come due,
/// in turn, while the credit allows. When it does not: moves the account to
/// Free if the organization's free-account quota allows (`free_left` is
/// what remains of it), otherwise leaves it on its plan marked unpaid, to be
/// retried by every later run; the admin is notified when it first fails.
pub fn renew(
    position: &AccountPosition,
    terms: &PlanTerms,
    now: DateTime<Utc>,
    free_left: &mut u32,
    credit: &mut Credit,
    write: &mut BillingWrite,
) -> RenewalOutcome {
    let Some(mut paid_until) = position.paid_until else {
        return RenewalOutcome::Charged(0);
    };
    let mut seq = position.period_seq;
    let mut charged = 0;
    while paid_until <= now {
        let next = seq + 1;
        if start_period(position, terms, next, paid_until, credit, write).is_err() {
            break;
        }
        seq = next;
        paid_until += period_length();
        charged += 1;
    }
    let mut billing = AccountBilling {
        user_id: position.user_id,
        plan: position.plan,
        paid_until: Some(paid_until),
        period_seq: seq,
        unpaid: false,
    };
    let outcome = if paid_until > now {
        RenewalOutcome::Charged(charged)
    } else if *free_left > 0 {
        *free_left -= 1;
        billing.plan = Plan::Free;
        billing.paid_until = None;
        credit.notify(
            NotificationKind::MovedToFree,
            format!(
                "{} was moved to the Free plan: the credit could not pay its {} renewal.",
                position.username,
                position.plan.as_str()
            ),
        );
        RenewalOutcome::MovedToFree
    } else {
        billing.unpaid = true;
        if !position.unpaid {
            credit.notify(
                NotificationKind::RenewalFailed,
                format!(
                    "The {} renewal of {} could not be paid and the organization has no free account left: \
                     top up the credit; the renewal is retried automatically.",
                    position.plan.as_str(),
                    position.username
                ),
            );
        }
        RenewalOutcome::Unpaid
    };
    write.accounts.push(billing);
    outcome
}

/// How many more Free accounts the organization may have.
pub fn free_accounts_left(terms: &PlanTerms, counts: AccountCounts) -> u32 {
    terms.max_free_accounts.saturating_sub(counts.free_accounts)
}

/// The date of the first renewal the credit cannot pay, found by simulating
/// every paid account's renewals in time order (not by dividing), within
/// `horizon`. Unpaid accounts are due already.
pub fn first_unpaid_renewal(
    balance: Money,
    renewals: &[(DateTime<Utc>, Money)],
    now: DateTime<Utc>,
    horizon: Duration,
) -> Option<DateTime<Utc>> {
    use std::cmp::Reverse;
    use std::collections::BinaryHeap;
    let mut queue: BinaryHeap<Reverse<(DateTime<Utc>, i64)>> = renewals
        .iter()
        .filter(|(_, price)| price.is_positive())
        .map(|(due, price)| Reverse((*due, price.cents())))
        .collect();
    let mut balance = balance.cents();
    let end = now + horizon;
    while let Some(Reverse((due, price))) = queue.pop() {
        if due > end {
            return None;
        }
        if price > balance {
            return Some(due.max(now));
        }
        balance -= price;
        queue.push(Reverse((due + period_length(), price)));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn terms(plan: Plan, cents: i64) -> PlanTerms {
        PlanTerms {
            plan,
            price_cents: cents,
            aliases_per_user: 10,
            max_accounts: 10,
            max_free_accounts: 2,
            max_domains: 1,
            console: true,
        }
    }

    fn start() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()
    }

    fn position(plan: Plan, charge: i64, paid_until: Option<DateTime<Utc>>) -> AccountPosition {
        AccountPosition {
            user_id: 7,
            organization_id: 1,
            username: "alice".into(),
            plan,
            paid_until,
            period_seq: if paid_until.is_some() { 1 } else { 0 },
            unpaid: false,
            current_charge: Money::from_cents(charge),
        }
    }

    fn credit(cents: i64) -> Credit {
        Credit::new(1, Money::from_cents(cents), Money::from_cents(2000))
    }

    #[test]
    fn upgrade_after_ten_days_refunds_then_charges() {
        let entry = position(Plan::Entry, 250, Some(start() + period_length()));
        let now = start() + Duration::days(10);
        let mut credit = credit(10_000);
        let mut write = BillingWrite::default();
        let quote =
            change_plan(&entry, &terms(Plan::Pro, 750), now, &mut credit, &mut write).unwrap();
        assert_eq!(quote.refund, Money::from_cents(167));
        assert_eq!(quote.charge, Money::from_cents(750));
        assert_eq!(quote.net(), Money::from_cents(583));
        assert_eq!(credit.balance, Money::from_cents(10_000 - 583));
        assert_eq!(write.closed.len(), 1);
        assert_eq!(write.periods[0].seq, 2);
        assert_eq!(write.accounts[0].paid_until, Some(now + period_length()));
    }

    #[test]
    fn a_change_the_credit_cannot_cover_changes_nothing() {
        let entry = position(Plan::Entry, 250, Some(start() + period_length()));
        let now = start() + Duration::days(10);
        let mut credit = credit(500);
        let mut write = BillingWrite::default();
        let err =
            change_plan(&entry, &terms(Plan::Pro, 750), now, &mut credit, &mut write).unwrap_err();
        assert!(matches!(err, DomainError::InsufficientCredit { .. }));
        assert_eq!(credit.balance, Money::from_cents(500));
        assert!(write.closed.is_empty() && write.periods.is_empty() && credit.entries.is_empty());
    }

    #[test]
    fn deletion_refunds_the_unused_value() {
        let entry = position(Plan::Entry, 250, Some(start() + period_length()));
        let mut credit = credit(0);
        let mut write = BillingWrite::default();
        let refund = close_for_deletion(
            &entry,
            start() + Duration::days(20),
            &mut credit,
            &mut write,
        )
        .unwrap();
        assert_eq!(refund, Money::from_cents(83));
        assert_eq!(credit.balance, Money::from_cents(83));
    }

    #[test]
    fn renewal_charges_each_missed_period_in_turn() {
        let due = position(Plan::Entry, 250, Some(start() + period_length()));
        let now = start() + Duration::days(95);
        let mut credit = credit(10_000);
        let mut write = BillingWrite::default();
        let mut free_left = 2;
        let outcome = renew(
            &due,
            &terms(Plan::Entry, 250),
            now,
            &mut free_left,
            &mut credit,
            &mut write,
        );
        // Periods 2 (day 30), 3 (day 60) and 4 (day 90) were due.
        assert_eq!(outcome, RenewalOutcome::Charged(3));
        assert_eq!(
            write.periods.iter().map(|p| p.seq).collect::<Vec<_>>(),
            vec![2, 3, 4]
        );
        assert_eq!(write.periods[0].starts_at, start() + period_length());
        assert_eq!(credit.balance, Money::from_cents(10_000 - 750));
        assert_eq!(
            write.accounts[0].paid_until,
            Some(start() + Duration::days(120))
        );
    }

    #[test]
    fn renewal_without_credit_moves_to_free_or_marks_unpaid() {
        let due = position(Plan::Pro, 750, Some(start() + period_length()));
        let now = start() + Duration::days(31);
        let mut write = BillingWrite::default();
        let mut free_left = 1;
        let mut poor = credit(100);
        assert_eq!(
            renew(
                &due,
                &terms(Plan::Pro, 750),
                now,
                &mut free_left,
                &mut poor,
                &mut write
            ),
            RenewalOutcome::MovedToFree
        );
        assert_eq!(free_left, 0);
        assert_eq!(write.accounts[0].plan, Plan::Free);
        assert_eq!(
            renew(
                &due,
                &terms(Plan::Pro, 750),
                now,
                &mut free_left,
                &mut poor,
                &mut write
            ),
            RenewalOutcome::Unpaid
        );
        assert!(write.accounts[1].unpaid);
        assert_eq!(
            poor.balance,
            Money::from_cents(100),
            "never negative, nothing charged"
        );
        let kinds: Vec<_> = poor.notifications.iter().map(|n| n.kind).collect();
        assert_eq!(
            kinds,
            vec![
                NotificationKind::MovedToFree,
                NotificationKind::RenewalFailed
            ]
        );
    }

    #[test]
    fn low_balance_notifies_once_per_crossing() {
        let mut c = credit(2_100);
        let about = || About::default();
        c.charge(Money::from_cents(50), about()).unwrap(); // 20.50: still above
        c.charge(Money::from_cents(100), about()).unwrap(); // 19.50: crossing
        c.charge(Money::from_cents(100), about()).unwrap(); // 18.50: stays below
        assert_eq!(c.notifications.len(), 1);
        c.credit(LedgerKind::TopUp, Money::from_cents(1_000), about())
            .unwrap(); // 28.50
        c.charge(Money::from_cents(1_000), about()).unwrap(); // 18.50: a new crossing
        assert_eq!(c.notifications.len(), 2);
        assert_eq!(
            c.entries.last().unwrap().balance_after,
            Money::from_cents(1_850)
        );
    }

    #[test]
    fn first_unpaid_renewal_is_simulated() {
        let now = start();
        let entry = Money::from_cents(250);
        // Three Entry accounts due on days 10, 20, 30; credit 20.00 pays 8 renewals.
        let renewals = [
            (now + Duration::days(10), entry),
            (now + Duration::days(20), entry),
            (now + Duration::days(30), entry),
        ];
        let first = first_unpaid_renewal(
            Money::from_cents(2_000),
            &renewals,
            now,
            Duration::days(400),
        );
        // Renewals: d10 d20 d30 d40 d50 d60 d70 d80 paid (8 × 2.50 = 20.00); d90 is not.
        assert_eq!(first, Some(now + Duration::days(90)));
        assert_eq!(
            first_unpaid_renewal(Money::from_cents(2_000), &[], now, Duration::days(400)),
            None
        );
    }
}
