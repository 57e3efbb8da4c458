//! Addresses (primary and aliases): uniqueness, aliases of an account, and
//! the rows one resolution reads (`RoutingFacts`, a `Directory`).

use super::entities::{addresses, domains, organizations, users};
use super::{Tx, db_err, unique_or};
use crate::clock::{from_millis, to_millis};
use crate::rules::address::EmailAddress;
use crate::rules::model::{AccountAddress, AccountState, AddressKind, DomainState, User};
use crate::rules::resolution::{self, AccountRoute, Directory, DomainRoute};
use crate::rules::{DomainError, DomainResult, Kind};
use crate::snapshot::RoutingKey;
use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};
use std::collections::HashMap;

impl Tx {
    /// Gives `address` to an account; the unique key on the normalized
    /// address is the platform-wide uniqueness rule.
    pub(super) async fn insert_address(
        &self,
        user_id: i64,
        organization_id: i64,
        address: &crate::rules::address::EmailAddress,
        kind: AddressKind,
        now: DateTime<Utc>,
    ) -> DomainResult<addresses::Model> {
        let row = addresses::ActiveModel {
            address: Set(address.to_string()),
            display: Set(address.display()),
            domain: Set(address.domain().to_string()),
            kind: Set(kind.as_str().to_string()),
            user_id: Set(user_id),
            organization_id: Set(organization_id),
            created_at: Set(to_millis(now)),
            ..Default::default()
        }
        .insert(&self.txn)
        .await
        .map_err(|e| unique_or(e, Kind::Address, format!("{address} is taken")))?;
        self.touch(RoutingKey::Address(row.address.clone()));
        Ok(row)
    }

    pub async fn address_taken(&self, address: &str) -> DomainResult<bool> {
        let n = addresses::Entity::find()
            .filter(addresses::Column::Address.eq(address))
            .count(&self.txn)
            .await
            .map_err(db_err)?;
        Ok(n > 0)
    }

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

    /// When `domain` is an ACTIVE alias domain: the name of its target.
    async fn active_alias_target(&self, domain: &str) -> DomainResult<Option<String>> {
        let target: Option<Option<i64>> = domains::Entity::find()
            .select_only()
            .column(domains::Column::AliasOfDomainId)
            .filter(domains::Column::Name.eq(domain))
            .filter(domains::Column::State.eq(DomainState::Active.as_str()))
            .into_tuple()
            .one(&self.txn)
            .await
            .map_err(db_err)?;
        let Some(target) = target.flatten() else {
            return Ok(None);
        };
        domains::Entity::find_by_id(target)
            .select_only()
            .column(domains::Column::Name)
            .into_tuple()
            .one(&self.txn)
            .await
            .map_err(db_err)
    }

    /// Everything resolving `address` may look at, loaded in a few queries
    /// (on an ACTIVE alias domain: what resolving it on the target may).
    pub async fn routing_facts(
        &self,
        address: &EmailAddress,
        provider_domains: &[String],
    ) -> DomainResult<RoutingFacts> {
        let original_domain = address.domain();
        let alias = self.active_alias_target(original_domain).await?;
        let on_target;
        let address = match &alias {
            Some(target) => {
                on_target = address.on_domain(target);
                &on_target
            }
            None => address,
        };
        let domain = if provider_domains.iter().any(|d| d == address.domain()) {
            Some(DomainRoute::Provider)
        } else {
            let owner: Option<(i64, Option<i64>)> = domains::Entity::find()
                .select_only()
                .column(domains::Column::OrganizationId)
                .column(domains::Column::CatchAllUserId)
                .filter(domains::Column::Name.eq(address.domain()))
                .filter(domains::Column::AliasOfDomainId.is_null())
                .filter(domains::Column::State.eq(DomainState::Active.as_str()))
                .into_tuple()
                .one(&self.txn)
                .await
                .map_err(db_err)?;
            match owner {
                Some((organization_id, catch_all)) => {
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
                    Some(DomainRoute::Active {
                        master_user_id,
                        catch_all,
                    })
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
        if let Some(DomainRoute::Active {
            master_user_id,
            catch_all,
        }) = domain
        {
            user_ids.push(master_user_id);
            user_ids.extend(catch_all);
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
            alias: alias.map(|target| (original_domain.to_string(), target)),
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
    /// The alias domain asked about, and its target.
    alias: Option<(String, String)>,
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
    fn alias_target(&self, domain: &str) -> Option<String> {
        self.alias
            .as_ref()
            .filter(|(alias, _)| alias == domain)
            .map(|(_, target)| target.clone())
    }
}

pub(super) fn address_from(row: addresses::Model) -> DomainResult<AccountAddress> {
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
