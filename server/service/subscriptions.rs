//! Subscription changes (effective at once, prorated) and the billing side
//! of an account's life: the first period charged at creation, the unused
//! value refunded at deletion.

use super::Access;
use super::App;
use crate::rules::audit::audit;
use crate::rules::billing::{self, BillingWrite, Credit};
use crate::rules::model::User;
use crate::rules::money::Money;
use crate::rules::plans::{Plan, PlanTerms};
use crate::rules::subscriptions::{SubscriptionChange, require_changeable};
use crate::rules::{DomainError, DomainResult, Kind, Principal};
use crate::store::{PlanChangeRecord, Tx};
use chrono::{DateTime, Utc};

impl App {
    /// What changing `user_id` to `plan` now would refund and charge.
    pub async fn preview_subscription_change(
        &self,
        principal: &Principal,
        user_id: i64,
        plan: Plan,
    ) -> DomainResult<SubscriptionChange> {
        let tx = self.store().read().await?;
        let user = self
            .authorize_user(&tx, principal, user_id, Access::Manage)
            .await?;
        require_changeable(&user, plan)?;
        let position = tx
            .account_position(user_id)
            .await?
            .ok_or(DomainError::NotFound(Kind::User))?;
        let quote = billing::quote(&position, &tx.plan_terms(plan).await?, self.now());
        Ok(SubscriptionChange {
            balance: tx.credit(user.organization_id).await?,
            user,
            refund: quote.refund,
            charge: quote.charge,
        })
    }

    /// Changes an account's plan at once: the current period closes with a
    /// refund of its unused value and the new plan's period starts now,
    /// charged in full; refused (nothing changed) when the credit cannot
    /// cover it. A retried `request_id` applies once.
    pub async fn change_subscription(
        &self,
        principal: &Principal,
        user_id: i64,
        plan: Plan,
        request_id: Option<String>,
    ) -> DomainResult<SubscriptionChange> {
        let now = self.now();
        let tx = self.store().write().await?;
        let user = self
            .authorize_user(&tx, principal, user_id, Access::Manage)
            .await?;
        // Lock first, then read: a concurrent change (or a retry of this
        // one) has either committed, and is seen below, or waits for us.
        let organization = tx
            .lock_organization(user.organization_id)
            .await?
            .ok_or(DomainError::NotFound(Kind::Organization))?;
        let user = tx
            .find_user(user_id)
            .await?
            .ok_or(DomainError::NotFound(Kind::User))?;
        if let Some(request_id) = &request_id
            && let Some(first) = tx.find_plan_change(user_id, request_id).await?
        {
            if first.to_plan != plan {
                return Err(DomainError::AlreadyExists {
                    kind: Kind::PlanChange,
                    detail: format!(
                        "request_id {request_id:?} changed the plan to {}",
                        first.to_plan.as_str()
                    ),
                });
            }
            return Ok(SubscriptionChange {
                balance: tx.credit(user.organization_id).await?,
                user,
                refund: first.refund,
                charge: first.charge,
            });
        }
        require_changeable(&user, plan)?;
        if plan == Plan::Free {
            let terms = tx.plan_terms(organization.master_plan).await?;
            let counts = tx.account_counts(organization.id).await?;
            if billing::free_accounts_left(&terms, counts) == 0 {
                return Err(DomainError::precondition(format!(
                    "the organization has {} of {} free accounts its {} plan allows",
                    counts.free_accounts,
                    terms.max_free_accounts,
                    terms.plan.as_str()
                )));
            }
        }
        let balance = tx.lock_credit(organization.id).await?;
        let position = tx
            .account_position(user_id)
            .await?
            .ok_or(DomainError::NotFound(Kind::User))?;
        let new_terms = tx.plan_terms(plan).await?;
        let mut credit = Credit::new(
            organization.id,
            balance,
            self.settings().low_balance_threshold,
        );
        let mut write = BillingWrite::default();
        let quote = billing::change_plan(&position, &new_terms, now, &mut credit, &mut write)?;
        let balance = credit.balance;
        credit.finish(&mut write);
        write.audit.push(
            audit(
                principal,
                Some(organization.id),
                "billing.change_subscription",
                format!("user:{user_id}"),
            )
            .details(format!(
                "{} -> {}: refund {} charge {} balance {}",
                position.plan.as_str(),
                plan.as_str(),
                quote.refund,
                quote.charge,
                balance
            )),
        );
        tx.apply_billing(write, now).await?;
        if let Some(request_id) = &request_id {
            let record = PlanChangeRecord {
                from_plan: position.plan,
                to_plan: plan,
                refund: quote.refund,
                charge: quote.charge,
            };
            tx.insert_plan_change(user_id, request_id, &record, now)
                .await?;
        }
        let user = tx
            .find_user(user_id)
            .await?
            .ok_or(DomainError::NotFound(Kind::User))?;
        tx.commit().await?;
        Ok(SubscriptionChange {
            user,
            refund: quote.refund,
            charge: quote.charge,
            balance,
        })
    }

    /// Charges a new paid account's first period, in the transaction that
    /// creates it; fails (creating nothing) when the credit cannot pay it.
    pub(crate) async fn charge_first_period(
        &self,
        tx: &Tx,
        principal: &Principal,
        user: &User,
        terms: &PlanTerms,
        now: DateTime<Utc>,
    ) -> DomainResult<()> {
        if !terms.plan.is_paid() {
            return Ok(());
        }
        let balance = tx.lock_credit(user.organization_id).await?;
        let mut credit = Credit::new(
            user.organization_id,
            balance,
            self.settings().low_balance_threshold,
        );
        let mut write = BillingWrite::default();
        billing::first_period(user, terms, now, &mut credit, &mut write)?;
        write.audit.push(
            audit(
                principal,
                Some(user.organization_id),
                "billing.charge",
                format!("user:{}", user.id),
            )
            .details(format!(
                "first {} period: {}; balance {}",
                terms.plan.as_str(),
                Money::from_cents(terms.price_cents),
                credit.balance
            )),
        );
        credit.finish(&mut write);
        tx.apply_billing(write, now).await
    }

    /// Credits the unused value of a deleted account's current period.
    pub(crate) async fn refund_on_deletion(
        &self,
        tx: &Tx,
        principal: &Principal,
        user: &User,
        now: DateTime<Utc>,
    ) -> DomainResult<()> {
        // The organization's lock first: a renewal of this account may be
        // committing, and the position must be read after it.
        let balance = tx.lock_credit(user.organization_id).await?;
        let Some(position) = tx.account_position(user.id).await? else {
            return Ok(());
        };
        if position.paid_until.is_none() {
            return Ok(());
        }
        let mut credit = Credit::new(
            user.organization_id,
            balance,
            self.settings().low_balance_threshold,
        );
        let mut write = BillingWrite::default();
        let refund = billing::close_for_deletion(&position, now, &mut credit, &mut write)?;
        write.audit.push(
            audit(
                principal,
                Some(user.organization_id),
                "billing.refund",
                format!("user:{}", user.id),
            )
            .details(format!("unused value {refund}; balance {}", credit.balance)),
        );
        credit.finish(&mut write);
        tx.apply_billing(write, now).await
    }
}
