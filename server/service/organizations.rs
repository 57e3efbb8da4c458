//! Organizations and their master accounts (operator calls), and the
//! access rules every organization-scoped call goes through.

use super::App;
use crate::rules::accounts;
use crate::rules::address;
use crate::rules::audit::audit;
use crate::rules::model::{AccountEventKind, NewAccount, Organization, User};
use crate::rules::paging::{Page, Paged};
use crate::rules::plans::Plan;
use crate::rules::{DomainError, DomainResult, Kind, Principal, Role};
use crate::secrets;
use crate::store::Tx;

impl App {
    pub async fn create_organization(
        &self,
        principal: &Principal,
        name: String,
        master: NewAccount,
    ) -> DomainResult<(Organization, User)> {
        if !self.provider().owns(master.primary_address.domain()) {
            return Err(DomainError::invalid(
                "master.primary_address",
                "must be on a provider domain: a new organization has no domains yet",
            ));
        }
        address::check_on_provider_domain(&master.primary_address, "master.primary_address")?;
        let hash = secrets::hash_password(master.password.expose().to_string()).await?;
        let now = self.now();
        let tx = self.store().write().await?;
        accounts::check_unique(
            &master,
            tx.username_taken(master.username.as_str()).await?,
            tx.address_taken(master.primary_address.as_str()).await?,
        )?;
        let organization_id = tx.insert_organization(&name, now).await?;
        let user = tx
            .insert_user(organization_id, &master, hash, true, None, now)
            .await?;
        tx.set_organization_master(organization_id, user.id).await?;
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
                "organization.create",
                format!("organization:{organization_id}"),
            )
            .details(format!(
                "name={name:?} master={} plan={}",
                user.username,
                user.plan.as_str()
            )),
            now,
        )
        .await?;
        let organization = tx
            .find_organization(organization_id)
            .await?
            .ok_or_else(|| DomainError::internal("organization vanished"))?;
        tx.commit().await?;
        Ok((organization, user))
    }

    pub async fn get_organization(
        &self,
        _principal: &Principal,
        id: i64,
    ) -> DomainResult<Organization> {
        let tx = self.store().read().await?;
        tx.find_organization(id)
            .await?
            .ok_or(DomainError::NotFound(Kind::Organization))
    }

    pub async fn list_organizations(
        &self,
        _principal: &Principal,
        page: Page,
    ) -> DomainResult<Paged<Organization>> {
        let tx = self.store().read().await?;
        let items = tx.list_organizations(page).await?;
        Ok(Paged::new(page, items, |o| o.id))
    }

    /// Sets the master account's plan: the customer's own subscription,
    /// paid outside the credit. Lowered limits stop new additions only.
    pub async fn set_master_plan(
        &self,
        principal: &Principal,
        id: i64,
        plan: Plan,
    ) -> DomainResult<Organization> {
        let now = self.now();
        let tx = self.store().write().await?;
        let before = tx
            .lock_organization(id)
            .await?
            .ok_or(DomainError::NotFound(Kind::Organization))?;
        tx.set_user_plan(before.master_user_id, plan, now).await?;
        tx.record(
            audit(
                principal,
                Some(id),
                "organization.set_master_plan",
                format!("organization:{id}"),
            )
            .details(format!(
                "{} -> {}",
                before.master_plan.as_str(),
                plan.as_str()
            )),
            now,
        )
        .await?;
        let after = tx
            .find_organization(id)
            .await?
            .ok_or_else(|| DomainError::internal("organization vanished"))?;
        tx.commit().await?;
        Ok(after)
    }

    /// Checks that the caller may manage `organization_id`: it exists, it is
    /// within the caller's reach (NotFound otherwise), and for an org admin
    /// the console is open (the master is not on Free).
    pub(crate) async fn authorize_organization(
        &self,
        tx: &Tx,
        principal: &Principal,
        organization_id: i64,
    ) -> DomainResult<Organization> {
        if !principal.manages(organization_id) {
            return Err(DomainError::NotFound(Kind::Organization));
        }
        let organization = tx
            .find_organization(organization_id)
            .await?
            .ok_or(DomainError::NotFound(Kind::Organization))?;
        if principal.role == Role::OrgAdmin {
            tx.plan_terms(organization.master_plan)
                .await?
                .require_console()?;
        }
        Ok(organization)
    }
}
