//! Groups of accounts and their members.

use super::entities::{group_members, groups, users};
use super::paging::{Keyset, Order};
use super::users::user_from;
use super::{Tx, db_err, unique_or};
use crate::clock::{from_millis, to_millis};
use crate::rules::model::{Group, GroupSharing, User};
use crate::rules::paging::Page;
use crate::rules::{DomainError, DomainResult, Kind};
use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};

impl Tx {
    pub async fn insert_group(
        &self,
        organization_id: i64,
        name: &str,
        sharing: GroupSharing,
        now: DateTime<Utc>,
    ) -> DomainResult<Group> {
        let row = groups::ActiveModel {
            organization_id: Set(organization_id),
            name: Set(name.to_string()),
            name_key: Set(name.to_lowercase()),
            share_calendars: Set(sharing.calendars),
            share_documents: Set(sharing.documents),
            share_contacts: Set(sharing.contacts),
            share_mailboxes: Set(sharing.mailboxes),
            created_at: Set(to_millis(now)),
            ..Default::default()
        }
        .insert(&self.txn)
        .await
        .map_err(|e| {
            unique_or(
                e,
                Kind::GroupName,
                format!("{name:?} is taken in this organization"),
            )
        })?;
        Ok(group_from(row, 0))
    }

    pub async fn find_group(&self, id: i64) -> DomainResult<Option<Group>> {
        let Some(row) = groups::Entity::find_by_id(id)
            .one(&self.txn)
            .await
            .map_err(db_err)?
        else {
            return Ok(None);
        };
        let members = self.member_count(id).await?;
        Ok(Some(group_from(row, members)))
    }

    pub async fn rename_group(&self, id: i64, name: &str) -> DomainResult<()> {
        let row = groups::ActiveModel {
            id: sea_orm::Unchanged(id),
            name: Set(name.to_string()),
            name_key: Set(name.to_lowercase()),
            ..Default::default()
        };
        row.update(&self.txn).await.map_err(|e| {
            unique_or(
                e,
                Kind::GroupName,
                format!("{name:?} is taken in this organization"),
            )
        })?;
        Ok(())
    }

    pub async fn set_group_sharing(&self, id: i64, sharing: GroupSharing) -> DomainResult<()> {
        let row = groups::ActiveModel {
            id: sea_orm::Unchanged(id),
            share_calendars: Set(sharing.calendars),
            share_documents: Set(sharing.documents),
            share_contacts: Set(sharing.contacts),
            share_mailboxes: Set(sharing.mailboxes),
            ..Default::default()
        };
        row.update(&self.txn).await.map_err(db_err)?;
        Ok(())
    }

    pub async fn delete_group(&self, id: i64) -> DomainResult<()> {
        group_members::Entity::delete_many()
            .filter(group_members::Column::GroupId.eq(id))
            .exec(&self.txn)
            .await
            .map_err(db_err)?;
        groups::Entity::delete_by_id(id)
            .exec(&self.txn)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    /// Adds members; those already in stay (no error, no duplicate).
    pub async fn add_group_members(&self, group_id: i64, user_ids: &[i64]) -> DomainResult<()> {
        if user_ids.is_empty() {
            return Ok(());
        }
        let rows = user_ids.iter().map(|user_id| group_members::ActiveModel {
            group_id: Set(group_id),
            user_id: Set(*user_id),
        });
        group_members::Entity::insert_many(rows)
            .on_conflict_do_nothing_on([
                group_members::Column::GroupId,
                group_members::Column::UserId,
            ])
            .exec(&self.txn)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    pub async fn remove_group_members(&self, group_id: i64, user_ids: &[i64]) -> DomainResult<()> {
        group_members::Entity::delete_many()
            .filter(group_members::Column::GroupId.eq(group_id))
            .filter(group_members::Column::UserId.is_in(user_ids.iter().copied()))
            .exec(&self.txn)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    pub async fn list_groups(&self, organization_id: i64, page: Page) -> DomainResult<Vec<Group>> {
        let rows = groups::Entity::find()
            .filter(groups::Column::OrganizationId.eq(organization_id))
            .keyset(groups::Column::Id, Order::OldestFirst, page)
            .all(&self.txn)
            .await
            .map_err(db_err)?;
        self.with_member_counts(rows).await
    }

    /// The members of a group, ordered by account id.
    pub async fn list_group_members(&self, group_id: i64, page: Page) -> DomainResult<Vec<User>> {
        let ids: Vec<i64> = group_members::Entity::find()
            .select_only()
            .column(group_members::Column::UserId)
            .filter(group_members::Column::GroupId.eq(group_id))
            .keyset(group_members::Column::UserId, Order::OldestFirst, page)
            .into_tuple()
            .all(&self.txn)
            .await
            .map_err(db_err)?;
        let rows = users::Entity::find()
            .filter(users::Column::Id.is_in(ids))
            .order_by_asc(users::Column::Id)
            .all(&self.txn)
            .await
            .map_err(db_err)?;
        rows.into_iter()
            .map(|mut row| {
                row.photo = None;
                user_from(row)
            })
            .collect()
    }

    pub async fn list_user_groups(&self, user_id: i64) -> DomainResult<Vec<Group>> {
        let group_ids: Vec<i64> = group_members::Entity::find()
            .select_only()
            .column(group_members::Column::GroupId)
            .filter(group_members::Column::UserId.eq(user_id))
            .into_tuple()
            .all(&self.txn)
            .await
            .map_err(db_err)?;
        let rows = groups::Entity::find()
            .filter(groups::Column::Id.is_in(group_ids))
            .order_by_asc(groups::Column::Id)
            .all(&self.txn)
            .await
            .map_err(db_err)?;
        self.with_member_counts(rows).await
    }

    async fn member_count(&self, group_id: i64) -> DomainResult<u32> {
        let n = group_members::Entity::find()
            .filter(group_members::Column::GroupId.eq(group_id))
            .count(&self.txn)
            .await
            .map_err(db_err)?;
        u32::try_from(n).map_err(DomainError::internal)
    }

    async fn with_member_counts(&self, rows: Vec<groups::Model>) -> DomainResult<Vec<Group>> {
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let members = self.member_count(row.id).await?;
            out.push(group_from(row, members));
        }
        Ok(out)
    }
}

fn group_from(row: groups::Model, member_count: u32) -> Group {
    Group {
        id: row.id,
        organization_id: row.organization_id,
        name: row.name,
        sharing: GroupSharing {
            calendars: row.share_calendars,
            documents: row.share_documents,
            contacts: row.share_contacts,
            mailboxes: row.share_mailboxes,
        },
        member_count,
        created_at: from_millis(row.created_at),
    }
}
