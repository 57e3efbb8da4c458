//! The plan catalog: prices and limits per plan, editable by operators.

use super::entities::plans;
use super::{Tx, db_err};
use crate::rules::plans::{Plan, PlanTerms};
use crate::rules::{DomainError, DomainResult};
use sea_orm::{ActiveModelTrait, EntityTrait, Set};

impl Tx {
    pub async fn plan_terms(&self, plan: Plan) -> DomainResult<PlanTerms> {
        let row = plans::Entity::find_by_id(plan.as_str().to_string())
            .one(&self.txn)
            .await
            .map_err(db_err)?
            .ok_or_else(|| {
                DomainError::internal(format!("plan {} missing from catalog", plan.as_str()))
            })?;
        Ok(terms_from(plan, &row))
    }

    /// Every plan's terms, in one query, in the order of [`Plan::ALL`].
    pub async fn plan_catalog(&self) -> DomainResult<Vec<PlanTerms>> {
        let rows = plans::Entity::find().all(&self.txn).await.map_err(db_err)?;
        Plan::ALL
            .into_iter()
            .map(|plan| {
                rows.iter()
                    .find(|r| r.name == plan.as_str())
                    .map(|r| terms_from(plan, r))
                    .ok_or_else(|| {
                        DomainError::internal(format!(
                            "plan {} missing from catalog",
                            plan.as_str()
                        ))
                    })
            })
            .collect()
    }

    pub async fn update_plan_terms(&self, terms: &PlanTerms) -> DomainResult<()> {
        plans::ActiveModel {
            name: sea_orm::Unchanged(terms.plan.as_str().to_string()),
            price_cents: Set(terms.price_cents),
            aliases_per_user: Set(terms.aliases_per_user as i32),
            max_accounts: Set(terms.max_accounts as i32),
            max_free_accounts: Set(terms.max_free_accounts as i32),
            max_domains: Set(terms.max_domains as i32),
            console: Set(terms.console),
        }
        .update(&self.txn)
        .await
        .map_err(db_err)?;
        Ok(())
    }
}

pub(super) fn terms_from(plan: Plan, row: &plans::Model) -> PlanTerms {
    PlanTerms {
        plan,
        price_cents: row.price_cents,
        aliases_per_user: u32::try_from(row.aliases_per_user).unwrap_or(0),
        max_accounts: u32::try_from(row.max_accounts).unwrap_or(0),
        max_free_accounts: u32::try_from(row.max_free_accounts).unwrap_or(0),
        max_domains: u32::try_from(row.max_domains).unwrap_or(0),
        console: row.console,
    }
}
