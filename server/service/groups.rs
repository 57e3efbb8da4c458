//! Groups: named sets of one organization's accounts that share calendars,
//! documents, contacts or mailboxes.

use super::App;
use crate::rules::audit::audit;
use crate::rules::model::{Group, GroupSharing, User};
use crate::rules::paging::Page;
use crate::rules::paging::Paged;
use crate::rules::{DomainError, DomainResult, Kind, Principal};
use crate::store::Tx;

impl App {
    pub async fn create_group(
        &self,
        principal: &Principal,
        organization_id: i64,
        name: String,
        sharing: GroupSharing,
    ) -> DomainResult<Group> {
        let organization_id = principal.scope_organization(organization_id)?;
        let now = self.now();
        let tx = self.store().write().await?;
        self.authorize_organization(&tx, principal, organization_id)
            .await?;
        let group = tx
            .insert_group(organization_id, &name, sharing, now)
            .await?;
        tx.record(
            audit(
                principal,
                Some(organization_id),
                "group.create",
                format!("group:{}", group.id),
            )
            .details(format!("name={name:?}")),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(group)
    }

    pub async fn rename_group(
        &self,
        principal: &Principal,
        group_id: i64,
        name: String,
    ) -> DomainResult<Group> {
        self.change_group(
            principal,
            group_id,
            "group.rename",
            format!("name={name:?}"),
            |tx, id| Box::pin(async move { tx.rename_group(id, &name).await }),
        )
        .await
    }

    pub async fn update_group_sharing(
        &self,
        principal: &Principal,
        group_id: i64,
        sharing: GroupSharing,
    ) -> DomainResult<Group> {
        self.change_group(
            principal,
            group_id,
            "group.update_sharing",
            format!("{sharing:?}"),
            |tx, id| Box::pin(async move { tx.set_group_sharing(id, sharing).await }),
        )
        .await
    }

    pub async fn add_group_members(
        &self,
        principal: &Principal,
        group_id: i64,
        user_ids: Vec<i64>,
    ) -> DomainResult<Group> {
        let detail = format!("users={user_ids:?}");
        self.change_group(
            principal,
            group_id,
            "group.add_members",
            detail,
            |tx, id| {
                Box::pin(async move {
                    let group = tx
                        .find_group(id)
                        .await?
                        .ok_or(DomainError::NotFound(Kind::Group))?;
                    let found = tx
                        .live_user_ids_in(group.organization_id, &user_ids)
                        .await?;
                    if found.len() != user_ids.len() {
                        return Err(DomainError::NotFound(Kind::User));
                    }
                    tx.add_group_members(id, &user_ids).await
                })
            },
        )
        .await
    }

    pub async fn remove_group_members(
        &self,
        principal: &Principal,
        group_id: i64,
        user_ids: Vec<i64>,
    ) -> DomainResult<Group> {
        let detail = format!("users={user_ids:?}");
        self.change_group(
            principal,
            group_id,
            "group.remove_members",
            detail,
            |tx, id| Box::pin(async move { tx.remove_group_members(id, &user_ids).await }),
        )
        .await
    }

    pub async fn delete_group(&self, principal: &Principal, group_id: i64) -> DomainResult<()> {
        let now = self.now();
        let tx = self.store().write().await?;
        let group = self.authorize_group(&tx, principal, group_id).await?;
        tx.delete_group(group_id).await?;
        tx.record(
            audit(
                principal,
                Some(group.organization_id),
                "group.delete",
                format!("group:{group_id}"),
            )
            .details(format!("name={:?}", group.name)),
            now,
        )
        .await?;
        tx.commit().await
    }

    pub async fn list_groups(
        &self,
        principal: &Principal,
        organization_id: i64,
        page: Page,
    ) -> DomainResult<Paged<Group>> {
        let organization_id = principal.scope_organization(organization_id)?;
        let tx = self.store().read().await?;
        self.authorize_organization(&tx, principal, organization_id)
            .await?;
        let items = tx.list_groups(organization_id, page).await?;
        Ok(Paged::new(page, items, |g| g.id))
    }

    pub async fn list_group_members(
        &self,
        principal: &Principal,
        group_id: i64,
        page: Page,
    ) -> DomainResult<Paged<User>> {
        let tx = self.store().read().await?;
        self.authorize_group(&tx, principal, group_id).await?;
        let items = tx.list_group_members(group_id, page).await?;
        Ok(Paged::new(page, items, |u| u.id))
    }

    pub async fn list_user_groups(
        &self,
        principal: &Principal,
        user_id: i64,
    ) -> DomainResult<Vec<Group>> {
        let tx = self.store().read().await?;
        self.authorize_user(&tx, principal, user_id, super::accounts::Access::Manage)
            .await?;
        tx.list_user_groups(user_id).await
    }

    /// Loads a group the caller may manage, or NotFound.
    async fn authorize_group(
        &self,
        tx: &Tx,
        principal: &Principal,
        group_id: i64,
    ) -> DomainResult<Group> {
        let group = tx
            .find_group(group_id)
            .await?
            .ok_or(DomainError::NotFound(Kind::Group))?;
        if !principal.manages(group.organization_id) {
            return Err(DomainError::NotFound(Kind::Group));
        }
        self.authorize_organization(tx, principal, group.organization_id)
            .await?;
        Ok(group)
    }

    /// One change to a group, audited, in one transaction.
    async fn change_group<F>(
        &self,
        principal: &Principal,
        group_id: i64,
        action: &'static str,
        details: String,
        change: F,
    ) -> DomainResult<Group>
    where
        F: for<'t> FnOnce(
            &'t Tx,
            i64,
        ) -> std::pin::Pin<
            Box<dyn std::future::Future<Output = DomainResult<()>> + Send + 't>,
        >,
    {
        let now = self.now();
        let tx = self.store().write().await?;
        let group = self.authorize_group(&tx, principal, group_id).await?;
        change(&tx, group_id).await?;
        tx.record(
            audit(
                principal,
                Some(group.organization_id),
                action,
                format!("group:{group_id}"),
            )
            .details(details),
            now,
        )
        .await?;
        let after = tx
            .find_group(group_id)
            .await?
            .ok_or(DomainError::NotFound(Kind::Group))?;
        tx.commit().await?;
        Ok(after)
    }
}
