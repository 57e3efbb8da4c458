//! Aliases: more addresses for an account, within its plan's limit; and
//! ResolveAddress, which shows where an address routes.

use super::Access;
use super::App;
use crate::rules::address::EmailAddress;
use crate::rules::audit::audit;
use crate::rules::model::{AccountAddress, AccountState, AddressKind};
use crate::rules::resolution::{self, Route};
use crate::rules::{DomainError, DomainResult, Kind, Principal};

impl App {
    pub async fn add_alias(
        &self,
        principal: &Principal,
        user_id: i64,
        address: EmailAddress,
    ) -> DomainResult<AccountAddress> {
        let now = self.now();
        let tx = self.store().write().await?;
        let user = self
            .authorize_user(&tx, principal, user_id, Access::Manage)
            .await?;
        if user.state == AccountState::Deleted {
            return Err(DomainError::precondition(format!(
                "account {user_id} is deleted"
            )));
        }
        self.check_new_address(
            &tx,
            user.organization_id,
            &address,
            AddressKind::Alias,
            "address",
        )
        .await?;
        let terms = tx.plan_terms(user.plan).await?;
        let aliases = tx.count_aliases(user_id).await?;
        if aliases >= terms.aliases_per_user {
            return Err(DomainError::precondition(format!(
                "the account has {aliases} of {} aliases its {} plan allows",
                terms.aliases_per_user,
                user.plan.as_str()
            )));
        }
        if tx.address_taken(address.as_str()).await? {
            return Err(DomainError::AlreadyExists {
                kind: Kind::Address,
                detail: format!("{address} is taken"),
            });
        }
        let alias = tx.insert_alias(&user, &address, now).await?;
        tx.record(
            audit(
                principal,
                Some(user.organization_id),
                "alias.add",
                format!("user:{user_id}"),
            )
            .details(format!("address={address}")),
            now,
        )
        .await?;
        tx.commit().await?;
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
        if row.kind == AddressKind::Primary {
            return Err(DomainError::precondition(
                "the primary address cannot be deleted",
            ));
        }
        if self.is_provider_domain(&row.domain) {
            return Err(DomainError::precondition(format!(
                "{} is on a provider domain: such addresses can never be deleted or given to anyone else",
                row.address
            )));
        }
        tx.delete_address(&row).await?;
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
