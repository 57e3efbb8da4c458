//! The organization's credit as its admin and the payment backend see it:
//! balance (with the simulated first unpaid renewal), top-ups, the ledger,
//! notifications, and the plan catalog.

use super::billing::{self};
use super::money::Money;
use super::validate::{self};
use super::{DomainError, DomainResult};
use chrono::{DateTime, Utc};

pub struct BalanceView {
    pub balance: Money,
    pub monthly_cost: Money,
    pub first_unpaid_renewal_at: Option<DateTime<Utc>>,
    pub low_balance: bool,
    pub threshold: Money,
    pub unpaid_accounts: u32,
}

/// A validated TopUp.
pub struct TopUpInput {
    pub organization_id: i64,
    pub amount: Money,
    pub idempotency_key: String,
    pub payment_reference: String,
}

impl TopUpInput {
    pub fn parse(
        organization_id: i64,
        amount: Money,
        idempotency_key: &str,
        payment_reference: &str,
    ) -> DomainResult<Self> {
        if organization_id <= 0 {
            return Err(DomainError::invalid(
                "organization_id",
                "is required (a positive id)",
            ));
        }
        if !amount.is_positive() {
            return Err(DomainError::invalid(
                "amount.amount",
                "must be greater than 0",
            ));
        }
        if amount.cents() > billing::MAX_CREDIT_CENTS {
            return Err(DomainError::invalid(
                "amount.amount",
                format!(
                    "must be at most {}",
                    Money::from_cents(billing::MAX_CREDIT_CENTS)
                ),
            ));
        }
        let idempotency_key = validate::bounded_text("idempotency_key", idempotency_key, 128)?;
        let payment_reference =
            validate::bounded_text("payment_reference", payment_reference, 200)?;
        Ok(TopUpInput {
            organization_id,
            amount,
            idempotency_key,
            payment_reference,
        })
    }
}
