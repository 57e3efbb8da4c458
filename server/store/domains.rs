//! Custom domains: claims, verification, activation, removal.

use super::entities::{addresses, domains};
use super::paging::{Keyset, Order};
use super::{Tx, db_err, unique_or};
use crate::clock::{from_millis, to_millis};
use crate::rules::model::{Domain, DomainState};
use crate::rules::paging::Page;
use crate::rules::{DomainError, DomainResult, Kind};
use crate::snapshot::RoutingKey;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};

impl Tx {
    /// A new claim, without DKIM keys yet.
    pub async fn insert_domain(
        &self,
        row: NewDomainRow<'_>,
        now: DateTime<Utc>,
    ) -> DomainResult<Domain> {
        let model = domains::ActiveModel {
            organization_id: Set(row.organization_id),
            name: Set(row.name.to_string()),
            display: Set(row.display.to_string()),
            state: Set(DomainState::Pending.as_str().to_string()),
            verification_token: Set(row.verification_token.to_string()),
            created_at: Set(to_millis(now)),
            verified_at: Set(None),
            activated_at: Set(None),
            ..Default::default()
        }
        .insert(&self.txn)
        .await
        .map_err(|e| {
            unique_or(
                e,
                Kind::Domain,
                format!("{} is already claimed by this organization", row.name),
            )
        })?;
        domain_from(model, 0)
    }

    pub async fn find_domain(&self, id: i64) -> DomainResult<Option<Domain>> {
        let Some(row) = domains::Entity::find_by_id(id)
            .one(&self.txn)
            .await
            .map_err(db_err)?
        else {
            return Ok(None);
        };
        Ok(Some(self.complete(row).await?))
    }

    /// A domain row with what is counted elsewhere: its addresses and its
    /// alias domains.
    async fn complete(&self, row: domains::Model) -> DomainResult<Domain> {
        let count = self
            .count_addresses_on(row.organization_id, &row.name)
            .await?;
        let aliases: Vec<i64> = domains::Entity::find()
            .select_only()
            .column(domains::Column::Id)
            .filter(domains::Column::AliasOfDomainId.eq(row.id))
            .order_by_asc(domains::Column::Id)
            .into_tuple()
            .all(&self.txn)
            .await
            .map_err(db_err)?;
        let mut domain = domain_from(row, count)?;
        domain.alias_domain_ids = aliases;
        domain.dkim_keys = self.dkim_keys(domain.id).await?;
        Ok(domain)
    }

    /// Makes domain `id` an alias of `target` (`None`: no longer an alias).
    pub async fn set_alias_of(&self, id: i64, target: Option<i64>) -> DomainResult<()> {
        domains::Entity::update_many()
            .col_expr(domains::Column::AliasOfDomainId, Expr::value(target))
            .filter(domains::Column::Id.eq(id))
            .exec(&self.txn)
            .await
            .map_err(db_err)?;
        self.touch_domain(id).await
    }

    /// The organization's row (claim or ownership) for a domain name.
    pub async fn find_organization_domain(
        &self,
        organization_id: i64,
        name: &str,
    ) -> DomainResult<Option<Domain>> {
        let Some(row) = domains::Entity::find()
            .filter(domains::Column::OrganizationId.eq(organization_id))
            .filter(domains::Column::Name.eq(name))
            .one(&self.txn)
            .await
            .map_err(db_err)?
        else {
            return Ok(None);
        };
        Ok(Some(self.complete(row).await?))
    }

    pub async fn organization_has_domain(
        &self,
        organization_id: i64,
        name: &str,
    ) -> DomainResult<bool> {
        let n = domains::Entity::find()
            .filter(domains::Column::OrganizationId.eq(organization_id))
            .filter(domains::Column::Name.eq(name))
            .count(&self.txn)
            .await
            .map_err(db_err)?;
        Ok(n > 0)
    }

    /// The VERIFIED or ACTIVE row of a domain name: its owner.
    pub async fn owned_domain(&self, name: &str) -> DomainResult<Option<Domain>> {
        let row = domains::Entity::find()
            .filter(domains::Column::Name.eq(name))
            .filter(domains::Column::State.ne(DomainState::Pending.as_str()))
            .one(&self.txn)
            .await
            .map_err(db_err)?;
        row.map(|r| domain_from(r, 0)).transpose()
    }

    pub async fn count_domains(&self, organization_id: i64) -> DomainResult<u32> {
        let n = domains::Entity::find()
            .filter(domains::Column::OrganizationId.eq(organization_id))
            .count(&self.txn)
            .await
            .map_err(db_err)?;
        Ok(n as u32)
    }

