//! Credit and ledger: an organization's balance under a row lock, top-ups
//! by idempotency key, and the ledger entries every change writes.

use super::entities::{ledger_entries, organizations};
use super::paging::{Keyset, Order};
use super::{Tx, db_err, unique_or};
use crate::clock::{from_millis, to_millis};
use crate::rules::billing::{LedgerEntry, LedgerKind, NewLedgerEntry};
use crate::rules::money::Money;
use crate::rules::paging::Page;
use crate::rules::plans::Plan;
use crate::rules::{DomainError, DomainResult, Kind};
use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};
use std::collections::HashMap;

impl Tx {
    /// Locks the organizations' rows (in id order, so concurrent writers
    /// never deadlock) and returns their credit.
    pub async fn lock_credits(
        &self,
        organization_ids: &[i64],
    ) -> DomainResult<HashMap<i64, Money>> {
        let mut ids = organization_ids.to_vec();
        ids.sort_unstable();
        ids.dedup();
        let rows: Vec<(i64, i64)> = organizations::Entity::find()
            .select_only()
            .column(organizations::Column::Id)
            .column(organizations::Column::BalanceCents)
            .filter(organizations::Column::Id.is_in(ids))
            .order_by_asc(organizations::Column::Id)
            .lock_exclusive()
            .into_tuple()
            .all(&self.txn)
            .await
            .map_err(db_err)?;
        Ok(rows
            .into_iter()
            .map(|(id, cents)| (id, Money::from_cents(cents)))
            .collect())
    }

    pub async fn lock_credit(&self, organization_id: i64) -> DomainResult<Money> {
        self.lock_credits(&[organization_id])
            .await?
            .remove(&organization_id)
            .ok_or(DomainError::NotFound(Kind::Organization))
    }

    pub async fn find_topup(&self, idempotency_key: &str) -> DomainResult<Option<LedgerEntry>> {
        ledger_entries::Entity::find()
            .filter(ledger_entries::Column::IdempotencyKey.eq(idempotency_key))
            .one(&self.txn)
            .await
            .map_err(db_err)?
            .map(entry_from)
            .transpose()
    }

    /// Inserts a top-up entry and sets the new credit (the row is locked).
    pub async fn insert_topup(
        &self,
        entry: &NewLedgerEntry,
        now: DateTime<Utc>,
    ) -> DomainResult<LedgerEntry> {
        let row = ledger_row(entry, to_millis(now))
            .insert(&self.txn)
            .await
            .map_err(|e| {
                unique_or(
                    e,
                    Kind::IdempotencyKey,
                    "this idempotency key was used for another payment",
                )
            })?;
        organizations::Entity::update_many()
            .col_expr(
                organizations::Column::BalanceCents,
                Expr::value(entry.balance_after.cents()),
            )
            .filter(organizations::Column::Id.eq(entry.organization_id))
            .exec(&self.txn)
            .await
            .map_err(db_err)?;
        entry_from(row)
    }

    /// Newest first.
    pub async fn list_ledger(
        &self,
        organization_id: i64,
        page: Page,
    ) -> DomainResult<Vec<LedgerEntry>> {
        let rows = ledger_entries::Entity::find()
            .filter(ledger_entries::Column::OrganizationId.eq(organization_id))
            .keyset(ledger_entries::Column::Id, Order::NewestFirst, page)
            .all(&self.txn)
            .await
            .map_err(db_err)?;
        rows.into_iter().map(entry_from).collect()
    }

    pub async fn credit(&self, organization_id: i64) -> DomainResult<Money> {
        let cents: Option<i64> = organizations::Entity::find_by_id(organization_id)
            .select_only()
            .column(organizations::Column::BalanceCents)
            .into_tuple()
            .one(&self.txn)
            .await
            .map_err(db_err)?;
        cents
            .map(Money::from_cents)
            .ok_or(DomainError::NotFound(Kind::Organization))
    }
}

pub(super) fn ledger_row(e: &NewLedgerEntry, at: i64) -> ledger_entries::ActiveModel {
    ledger_entries::ActiveModel {
        organization_id: Set(e.organization_id),
        kind: Set(e.kind.as_str().to_string()),
        amount_cents: Set(e.amount.cents()),
        balance_after_cents: Set(e.balance_after.cents()),
        user_id: Set(e.user_id),
        plan: Set(e.plan.map(|p| p.as_str().to_string())),
        period_seq: Set(e.period_seq),
        idempotency_key: Set(e.idempotency_key.clone()),
        reference: Set(e.reference.clone()),
        description: Set(e.description.clone()),
        created_at: Set(at),
        ..Default::default()
    }
}

pub(super) fn entry_from(r: ledger_entries::Model) -> DomainResult<LedgerEntry> {
    Ok(LedgerEntry {
        id: r.id,
        organization_id: r.organization_id,
        kind: LedgerKind::parse_stored(&r.kind)
            .ok_or_else(|| DomainError::internal(format!("ledger entry {}: bad kind", r.id)))?,
        amount: Money::from_cents(r.amount_cents),
        balance_after: Money::from_cents(r.balance_after_cents),
        user_id: r.user_id,
        plan: r.plan.as_deref().map(Plan::parse_stored).transpose()?,
        period_seq: r.period_seq,
        idempotency_key: r.idempotency_key,
        reference: r.reference,
        description: r.description,
        created_at: from_millis(r.created_at),
    })
}
