//! The audit log: one event per change, newest first when listed.

use super::entities::audit_events;
use super::paging::{Keyset, Order};
use super::{Tx, db_err};
use crate::clock::{from_millis, to_millis};
use crate::rules::DomainResult;
use crate::rules::model::{AuditEvent, NewAuditEvent};
use crate::rules::paging::Page;
use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, Set};

impl Tx {
    pub async fn record(&self, event: NewAuditEvent, now: DateTime<Utc>) -> DomainResult<()> {
        self.record_all(vec![event], now).await
    }

    /// Records many events in one statement (a renewal batch audits every
    /// account it touched).
    pub async fn record_all(
        &self,
        events: Vec<NewAuditEvent>,
        now: DateTime<Utc>,
    ) -> DomainResult<()> {
        if events.is_empty() {
            return Ok(());
        }
        let rows = events.into_iter().map(|event| audit_events::ActiveModel {
            at: Set(to_millis(now)),
            actor: Set(event.actor),
            organization_id: Set(event.organization_id),
            action: Set(event.action.to_string()),
            target: Set(event.target),
            details: Set(event.details),
            ..Default::default()
        });
        audit_events::Entity::insert_many(rows)
            .exec(&self.txn)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    /// Newest first; `organization_id` None means every event.
    pub async fn list_audit(
        &self,
        organization_id: Option<i64>,
        page: Page,
    ) -> DomainResult<Vec<AuditEvent>> {
        let mut query = audit_events::Entity::find();
        if let Some(org) = organization_id {
            query = query.filter(audit_events::Column::OrganizationId.eq(org));
        }
        let rows = query
            .keyset(audit_events::Column::Id, Order::NewestFirst, page)
            .all(&self.txn)
            .await
            .map_err(db_err)?;
        Ok(rows
            .into_iter()
            .map(|r| AuditEvent {
                id: r.id,
                at: from_millis(r.at),
                actor: r.actor,
                organization_id: r.organization_id,
                action: r.action,
                target: r.target,
                details: r.details,
            })
            .collect())
    }
}