    pub async fn list_domains(
        &self,
        organization_id: i64,
        page: Page,
    ) -> DomainResult<Vec<Domain>> {
        let rows = domains::Entity::find()
            .filter(domains::Column::OrganizationId.eq(organization_id))
            .keyset(domains::Column::Id, Order::OldestFirst, page)
            .all(&self.txn)
            .await
            .map_err(db_err)?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            out.push(self.complete(row).await?);
        }
        Ok(out)
    }

    /// Locks every row (claims and owner) of a domain name, in id order, so
    /// concurrent verifications of one name queue instead of deadlocking
    /// (each would hold its own row and wait for the others'). SQLite's
    /// single writer already serializes them.
    pub async fn lock_domain_name(&self, name: &str) -> DomainResult<()> {
        domains::Entity::find()
            .select_only()
            .column(domains::Column::Id)
            .filter(domains::Column::Name.eq(name))
            .order_by_asc(domains::Column::Id)
            .lock_exclusive()
            .into_tuple::<i64>()
            .all(&self.txn)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    /// PENDING → VERIFIED. The partial unique key `domains_one_owner` makes
    /// a second organization's verification fail with AlreadyExists.
    pub async fn mark_domain_verified(&self, id: i64, now: DateTime<Utc>) -> DomainResult<()> {
        domains::Entity::update_many()
            .col_expr(
                domains::Column::State,
                Expr::value(DomainState::Verified.as_str()),
            )
            .col_expr(domains::Column::VerifiedAt, Expr::value(to_millis(now)))
            .filter(domains::Column::Id.eq(id))
            .filter(domains::Column::State.eq(DomainState::Pending.as_str()))
            .exec(&self.txn)
            .await
            .map_err(|e| unique_or(e, Kind::Domain, "verified by another organization"))?;
        Ok(())
    }

    /// Deletes the other organizations' pending claims on `name`; returns
    /// (claim id, organization id) of each.
    pub async fn drop_other_claims(
        &self,
        name: &str,
        keep_id: i64,
    ) -> DomainResult<Vec<(i64, i64)>> {
        let claims: Vec<(i64, i64)> = domains::Entity::find()
            .select_only()
            .column(domains::Column::Id)
            .column(domains::Column::OrganizationId)
            .filter(domains::Column::Name.eq(name))
            .filter(domains::Column::Id.ne(keep_id))
            .filter(domains::Column::State.eq(DomainState::Pending.as_str()))
            .into_tuple()
            .all(&self.txn)
            .await
            .map_err(db_err)?;
        if !claims.is_empty() {
            domains::Entity::delete_many()
                .filter(domains::Column::Id.is_in(claims.iter().map(|(id, _)| *id)))
                .exec(&self.txn)
                .await
                .map_err(db_err)?;
        }
        Ok(claims)
    }

    pub async fn set_domain_state(
        &self,
        id: i64,
        state: DomainState,
        now: DateTime<Utc>,
    ) -> DomainResult<()> {
        let mut update = domains::Entity::update_many()
            .col_expr(domains::Column::State, Expr::value(state.as_str()))
            .filter(domains::Column::Id.eq(id));
        if state == DomainState::Active {
            update = update.col_expr(domains::Column::ActivatedAt, Expr::value(to_millis(now)));
        }
        update.exec(&self.txn).await.map_err(db_err)?;
        self.touch_domain(id).await
    }

    /// Sets (or with `None` clears) the domain's catch-all account.
    pub async fn set_catch_all(&self, id: i64, user_id: Option<i64>) -> DomainResult<()> {
        domains::Entity::update_many()
            .col_expr(domains::Column::CatchAllUserId, Expr::value(user_id))
            .filter(domains::Column::Id.eq(id))
            .exec(&self.txn)
            .await
            .map_err(db_err)?;
        self.touch_domain(id).await
    }

    /// Clears every catch-all that names `user_id` (the account is being
    /// deleted); routing re-reads those domains. Their ids.
    pub async fn clear_catch_alls_of(&self, user_id: i64) -> DomainResult<Vec<i64>> {
        let cleared: Vec<(i64, String)> = domains::Entity::find()
            .select_only()
            .column(domains::Column::Id)
            .column(domains::Column::Name)
            .filter(domains::Column::CatchAllUserId.eq(user_id))
            .into_tuple()
            .all(&self.txn)
            .await
            .map_err(db_err)?;
        domains::Entity::update_many()
            .col_expr(
                domains::Column::CatchAllUserId,
                Expr::value(Option::<i64>::None),
            )
            .filter(domains::Column::CatchAllUserId.eq(user_id))
            .exec(&self.txn)
            .await
            .map_err(db_err)?;
        let mut ids = Vec::with_capacity(cleared.len());
        for (id, name) in cleared {
            self.touch(RoutingKey::Domain(name));
            ids.push(id);
        }
        Ok(ids)
    }

    pub async fn delete_domain(&self, id: i64) -> DomainResult<()> {
        self.touch_domain(id).await?;
        self.delete_dkim_keys(id).await?;
        domains::Entity::delete_by_id(id)
            .exec(&self.txn)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    /// Routing re-reads this domain after commit (it may have become, or
    /// stopped being, ACTIVE).
    async fn touch_domain(&self, id: i64) -> DomainResult<()> {
        let name: Option<String> = domains::Entity::find_by_id(id)
            .select_only()
            .column(domains::Column::Name)
            .into_tuple()
            .one(&self.txn)
            .await
            .map_err(db_err)?;
        if let Some(name) = name {
            self.touch(RoutingKey::Domain(name));
        }
        Ok(())
    }

    async fn count_addresses_on(&self, organization_id: i64, name: &str) -> DomainResult<u32> {
        let n = addresses::Entity::find()
            .filter(addresses::Column::OrganizationId.eq(organization_id))
            .filter(addresses::Column::Domain.eq(name))
            .count(&self.txn)
            .await
            .map_err(db_err)?;
        Ok(n as u32)
    }
}

/// A domain claim about to be stored.
pub struct NewDomainRow<'a> {
    pub organization_id: i64,
    pub name: &'a str,
    pub display: &'a str,
    pub verification_token: &'a str,
}

fn domain_from(row: domains::Model, address_count: u32) -> DomainResult<Domain> {
    Ok(Domain {
        id: row.id,
        organization_id: row.organization_id,
        state: DomainState::parse_stored(&row.state)
            .ok_or_else(|| DomainError::internal(format!("domain {}: bad state", row.id)))?,
        name: row.name,
        display_name: row.display,
        verification_token: row.verification_token,
        dkim_keys: Vec::new(),
        address_count,
        created_at: from_millis(row.created_at),
        verified_at: row.verified_at.map(from_millis),
        activated_at: row.activated_at.map(from_millis),
        catch_all_user_id: row.catch_all_user_id,
        alias_of_domain_id: row.alias_of_domain_id,
        alias_domain_ids: Vec::new(),
    })
}
