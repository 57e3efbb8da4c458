//! The outbox: messages the server would send (reset tokens), kept for
//! the operator's mail relay to pick up.

use super::entities::outbox;
use super::paging::{Keyset, Order};
use super::{Tx, db_err};
use crate::clock::{from_millis, to_millis};
use crate::rules::DomainResult;
use crate::rules::model::OutboxMessage;
use crate::rules::paging::Page;
use chrono::{DateTime, Utc};
use sea_orm::{ActiveModelTrait, EntityTrait, Set};

impl Tx {
    pub async fn insert_outbox(
        &self,
        recipient: &str,
        subject: &str,
        body: &str,
        now: DateTime<Utc>,
    ) -> DomainResult<()> {
        outbox::ActiveModel {
            recipient: Set(recipient.to_string()),
            subject: Set(subject.to_string()),
            body: Set(body.to_string()),
            created_at: Set(to_millis(now)),
            ..Default::default()
        }
        .insert(&self.txn)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    /// Newest first.
    pub async fn list_outbox(&self, page: Page) -> DomainResult<Vec<OutboxMessage>> {
        let rows = outbox::Entity::find()
            .keyset(outbox::Column::Id, Order::NewestFirst, page)
            .all(&self.txn)
            .await
            .map_err(db_err)?;
        Ok(rows
            .into_iter()
            .map(|r| OutboxMessage {
                id: r.id,
                recipient: r.recipient,
                subject: r.subject,
                body: r.body,
                created_at: from_millis(r.created_at),
            })
            .collect())
    }
}
