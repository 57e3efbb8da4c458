//! Aliases: more addresses for an account, within its plan's limit; and
//! ResolveAddress, which shows where an address routes.

use super::Access;
use super::App;
use crate::rules::accounts::require_not_deleted;
use crate::rules::address::EmailAddress;
use crate::rules::aliases::{self, NewAliasFacts};
use crate::rules::audit::audit;
use crate::rules::model::{AccountAddress, AccountEventKind, User};
use crate::rules::resolution::{self, Route};
use crate::rules::{DomainError, DomainResult, Kind, Principal};
use crate::store::Tx;
use chrono::{DateTime, Utc};

impl App {
    pub async fn add_alias(
        &self,
        principal: &Principal,
        user_id: i64,
        address: EmailAddress,
        validate_only: bool,
    ) -> DomainResult<AccountAddress> {
        let now = self.now();
        let tx = self.store().write().await?;
        let user = self
            .authorize_user(&tx, principal, user_id, Access::Manage)
            .await?;
        let alias = self
            .insert_alias_checked(&tx, principal, &user, &address, now)
            .await?;
        if validate_only {
            // Dropping the transaction rolls the alias back.
            drop(tx);
        } else {
            tx.commit().await?;
        }
        Ok(alias)
    }

    /// Checks `address` as a new alias of `user` against the rules, and
    /// stores it with its account event and audit event, in `tx`.
    pub(crate) async fn insert_alias_checked(
        &self,
        tx: &Tx,
        principal: &Principal,
        user: &User,
        address: &EmailAddress,
        now: DateTime<Utc>,
    ) -> DomainResult<AccountAddress> {
        require_not_deleted(user)?;
        let facts = NewAliasFacts {
            home: self.address_home(tx, user.organization_id, address).await?,
            terms: tx.plan_terms(user.plan).await?,
            aliases: tx.count_aliases(user.id).await?,
            address_taken: tx.address_taken(address.as_str()).await?,
        };
        aliases::check_new_alias(user, address, &facts)?;
        let alias = tx.insert_alias(user, address, now).await?;
        tx.record_account_event(
            user.organization_id,
            user.id,
            AccountEventKind::AddressAdded,
            Some(alias.address.clone()),
            now,
        )
        .await?;
        tx.record(
            audit(
                principal,
                Some(user.organization_id),
                "alias.add",
                format!("user:{}", user.id),
            )
            .details(format!("address={address}")),
            now,
        )
        .await?;
        Ok(alias)
    }

    /// Deletes an alias on one of the organization's own domains; the
    /// address is free again at once. Provider-domain addresses stay
    /// forever: they may never be given to anyone else.
    pub async fn delete_alias(
        &self,
        principal: &Principal,
        user_id: i64,
        address: EmailAddress,
    ) -> DomainResult<()> {
        let now = self.now();
        let tx = self.store().write().await?;
        let user = self
            .authorize_user(&tx, principal, user_id, Access::Manage)
            .await?;
        let row = tx
            .find_user_address(user_id, address.as_str())
            .await?
            .ok_or(DomainError::NotFound(Kind::Address))?;
        aliases::check_deletable(&row, self.provider().owns(&row.domain))?;
        tx.delete_address(&row).await?;
        tx.record_account_event(
            user.organization_id,
            user_id,
            AccountEventKind::AddressRemoved,
            Some(row.address.clone()),
            now,
        )
        .await?;
        tx.record(
            audit(
                principal,
                Some(user.organization_id),
                "alias.delete",
                format!("user:{user_id}"),
            )
            .details(format!("address={}", row.address)),
            now,
        )
        .await?;
        tx.commit().await
    }

    /// The account's addresses: primary first, then aliases oldest first.
    pub async fn list_aliases(
        &self,
        principal: &Principal,
        user_id: i64,
    ) -> DomainResult<Vec<AccountAddress>> {
        let tx = self.store().read().await?;
        self.authorize_user(&tx, principal, user_id, Access::SelfOrManage)
            .await?;
        tx.list_user_addresses(user_id).await
    }

    /// Where mail to `address` goes, by the delivery path's resolution. An
    /// org admin may ask about addresses of its own domains and accounts;
    /// anything else is NotFound.
    pub async fn resolve_address(
        &self,
        principal: &Principal,
        address: EmailAddress,
    ) -> DomainResult<Route> {
        let tx = self.store().read().await?;
        let facts = tx
            .routing_facts(&address, &self.settings().provider_domains)
            .await?;
        if !principal.is_operator() {
            let organization_id = principal.own_organization()?;
            let ours = tx
                .organization_has_domain(organization_id, address.domain())
                .await?
                || facts.owned_by(organization_id);
            if !ours {
                return Err(DomainError::NotFound(Kind::Address));
            }
            self.authorize_organization(&tx, principal, organization_id)
                .await?;
        }
        Ok(resolution::resolve(&facts, &address))
    }
}
