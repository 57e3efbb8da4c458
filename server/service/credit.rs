//! The organization's credit as its admin and the payment backend see it:
//! balance (with the simulated first unpaid renewal), top-ups, the ledger,
//! notifications, and the plan catalog.

use super::App;
use crate::rules::audit::audit;
use crate::rules::billing::{self, About, Credit, LedgerEntry, LedgerKind, Notification};
use crate::rules::credit::{BalanceView, TopUpInput};
use crate::rules::money::Money;
use crate::rules::paging::{Page, Paged};
use crate::rules::plans::{Plan, PlanTerms};
use crate::rules::{DomainError, DomainResult, Kind, Principal};
use crate::store::Tx;
use chrono::{DateTime, Duration, Utc};

/// How far ahead GetBalance simulates renewals.
const BALANCE_HORIZON_DAYS: i64 = 400;

impl App {
    /// Balance, ledger and notifications stay readable when the master is on
    /// Free: the organization must see what it owes to come back.
    async fn authorize_billing_read(
        &self,
        tx: &Tx,
        principal: &Principal,
        organization_id: i64,
    ) -> DomainResult<i64> {
        let organization_id = principal.scope_organization(organization_id)?;
        tx.find_organization(organization_id)
            .await?
            .ok_or(DomainError::NotFound(Kind::Organization))?;
        Ok(organization_id)
    }

    pub async fn get_balance(
        &self,
        principal: &Principal,
        organization_id: i64,
    ) -> DomainResult<BalanceView> {
        let tx = self.store().read().await?;
        let organization_id = self
            .authorize_billing_read(&tx, principal, organization_id)
            .await?;
        let balance = tx.credit(organization_id).await?;
        let catalog = tx.plan_catalog().await?;
        let price = |plan: Plan| {
            catalog
                .iter()
                .find(|t| t.plan == plan)
                .map(|t| Money::from_cents(t.price_cents))
                .unwrap_or_default()
        };
        let now = self.now();
        let accounts = tx.paid_accounts(organization_id).await?;
        let monthly_cost = Money::from_cents(
            accounts
                .iter()
                .map(|(_, plan, _)| price(*plan).cents())
                .sum(),
        );
        let renewals: Vec<(DateTime<Utc>, Money)> = accounts
            .iter()
            .map(|(until, plan, unpaid)| (if *unpaid { now } else { *until }, price(*plan)))
            .collect();
        let threshold = self.settings().low_balance_threshold;
        Ok(BalanceView {
            balance,
            monthly_cost,
            first_unpaid_renewal_at: billing::first_unpaid_renewal(
                balance,
                &renewals,
                now,
                Duration::days(BALANCE_HORIZON_DAYS),
            ),
            low_balance: balance < threshold,
            threshold,
            unpaid_accounts: accounts.iter().filter(|(_, _, unpaid)| *unpaid).count() as u32,
        })
    }

    /// Credits a cleared payment once per idempotency key.
    pub async fn top_up(
        &self,
        principal: &Principal,
        input: TopUpInput,
    ) -> DomainResult<(LedgerEntry, Money)> {
        let now = self.now();
        let tx = self.store().write().await?;
        // The organization's row lock serializes replays of one key.
        let balance = tx.lock_credit(input.organization_id).await?;
        if let Some(first) = tx.find_topup(&input.idempotency_key).await? {
            if first.organization_id == input.organization_id && first.amount == input.amount {
                return Ok((first, balance));
            }
            return Err(DomainError::AlreadyExists {
                kind: Kind::IdempotencyKey,
                detail: format!(
                    "{:?} was used for another payment ({} EUR to organization {})",
                    input.idempotency_key, first.amount, first.organization_id
                ),
            });
        }
        let mut credit = Credit::new(
            input.organization_id,
            balance,
            self.settings().low_balance_threshold,
        );
        credit.credit(
            LedgerKind::TopUp,
            input.amount,
            About {
                description: "top-up".into(),
                ..About::default()
            },
        )?;
        let mut write = billing::BillingWrite::default();
        credit.finish(&mut write);
        let mut entry = write
            .entries
            .pop()
            .ok_or_else(|| DomainError::internal("no top-up entry"))?;
        entry.idempotency_key = Some(input.idempotency_key.clone());
        entry.reference = Some(input.payment_reference.clone());
        let stored = tx.insert_topup(&entry, now).await?;
        tx.record(
            audit(
                principal,
                Some(input.organization_id),
                "billing.topup",
                format!("ledger:{}", stored.id),
            )
            .details(format!(
                "amount={} reference={:?} balance={}",
                input.amount, input.payment_reference, stored.balance_after
            )),
            now,
        )
        .await?;
        tx.commit().await?;
        tracing::info!(organization_id = input.organization_id, amount = %input.amount, "top-up credited");
        let balance = stored.balance_after;
        Ok((stored, balance))
    }

