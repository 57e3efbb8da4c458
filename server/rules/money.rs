//! Money: exact euro amounts. `rust_decimal` in code, integer cents in
//! storage, decimal strings with a currency on the wire. Never a float.

use super::error::{DomainError, DomainResult};
use rust_decimal::{Decimal, RoundingStrategy};
use std::fmt;

/// The one currency of the credit.
pub const CURRENCY: &str = "EUR";

/// An exact amount of euros, held as cents.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Money(i64);

impl Money {
    pub const ZERO: Money = Money(0);

    pub fn from_cents(cents: i64) -> Money {
        Money(cents)
    }

    pub fn cents(self) -> i64 {
        self.0
    }

    pub fn to_decimal(self) -> Decimal {
        Decimal::new(self.0, 2)
    }

    /// Parses a wire amount (`"12.50"`, `"3"`) with its currency: at most
    /// two decimals, EUR only.
    pub fn parse(field: &str, amount: &str, currency: &str) -> DomainResult<Money> {
        let currency = currency.trim();
        if !currency.is_empty() && !currency.eq_ignore_ascii_case(CURRENCY) {
            return Err(DomainError::invalid(
                format!("{field}.currency"),
                format!("must be {CURRENCY}"),
            ));
        }
        let amount_field = format!("{field}.amount");
        let amount = amount.trim();
        let digits = amount.strip_prefix('-').unwrap_or(amount);
        let (whole, decimals) = digits.split_once('.').unwrap_or((digits, ""));
        let plain = !whole.is_empty()
            && whole.chars().all(|c| c.is_ascii_digit())
            && decimals.chars().all(|c| c.is_ascii_digit())
            && (digits.contains('.') != decimals.is_empty());
        if !plain {
            return Err(DomainError::invalid(
                &amount_field,
                "is not a decimal number such as \"12.50\"",
            ));
        }
        if decimals.len() > 2 {
            return Err(DomainError::invalid(
                &amount_field,
                "has more than two decimals",
            ));
        }
        let value: Decimal = amount
            .parse()
            .map_err(|_| DomainError::invalid(&amount_field, "is out of range"))?;
        let cents = (value * Decimal::ONE_HUNDRED)
            .trunc()
            .try_into()
            .map_err(|_| DomainError::invalid(&amount_field, "is out of range"))?;
        Ok(Money(cents))
    }

    pub fn checked_add(self, other: Money) -> Option<Money> {
        self.0.checked_add(other.0).map(Money)
    }

    pub fn checked_sub(self, other: Money) -> Option<Money> {
        self.0.checked_sub(other.0).map(Money)
    }

    pub fn is_positive(self) -> bool {
        self.0 > 0
    }

    pub fn is_negative(self) -> bool {
        self.0 < 0
    }
}

impl fmt::Display for Money {
    /// `12.50`: two decimals, always.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:.2}", self.to_decimal())
    }
}

/// The unused value of a period: `charged × remaining ÷ length`, by the
/// second, rounded half-even to the cent. Clamped to `[0, charged]`.
pub fn unused_value(charged: Money, length_seconds: i64, remaining_seconds: i64) -> Money {
    if length_seconds <= 0 || remaining_seconds <= 0 {
        return Money::ZERO;
    }
    let remaining = remaining_seconds.min(length_seconds);
    let value = charged.to_decimal() * Decimal::from(remaining) / Decimal::from(length_seconds);
    let rounded = value.round_dp_with_strategy(2, RoundingStrategy::MidpointNearestEven);
    let cents: i64 = (rounded * Decimal::ONE_HUNDRED)
        .trunc()
        .try_into()
        .unwrap_or(charged.cents());
    Money(cents.clamp(0, charged.cents()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400;
    const PERIOD: i64 = 30 * DAY;

    #[test]
    fn parses_and_prints_exactly() {
        assert_eq!(
            Money::parse("amount", "12.50", "EUR").unwrap(),
            Money::from_cents(1250)
        );
        assert_eq!(
            Money::parse("amount", "3", "").unwrap(),
            Money::from_cents(300)
        );
        assert_eq!(
            Money::parse("amount", "0.1", "eur").unwrap(),
            Money::from_cents(10)
        );
        assert!(Money::parse("amount", "1.230", "EUR").is_err());
        assert!(Money::parse("amount", "1.", "EUR").is_err());
        assert!(Money::parse("amount", ".5", "EUR").is_err());
        assert_eq!(
            Money::parse("amount", "-0.83", "EUR").unwrap(),
            Money::from_cents(-83)
        );
        assert!(Money::parse("amount", "1.234", "EUR").is_err());
        assert!(Money::parse("amount", "abc", "EUR").is_err());
        assert!(Money::parse("amount", "1e3", "EUR").is_err());
        assert!(Money::parse("amount", "10", "USD").is_err());
        assert_eq!(Money::from_cents(1250).to_string(), "12.50");
        assert_eq!(Money::from_cents(5).to_string(), "0.05");
        assert_eq!(Money::from_cents(-83).to_string(), "-0.83");
        // 12345678901234.56 survives: no float anywhere.
        let big = Money::parse("amount", "12345678901234.56", "EUR").unwrap();
        assert_eq!(big.to_string(), "12345678901234.56");
    }

    #[test]
    fn proration_matches_the_spec_examples() {
        let entry = Money::from_cents(250);
        // Upgrade after 10 of 30 days: 20 days unused.
        assert_eq!(
            unused_value(entry, PERIOD, 20 * DAY),
            Money::from_cents(167)
        );
        // Delete 20 of 30 days in: 10 days unused.
        assert_eq!(unused_value(entry, PERIOD, 10 * DAY), Money::from_cents(83));
        assert_eq!(unused_value(entry, PERIOD, PERIOD), entry);
        assert_eq!(unused_value(entry, PERIOD, PERIOD + 5), entry);
        assert_eq!(unused_value(entry, PERIOD, 0), Money::ZERO);
        assert_eq!(unused_value(entry, PERIOD, -5), Money::ZERO);
    }

    #[test]
    fn proration_rounds_half_to_even() {
        // 0.05 × 1/2 = 0.025 → 0.02 (even), 0.15 × 1/2 = 0.075 → 0.08 (even).
        assert_eq!(
            unused_value(Money::from_cents(5), 2, 1),
            Money::from_cents(2)
        );
        assert_eq!(
            unused_value(Money::from_cents(15), 2, 1),
            Money::from_cents(8)
        );
    }
}
