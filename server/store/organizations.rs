//! Organizations: the row, its master account, and what it already has
//! (accounts, free accounts) against its plan's limits.

use super::entities::{organizations, users};
use super::paging::{Keyset, Order};
use super::{Tx, db_err};
use crate::clock::{from_millis, to_millis};
use crate::rules::model::{AccountState, Organization};
use crate::rules::paging::Page;
use crate::rules::plans::{AccountCounts, Plan};
use crate::rules::{DomainError, DomainResult};
use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QuerySelect, Set,
};

impl Tx {
    pub async fn insert_organization(&self, name: &str, now: DateTime<Utc>) -> DomainResult<i64> {
        let row = organizations::ActiveModel {
            name: Set(name.to_string()),
            master_user_id: Set(None),
            created_at: Set(to_millis(now)),
            balance_cents: Set(0),
            ..Default::default()
        }
        .insert(&self.txn)
        .await
        .map_err(db_err)?;
        Ok(row.id)
    }

    pub async fn set_organization_master(
        &self,
        organization_id: i64,
        user_id: i64,
    ) -> DomainResult<()> {
        organizations::Entity::update_many()
            .col_expr(organizations::Column::MasterUserId, Expr::value(user_id))
            .filter(organizations::Column::Id.eq(organization_id))
            .exec(&self.txn)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    /// Reads an organization and locks its row until the transaction ends
    /// (PostgreSQL `FOR UPDATE`; SQLite's writer lock already serializes),
    /// so checks against its limits cannot race.
    pub async fn lock_organization(&self, id: i64) -> DomainResult<Option<Organization>> {
        self.organization_where(organizations::Entity::find_by_id(id).lock_exclusive())
            .await
    }

    pub async fn find_organization(&self, id: i64) -> DomainResult<Option<Organization>> {
        self.organization_where(organizations::Entity::find_by_id(id))
            .await
    }

    /// The organization `select` finds, if any.
    async fn organization_where(
        &self,
        select: sea_orm::Select<organizations::Entity>,
    ) -> DomainResult<Option<Organization>> {
        match select.one(&self.txn).await.map_err(db_err)? {
            Some(row) => Ok(Some(self.organization_from(row).await?)),
            None => Ok(None),
        }
    }

    pub async fn list_organizations(&self, page: Page) -> DomainResult<Vec<Organization>> {
        let rows = organizations::Entity::find()
            .keyset(organizations::Column::Id, Order::OldestFirst, page)
            .all(&self.txn)
            .await
            .map_err(db_err)?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            out.push(self.organization_from(row).await?);
        }
        Ok(out)
    }

    pub(super) async fn organization_from(
        &self,
        row: organizations::Model,
    ) -> DomainResult<Organization> {
        let master_user_id = row.master_user_id.ok_or_else(|| {
            DomainError::internal(format!("organization {} has no master", row.id))
        })?;
        let master = users::Entity::find_by_id(master_user_id)
            .select_only()
            .column(users::Column::Plan)
            .into_tuple::<String>()
            .one(&self.txn)
            .await
            .map_err(db_err)?
            .ok_or_else(|| DomainError::internal("master account row missing"))?;
        let counts = self.account_counts(row.id).await?;
        Ok(Organization {
            id: row.id,
            name: row.name,
            master_user_id,
            master_plan: Plan::parse_stored(&master)?,
            account_count: counts.accounts,
            created_at: from_millis(row.created_at),
        })
    }

    /// Accounts besides the master (deleted ones excluded), and how many of
    /// them are Free.
    pub async fn account_counts(&self, organization_id: i64) -> DomainResult<AccountCounts> {
        let live = || {
            users::Entity::find()
                .filter(users::Column::OrganizationId.eq(organization_id))
                .filter(users::Column::IsMaster.eq(false))
                .filter(users::Column::State.ne(AccountState::Deleted.as_str()))
        };
        let accounts = live().count(&self.txn).await.map_err(db_err)?;
        let free_accounts = live()
            .filter(users::Column::Plan.eq(Plan::Free.as_str()))
            .count(&self.txn)
            .await
            .map_err(db_err)?;
        Ok(AccountCounts {
            accounts: accounts as u32,
            free_accounts: free_accounts as u32,
        })
    }
}