    pub async fn list_ledger(
        &self,
        principal: &Principal,
        organization_id: i64,
        page: Page,
    ) -> DomainResult<Paged<LedgerEntry>> {
        let tx = self.store().read().await?;
        let organization_id = self
            .authorize_billing_read(&tx, principal, organization_id)
            .await?;
        let items = tx.list_ledger(organization_id, page).await?;
        Ok(Paged::new(page, items, |e| e.id))
    }

    pub async fn list_notifications(
        &self,
        principal: &Principal,
        organization_id: i64,
        page: Page,
    ) -> DomainResult<Paged<Notification>> {
        let tx = self.store().read().await?;
        let organization_id = self
            .authorize_billing_read(&tx, principal, organization_id)
            .await?;
        let items = tx.list_notifications(organization_id, page).await?;
        Ok(Paged::new(page, items, |n| n.id))
    }

    pub async fn plan_catalog(&self) -> DomainResult<Vec<PlanTerms>> {
        self.store().read().await?.plan_catalog().await
    }

    /// Replaces the listed plans' prices and limits. Prices apply from each
    /// account's next period; limits stop new additions only.
    pub async fn update_plan_catalog(
        &self,
        principal: &Principal,
        terms: Vec<PlanTerms>,
    ) -> DomainResult<Vec<PlanTerms>> {
        if terms.is_empty() {
            return Err(DomainError::invalid("plans", "is empty"));
        }
        for (i, t) in terms.iter().enumerate() {
            if terms[..i].iter().any(|o| o.plan == t.plan) {
                return Err(DomainError::invalid(
                    format!("plans[{i}].plan"),
                    "is listed twice",
                ));
            }
            if t.plan == Plan::Free && t.price_cents != 0 {
                return Err(DomainError::invalid(
                    format!("plans[{i}].price"),
                    "the Free plan costs 0.00",
                ));
            }
            if t.price_cents < 0 {
                return Err(DomainError::invalid(
                    format!("plans[{i}].price"),
                    "must not be negative",
                ));
            }
            if t.max_free_accounts > t.max_accounts {
                return Err(DomainError::invalid(
                    format!("plans[{i}].max_free_accounts"),
                    "must not exceed max_accounts",
                ));
            }
        }
        let now = self.now();
        let tx = self.store().write().await?;
        for t in &terms {
            tx.update_plan_terms(t).await?;
            tx.record(
                audit(
                    principal,
                    None,
                    "billing.update_plan",
                    format!("plan:{}", t.plan.as_str()),
                )
                .details(format!(
                    "price={} aliases={} accounts={} free={} domains={} console={}",
                    Money::from_cents(t.price_cents),
                    t.aliases_per_user,
                    t.max_accounts,
                    t.max_free_accounts,
                    t.max_domains,
                    t.console
                )),
                now,
            )
            .await?;
        }
        let catalog = tx.plan_catalog().await?;
        tx.commit().await?;
        Ok(catalog)
    }
}
