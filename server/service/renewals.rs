//! The renewal run: charges every period that has come due, in small
//! batches that each commit on their own, so the run can be killed at any
//! point and started again. One charge per account and period, whatever
//! the number of concurrent runs: batches lock their accounts (PostgreSQL
//! skips those another run holds; SQLite has one writer), an account's
//! position only moves forward, and the unique (account, period) key backs
//! both.

use super::App;
use crate::rules::billing::{self, BillingWrite, Credit, RenewalOutcome};
use crate::rules::model::NewAuditEvent;
use crate::rules::money::Money;
use crate::rules::plans::Plan;
use crate::rules::renewals::RenewalSummary;
use crate::rules::{DomainError, DomainResult, Principal};
use std::collections::HashMap;

impl App {
    /// RunRenewals, by an operator.
    pub async fn run_renewals(&self, principal: &Principal) -> DomainResult<RenewalSummary> {
        self.renew_due(&principal.actor()).await
    }

    /// Renews everything due now; `actor` names who started the run in the
    /// audit log ("system" for the schedule).
    pub async fn renew_due(&self, actor: &str) -> DomainResult<RenewalSummary> {
        let mut summary = RenewalSummary::default();
        let mut after_id = 0;
        let batch = self.settings().renewal_batch_size.max(1);
        loop {
            let (last, batch_summary) = self.renew_batch(actor, after_id, batch).await?;
            // Per committed batch, so a run that fails later still counts.
            if let Some(metrics) = self.metrics() {
                metrics.record_renewals(
                    batch_summary.charged,
                    batch_summary.moved_to_free,
                    batch_summary.unpaid,
                );
            }
            summary.charged += batch_summary.charged;
            summary.total_charged = Money::from_cents(
                summary.total_charged.cents() + batch_summary.total_charged.cents(),
            );
            summary.moved_to_free += batch_summary.moved_to_free;
            summary.unpaid += batch_summary.unpaid;
            match last {
                Some(id) => after_id = id,
                None => break,
            }
            if let Some(pause) = self.settings().renewal_batch_pause {
                tokio::time::sleep(pause).await;
            }
        }
        if summary != RenewalSummary::default() {
            tracing::info!(
                charged = summary.charged,
                total = %summary.total_charged,
                moved_to_free = summary.moved_to_free,
                unpaid = summary.unpaid,
                "renewal run finished"
            );
        }
        Ok(summary)
    }

    /// One batch in one transaction. Returns the last account id looked at
    /// (None when nothing was due).
    async fn renew_batch(
        &self,
        actor: &str,
        after_id: i64,
        limit: u64,
    ) -> DomainResult<(Option<i64>, RenewalSummary)> {
        let now = self.now();
        let tx = self.store().write().await?;
        let candidates = tx.due_candidates(now, after_id, limit).await?;
        let Some(&(last, _)) = candidates.last() else {
            return Ok((None, RenewalSummary::default()));
        };
        let mut organization_ids: Vec<i64> = candidates.iter().map(|(_, org)| *org).collect();
        organization_ids.sort_unstable();
        organization_ids.dedup();
        // Organizations first, then accounts: the lock order of every
        // billing write.
        let balances = tx.lock_credits(&organization_ids).await?;
        let user_ids: Vec<i64> = candidates.iter().map(|(user, _)| *user).collect();
        let due = tx.lock_due_positions(&user_ids, now).await?;
        let masters = tx.master_plans(&organization_ids).await?;
        let free_counts = tx.free_account_counts(&organization_ids).await?;
        let catalog: HashMap<Plan, _> = tx
            .plan_catalog()
            .await?
            .into_iter()
            .map(|t| (t.plan, t))
            .collect();
        let terms = |plan: Plan| {
            catalog.get(&plan).ok_or_else(|| {
                DomainError::internal(format!("plan {} missing from catalog", plan.as_str()))
            })
        };

        let threshold = self.settings().low_balance_threshold;
        let mut credits: HashMap<i64, Credit> = HashMap::new();
        let mut free_left: HashMap<i64, u32> = HashMap::new();
        for &org in &organization_ids {
            let balance = balances.get(&org).copied().unwrap_or_default();
            credits.insert(org, Credit::new(org, balance, threshold));
            let master_plan = masters.get(&org).copied().unwrap_or(Plan::Free);
            let used = free_counts.get(&org).copied().unwrap_or(0);
            free_left.insert(
                org,
                terms(master_plan)?.max_free_accounts.saturating_sub(used),
            );
        }

        let mut write = BillingWrite::default();
        let mut summary = RenewalSummary::default();
        for position in &due {
            let org = position.organization_id;
            let (Some(credit), Some(free)) = (credits.get_mut(&org), free_left.get_mut(&org))
            else {
                continue;
            };
            let plan_terms = terms(position.plan)?;
            let before = credit.balance;
            let outcome = billing::renew(position, plan_terms, now, free, credit, &mut write);
            let details = match outcome {
                RenewalOutcome::Charged(n) => {
                    summary.charged += n;
                    format!(
                        "charged {n} period(s) of {}: {}; balance {}",
                        position.plan.as_str(),
                        Money::from_cents(before.cents() - credit.balance.cents()),
                        credit.balance
                    )
                }
                RenewalOutcome::MovedToFree => {
                    summary.moved_to_free += 1;
                    format!(
                        "moved from {} to free: credit {} too low",
                        position.plan.as_str(),
                        credit.balance
                    )
                }
                RenewalOutcome::Unpaid => {
                    summary.unpaid += 1;
                    format!(
                        "unpaid: {} renewal, credit {}",
                        position.plan.as_str(),
                        credit.balance
                    )
                }
            };
            write.audit.push(NewAuditEvent {
                actor: actor.to_string(),
                organization_id: Some(org),
                action: "billing.renewal",
                target: format!("user:{}", position.user_id),
                details,
            });
            summary.total_charged = Money::from_cents(
                summary.total_charged.cents() + before.cents() - credit.balance.cents(),
            );
        }
        for org in &organization_ids {
            if let Some(credit) = credits.remove(org) {
                credit.finish(&mut write);
            }
        }
        tx.apply_billing(write, now).await?;
        tx.commit().await?;
        Ok((Some(last), summary))
    }
}
