//! Account events: written in the transaction that made the change, read
//! by sequence number. The number comes from one counter row that the
//! writing transaction updates (and so locks until it commits): numbers are
//! handed out in commit order, without gaps, and a reader that sees event N
//! has every event before it.

use super::entities::{account_event_counter, account_events};
use super::{Store, Tx, db_err};
use crate::clock::{from_millis, to_millis};
use crate::rules::model::{AccountEvent, AccountEventKind};
use crate::rules::{DomainError, DomainResult};
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set};

impl Tx {
    /// Appends an event for `user_id` of `organization_id`.
    pub async fn record_account_event(
        &self,
        organization_id: i64,
        user_id: i64,
        kind: AccountEventKind,
        address: Option<String>,
        now: DateTime<Utc>,
    ) -> DomainResult<()> {
        account_event_counter::Entity::update_many()
            .col_expr(
                account_event_counter::Column::LastSeq,
                Expr::col(account_event_counter::Column::LastSeq).add(1),
            )
            .filter(account_event_counter::Column::Id.eq(1))
            .exec(&self.txn)
            .await
            .map_err(db_err)?;
        let counter = account_event_counter::Entity::find_by_id(1)
            .one(&self.txn)
            .await
            .map_err(db_err)?
            .ok_or_else(|| DomainError::internal("the account event counter row is missing"))?;
        account_events::Entity::insert(account_events::ActiveModel {
            seq: Set(counter.last_seq),
            organization_id: Set(organization_id),
            user_id: Set(user_id),
            kind: Set(kind.as_str().to_string()),
            address: Set(address),
            at: Set(to_millis(now)),
        })
        .exec(&self.txn)
        .await
        .map_err(db_err)?;
        Ok(())
    }
}

/// What a reader asking for the events after a cursor gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventsAfter {
    /// The next events, oldest first (empty: none yet).
    Events(Vec<AccountEvent>),
    /// Events after the cursor were purged (kept `retention`, docs/rules.md,
    /// "Account events"): the reader must resync from a full listing.
    Expired { purged_through: i64 },
}

impl Store {
    /// Up to `limit` events after `after`, oldest first.
    pub async fn account_events_after(&self, after: i64, limit: u64) -> DomainResult<EventsAfter> {
        let counter = account_event_counter::Entity::find_by_id(1)
            .one(&self.db)
            .await
            .map_err(db_err)?
            .ok_or_else(|| DomainError::internal("the account event counter row is missing"))?;
        if after < counter.purged_through {
            return Ok(EventsAfter::Expired {
                purged_through: counter.purged_through,
            });
        }
        let rows = account_events::Entity::find()
            .filter(account_events::Column::Seq.gt(after))
            .order_by_asc(account_events::Column::Seq)
            .limit(limit)
            .all(&self.db)
            .await
            .map_err(db_err)?;
        rows.into_iter()
            .map(event_from)
            .collect::<DomainResult<_>>()
            .map(EventsAfter::Events)
    }

    /// Deletes the events older than `before`, and remembers the newest
    /// number deleted; how many went.
    pub async fn purge_account_events(&self, before: DateTime<Utc>) -> DomainResult<u64> {
        let tx = self.write().await?;
        let newest: Option<i64> = account_events::Entity::find()
            .select_only()
            .column_as(account_events::Column::Seq.max(), "newest")
            .filter(account_events::Column::At.lt(to_millis(before)))
            .into_tuple::<Option<i64>>()
            .one(&tx.txn)
            .await
            .map_err(db_err)?
            .flatten();
        let Some(newest) = newest else {
            return Ok(0);
        };
        let deleted = account_events::Entity::delete_many()
            .filter(account_events::Column::Seq.lte(newest))
            .exec(&tx.txn)
            .await
            .map_err(db_err)?
            .rows_affected;
        account_event_counter::Entity::update_many()
            .col_expr(
                account_event_counter::Column::PurgedThrough,
                Expr::value(newest),
            )
            .filter(account_event_counter::Column::Id.eq(1))
            .exec(&tx.txn)
            .await
            .map_err(db_err)?;
        tx.commit().await?;
        Ok(deleted)
    }
}

fn event_from(row: account_events::Model) -> DomainResult<AccountEvent> {
    Ok(AccountEvent {
        seq: row.seq,
        organization_id: row.organization_id,
        user_id: row.user_id,
        kind: AccountEventKind::parse_stored(&row.kind)
            .ok_or_else(|| DomainError::internal(format!("account event {}: bad kind", row.seq)))?,
        address: row.address,
        at: from_millis(row.at),
    })
}
