//! Custom domains, notifications, account addresses (aliases), and the
//! routing facts one resolution needs.

use super::entities::{addresses, domains, notifications, organizations, users};
use super::paging::{Keyset, Order};
use super::{Tx, db_err, unique_or};
use crate::clock::{from_millis, to_millis};
use crate::rules::address::EmailAddress;
use crate::rules::model::{AccountAddress, AccountState, AddressKind, Domain, DomainState, User};
use crate::rules::paging::Page;
use crate::rules::resolution::{self, AccountRoute, Directory, DomainRoute};
use crate::rules::{DomainError, DomainResult, Kind};
use crate::snapshot::RoutingKey;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};
use std::collections::HashMap;

/// A domain claim about to be stored.
pub struct NewDomainRow<'a> {
    pub organization_id: i64,
    pub name: &'a str,
    pub display: &'a str,
    pub verification_token: &'a str,
    pub dkim_selector: &'a str,
    pub dkim_private_key: &'a str,
    pub dkim_public_key: &'a str,
}

impl Tx {
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
            dkim_selector: Set(row.dkim_selector.to_string()),
            dkim_private_key: Set(row.dkim_private_key.to_string()),
            dkim_public_key: Set(row.dkim_public_key.to_string()),
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
        let count = self
            .count_addresses_on(row.organization_id, &row.name)
            .await?;
        Ok(Some(domain_from(row, count)?))
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
        let count = self.count_addresses_on(organization_id, name).await?;
        Ok(Some(domain_from(row, count)?))
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
            let count = self
                .count_addresses_on(row.organization_id, &row.name)
                .await?;
            out.push(domain_from(row, count)?);
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

