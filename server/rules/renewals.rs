//! The renewal run: charges every period that has come due, in small
//! batches that each commit on their own, so the run can be killed at any
//! point and started again. One charge per account and period, whatever
//! the number of concurrent runs: batches lock their accounts (PostgreSQL
//! skips those another run holds; SQLite has one writer), an account's
//! position only moves forward, and the unique (account, period) key backs
//! both.

use super::money::Money;

/// What one run did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RenewalSummary {
    pub charged: u32,
    pub total_charged: Money,
    pub moved_to_free: u32,
    pub unpaid: u32,
}
