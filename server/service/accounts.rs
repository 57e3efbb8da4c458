//! Accounts: creation within the organization's limits, personal data,
//! enable/disable/delete, and reading the audit log.

use super::App;
use crate::rules::accounts::{self, NewAccountFacts, StateRequest, require_not_deleted};
use crate::rules::address::EmailAddress;
use crate::rules::aliases;
use crate::rules::audit::audit;
use crate::rules::model::{
    AccountEventKind, AccountState, AuditEvent, NewAccount, ProfileUpdate, User, UserFilter,
};
use crate::rules::money::Money;
use crate::rules::paging::{Page, Paged};
use crate::rules::{DomainError, DomainResult, Kind, Principal, Role};
use crate::secrets;
use crate::store::Tx;

/// A CreateUser request, parsed.
pub struct NewUser {
    pub organization_id: i64,
    pub account: NewAccount,
    /// Created with the account, in order.
    pub aliases: Vec<EmailAddress>,
    pub request_id: Option<String>,
}

/// What CreateUser did (or, validating only, would do).
pub struct Created {
    pub user: User,
    /// The first period of a paid plan; zero otherwise.
    pub charged: Money,
    /// The request id was used before: `user` is what that call created.
    pub already_created: bool,
}

impl Created {
    fn before(user: User) -> Created {
        Created {
            user,
            charged: Money::ZERO,
            already_created: true,
        }
    }
}

impl App {
    /// Creates an account with its aliases and charges its first period,
    /// in one transaction; or, `validate_only`, checks all of it and rolls
    /// it back (docs/rules.md, "Validate only").
    pub async fn create_user(
        &self,
        principal: &Principal,
        new: NewUser,
        validate_only: bool,
    ) -> DomainResult<Created> {
        let NewUser {
            organization_id,
            account,
            aliases,
            request_id,
        } = new;
        let organization_id = principal.scope_organization(organization_id)?;
        if let Some(request_id) = &request_id {
            let tx = self.store().read().await?;
            self.authorize_organization(&tx, principal, organization_id)
                .await?;
            if let Some(first) = tx
                .find_user_by_request_id(organization_id, request_id)
                .await?
            {
                return Ok(Created::before(first));
            }
        }
        let hash = if validate_only {
            String::new()
        } else {
            secrets::hash_password(account.password.expose().to_string()).await?
        };
        let now = self.now();
        let tx = self.store().write().await?;
        let organization = tx
            .lock_organization(organization_id)
            .await?
            .ok_or(DomainError::NotFound(Kind::Organization))?;
        let master_terms = tx.plan_terms(organization.master_plan).await?;
        if principal.role == Role::OrgAdmin {
            master_terms.require_console()?;
        }
        if let Some(request_id) = &request_id {
            // A concurrent retry may have won the race since the read above.
            if let Some(first) = tx
                .find_user_by_request_id(organization_id, request_id)
                .await?
            {
                return Ok(Created::before(first));
            }
        }
        let facts = NewAccountFacts {
            home: self
                .address_home(&tx, organization_id, &account.primary_address)
                .await?,
            counts: tx.account_counts(organization_id).await?,
            username_taken: tx.username_taken(account.username.as_str()).await?,
            address_taken: tx.address_taken(account.primary_address.as_str()).await?,
        };
        accounts::check_new_account(&account, &master_terms, &facts)?;
        let user = tx
            .insert_user(
                organization_id,
                &account,
                hash,
                false,
                request_id.as_deref(),
                now,
            )
            .await?;
        let plan_terms = tx.plan_terms(account.plan).await?;
        tx.record_account_event(
            organization_id,
            user.id,
            AccountEventKind::Created,
            Some(user.primary_address.clone()),
            now,
        )
        .await?;
        tx.record(
            audit(
                principal,
                Some(organization_id),
                "user.create",
                format!("user:{}", user.id),
            )
            .details(format!(
                "username={} address={} plan={}",
                user.username,
                user.primary_address,
                user.plan.as_str()
            )),
            now,
        )
        .await?;
        for (index, address) in aliases.iter().enumerate() {
            self.insert_alias_checked(&tx, principal, &user, address, now)
                .await
                .map_err(|e| aliases::at_alias(e, index))?;
        }
        self.charge_first_period(&tx, principal, &user, &plan_terms, now)
            .await?;
        // Re-read: charging the first period set the paid period.
        let mut user = tx
            .find_user(user.id)
            .await?
            .ok_or(DomainError::NotFound(Kind::User))?;
        let charged = if plan_terms.plan.is_paid() {
            Money::from_cents(plan_terms.price_cents)
        } else {
            Money::ZERO
        };
        if validate_only {
            // Dropping the transaction rolls every write back.
            drop(tx);
            user.id = 0;
        } else {
            tx.commit().await?;
            tracing::info!(user_id = user.id, organization_id, "account created");
        }
        Ok(Created {
            user,
            charged,
            already_created: false,
        })
    }

    pub async fn get_user(&self, principal: &Principal, user_id: i64) -> DomainResult<User> {
        let tx = self.store().read().await?;
        self.authorize_user(&tx, principal, user_id, Access::SelfOrManage)
            .await
    }

    pub async fn list_users(
        &self,
        principal: &Principal,
        organization_id: i64,
        filter: UserFilter,
        page: Page,
    ) -> DomainResult<Paged<User>> {
        let organization_id = principal.scope_organization(organization_id)?;
        let tx = self.store().read().await?;
        self.authorize_organization(&tx, principal, organization_id)
            .await?;
        let items = tx.list_users(organization_id, &filter, page).await?;
        Ok(Paged::new(page, items, |u| u.id))
    }