    pub async fn delete_domain(&self, id: i64) -> DomainResult<()> {
        self.touch_domain(id).await?;
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

    // --- notifications --------------------------------------------------------

    pub async fn insert_notification(
        &self,
        organization_id: i64,
        kind: &str,
        message: &str,
        now: DateTime<Utc>,
    ) -> DomainResult<()> {
        notifications::ActiveModel {
            organization_id: Set(organization_id),
            kind: Set(kind.to_string()),
            message: Set(message.to_string()),
            created_at: Set(to_millis(now)),
            ..Default::default()
        }
        .insert(&self.txn)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    // --- addresses --------------------------------------------------------------

    pub async fn count_aliases(&self, user_id: i64) -> DomainResult<u32> {
        let n = addresses::Entity::find()
            .filter(addresses::Column::UserId.eq(user_id))
            .filter(addresses::Column::Kind.eq(AddressKind::Alias.as_str()))
            .count(&self.txn)
            .await
            .map_err(db_err)?;
        Ok(n as u32)
    }

    pub async fn insert_alias(
        &self,
        user: &User,
        address: &EmailAddress,
        now: DateTime<Utc>,
    ) -> DomainResult<AccountAddress> {
        let row = self
            .insert_address(
                user.id,
                user.organization_id,
                address,
                AddressKind::Alias,
                now,
            )
            .await?;
        address_from(row)
    }

    pub async fn find_user_address(
        &self,
        user_id: i64,
        address: &str,
    ) -> DomainResult<Option<AccountAddress>> {
        addresses::Entity::find()
            .filter(addresses::Column::UserId.eq(user_id))
            .filter(addresses::Column::Address.eq(address))
            .one(&self.txn)
            .await
            .map_err(db_err)?
            .map(address_from)
            .transpose()
    }

    pub async fn delete_address(&self, address: &AccountAddress) -> DomainResult<()> {
        addresses::Entity::delete_by_id(address.id)
            .exec(&self.txn)
            .await
            .map_err(db_err)?;
        self.touch(RoutingKey::Address(address.address.clone()));
        Ok(())
    }

    /// Primary first, then aliases oldest first.
    pub async fn list_user_addresses(&self, user_id: i64) -> DomainResult<Vec<AccountAddress>> {
        let rows = addresses::Entity::find()
            .filter(addresses::Column::UserId.eq(user_id))
            .order_by_asc(addresses::Column::Id)
            .all(&self.txn)
            .await
            .map_err(db_err)?;
        let mut out = rows
            .into_iter()
            .map(address_from)
            .collect::<DomainResult<Vec<_>>>()?;
        out.sort_by_key(|a| (a.kind != AddressKind::Primary, a.id));
        Ok(out)
    }

    /// Everything resolving `address` may look at, loaded in a few queries.
    pub async fn routing_facts(
        &self,
        address: &EmailAddress,
        provider_domains: &[String],
    ) -> DomainResult<RoutingFacts> {
        let domain = if provider_domains.iter().any(|d| d == address.domain()) {
            Some(DomainRoute::Provider)
        } else {
            let owner: Option<i64> = domains::Entity::find()
                .select_only()
                .column(domains::Column::OrganizationId)
                .filter(domains::Column::Name.eq(address.domain()))
                .filter(domains::Column::State.eq(DomainState::Active.as_str()))
                .into_tuple()
                .one(&self.txn)
                .await
                .map_err(db_err)?;
            match owner {
                Some(organization_id) => {
                    let master: Option<Option<i64>> =
                        organizations::Entity::find_by_id(organization_id)
                            .select_only()
                            .column(organizations::Column::MasterUserId)
                            .into_tuple()
                            .one(&self.txn)
                            .await
                            .map_err(db_err)?;
                    let master_user_id = master
                        .flatten()
                        .ok_or_else(|| DomainError::internal("organization without master"))?;
                    Some(DomainRoute::Active { master_user_id })
                }
                None => None,
            }
        };
        let owners: Vec<(String, i64, i64)> = addresses::Entity::find()
            .select_only()
            .column(addresses::Column::Address)
            .column(addresses::Column::UserId)
            .column(addresses::Column::OrganizationId)
            .filter(addresses::Column::Address.is_in(resolution::candidates(address)))
            .into_tuple()
            .all(&self.txn)
            .await
            .map_err(db_err)?;
        let mut user_ids: Vec<i64> = owners.iter().map(|(_, user, _)| *user).collect();
        if let Some(DomainRoute::Active { master_user_id }) = domain {
            user_ids.push(master_user_id);
        }
        let accounts: Vec<(i64, String, String)> = users::Entity::find()
            .select_only()
            .column(users::Column::Id)
            .column(users::Column::State)
            .column(users::Column::PrimaryAddress)
            .filter(users::Column::Id.is_in(user_ids))
            .into_tuple()
            .all(&self.txn)
            .await
            .map_err(db_err)?;
        let accounts = accounts
            .into_iter()
            .map(|(id, state, primary_address)| {
                let state = AccountState::parse_stored(&state)
                    .ok_or_else(|| DomainError::internal(format!("user {id}: bad state")))?;
                Ok((
                    id,
                    AccountRoute {
                        state,
                        primary_address,
                    },
                ))
            })
            .collect::<DomainResult<HashMap<_, _>>>()?;
        Ok(RoutingFacts {
            domain: domain.map(|route| (address.domain().to_string(), route)),
            owners: owners
                .into_iter()
                .map(|(a, user, org)| (a, (user, org)))
                .collect(),
            accounts,
        })
    }
}

/// The rows one resolution reads, as a [`Directory`].
pub struct RoutingFacts {
    /// The one domain read, and how it is served.
    domain: Option<(String, DomainRoute)>,
    owners: HashMap<String, (i64, i64)>,
    accounts: HashMap<i64, AccountRoute>,
}

impl RoutingFacts {
    /// Whether any address looked at belongs to an account of `organization_id`.
    pub fn owned_by(&self, organization_id: i64) -> bool {
        self.owners.values().any(|(_, org)| *org == organization_id)
    }
}

impl Directory for RoutingFacts {
    fn domain(&self, domain: &str) -> Option<DomainRoute> {
        self.domain
            .as_ref()
            .filter(|(name, _)| name == domain)
            .map(|(_, route)| *route)
    }
    fn owner(&self, address: &str) -> Option<i64> {
        self.owners.get(address).map(|(user, _)| *user)
    }
    fn account(&self, user_id: i64) -> Option<AccountRoute> {
        self.accounts.get(&user_id).cloned()
    }
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
        dkim_selector: row.dkim_selector,
        dkim_public_key: row.dkim_public_key,
        address_count,
        created_at: from_millis(row.created_at),
        verified_at: row.verified_at.map(from_millis),
        activated_at: row.activated_at.map(from_millis),
    })
}

fn address_from(row: addresses::Model) -> DomainResult<AccountAddress> {
    let kind = match row.kind.as_str() {
        "primary" => AddressKind::Primary,
        "alias" => AddressKind::Alias,
        other => {
            return Err(DomainError::internal(format!(
                "address {}: bad kind {other:?}",
                row.id
            )));
        }
    };
    Ok(AccountAddress {
        id: row.id,
        user_id: row.user_id,
        organization_id: row.organization_id,
        address: row.address,
        display: row.display,
        domain: row.domain,
        kind,
        created_at: from_millis(row.created_at),
    })
}
