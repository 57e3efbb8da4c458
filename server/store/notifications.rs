//! Notifications to an organization's admin (low balance, renewal
//! failures, dropped domain claims).

use super::entities::notifications;
use super::paging::{Keyset, Order};
use super::{Tx, db_err};
use crate::clock::{from_millis, to_millis};
use crate::rules::billing::{Notification, NotificationKind};
use crate::rules::paging::Page;
use crate::rules::{DomainError, DomainResult};
use chrono::{DateTime, Utc};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set};

impl Tx {
    /// Newest first.
    pub async fn list_notifications(
        &self,
        organization_id: i64,
        page: Page,
    ) -> DomainResult<Vec<Notification>> {
        let rows = notifications::Entity::find()
            .filter(notifications::Column::OrganizationId.eq(organization_id))
            .keyset(notifications::Column::Id, Order::NewestFirst, page)
            .all(&self.txn)
            .await
            .map_err(db_err)?;
        rows.into_iter()
            .map(|r| {
                Ok(Notification {
                    id: r.id,
                    organization_id: r.organization_id,
                    kind: NotificationKind::parse_stored(&r.kind).ok_or_else(|| {
                        DomainError::internal(format!("notification {}: bad kind", r.id))
                    })?,
                    message: r.message,
                    created_at: from_millis(r.created_at),
                })
            })
            .collect()
    }

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
}