    pub async fn update_user_profile(
        &self,
        principal: &Principal,
        user_id: i64,
        update: ProfileUpdate,
    ) -> DomainResult<User> {
        let now = self.now();
        let tx = self.store().write().await?;
        let user = self
            .authorize_user(&tx, principal, user_id, Access::SelfOrManage)
            .await?;
        require_not_deleted(&user)?;
        let updated = tx.update_profile(user_id, &update, now).await?;
        tx.record(
            audit(
                principal,
                Some(user.organization_id),
                "user.update_profile",
                format!("user:{user_id}"),
            )
            .details(update.changed_fields().join(",")),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(updated)
    }

    pub async fn disable_user(&self, principal: &Principal, user_id: i64) -> DomainResult<User> {
        self.change_state(principal, user_id, StateRequest::Disable)
            .await
    }

    pub async fn enable_user(&self, principal: &Principal, user_id: i64) -> DomainResult<User> {
        self.change_state(principal, user_id, StateRequest::Enable)
            .await
    }

    /// Stops an account from signing in while its mail keeps arriving and
    /// its billing goes on.
    pub async fn suspend_user(&self, principal: &Principal, user_id: i64) -> DomainResult<User> {
        self.change_state(principal, user_id, StateRequest::Suspend)
            .await
    }

    pub async fn resume_user(&self, principal: &Principal, user_id: i64) -> DomainResult<User> {
        self.change_state(principal, user_id, StateRequest::Resume)
            .await
    }

    /// Deletes a disabled account for good: a tombstone keeps its username
    /// and provider addresses from ever being reissued.
    pub async fn delete_user(&self, principal: &Principal, user_id: i64) -> DomainResult<User> {
        self.change_state(principal, user_id, StateRequest::Delete)
            .await
    }

    async fn change_state(
        &self,
        principal: &Principal,
        user_id: i64,
        request: StateRequest,
    ) -> DomainResult<User> {
        let now = self.now();
        let tx = self.store().write().await?;
        let user = self
            .authorize_user(&tx, principal, user_id, Access::Manage)
            .await?;
        let Some(change) = accounts::state_change(principal.role, &user, request)? else {
            return Ok(user);
        };
        let to = change.to;
        if to == AccountState::Deleted {
            self.refund_on_deletion(&tx, principal, &user, now).await?;
            tx.tombstone_user(user_id, &self.settings().provider_domains, now)
                .await?;
            // A deleted account catches nothing: its domains refuse unknown
            // addresses again.
            for domain in tx.clear_catch_alls_of(user_id).await? {
                tx.record(
                    audit(
                        principal,
                        Some(user.organization_id),
                        "domain.clear_catch_all",
                        format!("domain:{domain}"),
                    )
                    .details(format!("user:{user_id} deleted")),
                    now,
                )
                .await?;
            }
        } else {
            tx.set_user_state(user_id, to, now).await?;
        }
        tx.record_account_event(user.organization_id, user_id, request.event(), None, now)
            .await?;
        let revoked = if change.revokes_tokens {
            tx.revoke_user_tokens(user_id, now).await?
        } else {
            0
        };
        tx.record(
            audit(
                principal,
                Some(user.organization_id),
                change.action,
                format!("user:{user_id}"),
            )
            .details(format!(
                "{} -> {}; revoked {revoked} tokens",
                user.state.as_str(),
                to.as_str()
            )),
            now,
        )
        .await?;
        let after = tx
            .find_user(user_id)
            .await?
            .ok_or(DomainError::NotFound(Kind::User))?;
        tx.commit().await?;
        tracing::info!(user_id, state = to.as_str(), "account state changed");
        Ok(after)
    }

    pub async fn list_audit_events(
        &self,
        principal: &Principal,
        organization_id: i64,
        page: Page,
    ) -> DomainResult<Paged<AuditEvent>> {
        let tx = self.store().read().await?;
        let scope = if principal.is_operator() && organization_id == 0 {
            None
        } else {
            let organization_id = principal.scope_organization(organization_id)?;
            self.authorize_organization(&tx, principal, organization_id)
                .await?;
            Some(organization_id)
        };
        let items = tx.list_audit(scope, page).await?;
        Ok(Paged::new(page, items, |e| e.id))
    }

    /// Loads an account the caller may act on, or NotFound. `SelfOrManage`
    /// also lets any caller reach its own account (self-service); managing
    /// another account needs the organization's console open.
    pub(crate) async fn authorize_user(
        &self,
        tx: &Tx,
        principal: &Principal,
        user_id: i64,
        access: Access,
    ) -> DomainResult<User> {
        let user = tx
            .find_user(user_id)
            .await?
            .ok_or(DomainError::NotFound(Kind::User))?;
        if access == Access::SelfOrManage && principal.user_id == Some(user_id) {
            return Ok(user);
        }
        if !principal.manages(user.organization_id) {
            return Err(DomainError::NotFound(Kind::User));
        }
        self.authorize_organization(tx, principal, user.organization_id)
            .await?;
        Ok(user)
    }
}

/// How a call reaches an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    /// The account itself, or whoever manages its organization.
    SelfOrManage,
    /// Only whoever manages its organization.
    Manage,
}
