//! Billing positions, periods, renewals and plan changes. A billing
//! decision (`rules::billing::BillingWrite`) is written here in a handful
//! of bulk statements, so a renewal batch of hundreds of accounts costs
//! about as much as one account.

use super::entities::{addresses, ledger_entries, notifications, periods, plan_changes, users};
use super::ledger::ledger_row;
use super::{Store, Tx, db_err, unique_or};
use crate::clock::{from_millis, to_millis};
use crate::rules::billing::{AccountPosition, BillingWrite, LedgerKind, NewLedgerEntry};
use crate::rules::model::{AccountState, AddressKind};
use crate::rules::money::Money;
use crate::rules::plans::Plan;
use crate::rules::{DomainError, DomainResult, Kind};
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, Func, LockBehavior, LockType};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Set, Statement, Value,
};
use std::collections::HashMap;

impl Tx {
    /// An account's billing position, with its current period's charge.
    pub async fn account_position(&self, user_id: i64) -> DomainResult<Option<AccountPosition>> {
        let Some(row) = users::Entity::find_by_id(user_id)
            .select_only()
            .columns(position_columns())
            .into_tuple::<PositionRow>()
            .one(&self.txn)
            .await
            .map_err(db_err)?
        else {
            return Ok(None);
        };
        let mut position = position_from(row)?;
        if position.period_seq > 0 {
            let charged: Option<i64> = periods::Entity::find()
                .select_only()
                .column(periods::Column::ChargedCents)
                .filter(periods::Column::UserId.eq(user_id))
                .filter(periods::Column::Seq.eq(position.period_seq))
                .into_tuple()
                .one(&self.txn)
                .await
                .map_err(db_err)?;
            position.current_charge = Money::from_cents(charged.unwrap_or(0));
        }
        Ok(Some(position))
    }

    /// Up to `limit` accounts whose renewal has come due, after `after_id`:
    /// (account id, organization id), unlocked. The batch locks their
    /// organizations first and then the accounts ([`Tx::lock_due_positions`]),
    /// the same order as every other billing write, so nothing deadlocks.
    pub async fn due_candidates(
        &self,
        now: DateTime<Utc>,
        after_id: i64,
        limit: u64,
    ) -> DomainResult<Vec<(i64, i64)>> {
        users::Entity::find()
            .select_only()
            .column(users::Column::Id)
            .column(users::Column::OrganizationId)
            .filter(due(now))
            .filter(users::Column::Id.gt(after_id))
            .order_by_asc(users::Column::Id)
            .limit(limit)
            .into_tuple()
            .all(&self.txn)
            .await
            .map_err(db_err)
    }

    /// Locks those of `user_ids` that are still due and returns their
    /// positions. On PostgreSQL accounts another run holds are skipped:
    /// that run is renewing them.
    pub async fn lock_due_positions(
        &self,
        user_ids: &[i64],
        now: DateTime<Utc>,
    ) -> DomainResult<Vec<AccountPosition>> {
        let mut query = users::Entity::find()
            .select_only()
            .columns(position_columns())
            .filter(due(now))
            .filter(users::Column::Id.is_in(user_ids.iter().copied()))
            .order_by_asc(users::Column::Id);
        if self.txn.get_database_backend() == DbBackend::Postgres {
            query = query.lock_with_behavior(LockType::Update, LockBehavior::SkipLocked);
        }
        let rows = query
            .into_tuple::<PositionRow>()
            .all(&self.txn)
            .await
            .map_err(db_err)?;
        rows.into_iter().map(position_from).collect()
    }

    /// Each organization's master plan.
    pub async fn master_plans(&self, organization_ids: &[i64]) -> DomainResult<HashMap<i64, Plan>> {
        let rows: Vec<(i64, String)> = users::Entity::find()
            .select_only()
            .column(users::Column::OrganizationId)
            .column(users::Column::Plan)
            .filter(users::Column::IsMaster.eq(true))
            .filter(users::Column::OrganizationId.is_in(organization_ids.iter().copied()))
            .into_tuple()
            .all(&self.txn)
            .await
            .map_err(db_err)?;
        rows.into_iter()
            .map(|(org, plan)| Ok((org, Plan::parse_stored(&plan)?)))
            .collect()
    }

    /// Each organization's number of live Free accounts (master excluded).
    pub async fn free_account_counts(
        &self,
        organization_ids: &[i64],
    ) -> DomainResult<HashMap<i64, u32>> {
        let rows: Vec<(i64, i64)> = users::Entity::find()
            .select_only()
            .column(users::Column::OrganizationId)
            .column_as(Expr::expr(Func::count(Expr::col(users::Column::Id))), "n")
            .filter(users::Column::IsMaster.eq(false))
            .filter(users::Column::Plan.eq(Plan::Free.as_str()))
            .filter(users::Column::State.ne(AccountState::Deleted.as_str()))
            .filter(users::Column::OrganizationId.is_in(organization_ids.iter().copied()))
            .group_by(users::Column::OrganizationId)
            .into_tuple()
            .all(&self.txn)
            .await
            .map_err(db_err)?;
        Ok(rows.into_iter().map(|(org, n)| (org, n as u32)).collect())
    }

    /// Writes one billing decision: new periods, closed periods, account
    /// positions, ledger entries, notifications, final credits, audit.
    pub async fn apply_billing(&self, write: BillingWrite, now: DateTime<Utc>) -> DomainResult<()> {
        let at = to_millis(now);
        if !write.periods.is_empty() {
            let rows = write.periods.iter().map(|p| periods::ActiveModel {
                user_id: Set(p.user_id),
                organization_id: Set(p.organization_id),
                seq: Set(p.seq),
                plan: Set(p.plan.as_str().to_string()),
                starts_at: Set(to_millis(p.starts_at)),
                ends_at: Set(to_millis(p.ends_at)),
                charged_cents: Set(p.charged.cents()),
                refunded_cents: Set(None),
                closed_at: Set(None),
                ..Default::default()
            });
            // The unique (user_id, seq) key: a period is charged once, ever.
            periods::Entity::insert_many(rows)
                .exec(&self.txn)
                .await
                .map_err(|e| unique_or(e, Kind::Period, "this period was already charged"))?;
        }
        for closed in &write.closed {
            periods::Entity::update_many()
                .col_expr(
                    periods::Column::RefundedCents,
                    Expr::value(closed.refunded.cents()),
                )
                .col_expr(
                    periods::Column::ClosedAt,
                    Expr::value(to_millis(closed.closed_at)),
                )
                .filter(periods::Column::UserId.eq(closed.user_id))
                .filter(periods::Column::Seq.eq(closed.seq))
                .exec(&self.txn)
                .await
                .map_err(db_err)?;
        }
        if !write.accounts.is_empty() {
            let rows: Vec<Vec<Value>> = write
                .accounts
                .iter()
                .map(|a| {
                    vec![
                        a.user_id.into(),
                        a.plan.as_str().into(),
                        a.paid_until.map(to_millis).into(),
                        a.period_seq.into(),
                        a.unpaid.into(),
                        at.into(),
                    ]
                })
                .collect();
            self.update_from_values(
                "users",
                &[
                    "id",
                    "plan",
                    "paid_until",
                    "period_seq",
                    "unpaid",
                    "updated_at",
                ],
                rows,
            )
            .await?;
        }
        if !write.entries.is_empty() {
            let rows = write.entries.iter().map(|e| ledger_row(e, at));
            ledger_entries::Entity::insert_many(rows)
                .exec(&self.txn)
                .await
                .map_err(|e| unique_or(e, Kind::IdempotencyKey, "this idempotency key was used"))?;
        }
        if !write.notifications.is_empty() {
            let rows = write
                .notifications
                .iter()
                .map(|n| notifications::ActiveModel {
                    organization_id: Set(n.organization_id),
                    kind: Set(n.kind.as_str().to_string()),
                    message: Set(n.message.clone()),
                    created_at: Set(at),
                    ..Default::default()
                });
            notifications::Entity::insert_many(rows)
                .exec(&self.txn)
                .await
                .map_err(db_err)?;
        }
        if !write.balances.is_empty() {
            let rows: Vec<Vec<Value>> = write
                .balances
                .iter()
                .map(|(org, balance)| {
                    if balance.is_negative() {
                        return Err(DomainError::internal(format!(
                            "organization {org}: negative credit {balance}"
                        )));
                    }
                    Ok(vec![(*org).into(), balance.cents().into()])
                })
                .collect::<DomainResult<_>>()?;
            self.update_from_values("organizations", &["id", "balance_cents"], rows)
                .await?;
        }
        self.record_all(write.audit, now).await
    }

    /// `UPDATE table SET col = v.col, … FROM (VALUES …) WHERE table.id = v.id`,
    /// through a CTE so the same SQL runs on PostgreSQL and SQLite (3.33+).
    async fn update_from_values(
        &self,
        table: &str,
        columns: &[&str],
        rows: Vec<Vec<Value>>,
    ) -> DomainResult<()> {
        let backend = self.txn.get_database_backend();
        let mut sql = format!("WITH v({}) AS (VALUES ", columns.join(", "));
        let mut values = Vec::with_capacity(rows.len() * columns.len());
        for (i, row) in rows.into_iter().enumerate() {
            if i > 0 {
                sql.push_str(", ");
            }
            sql.push('(');
            for (j, value) in row.into_iter().enumerate() {
                if j > 0 {
                    sql.push_str(", ");
                }
                values.push(value);
                match backend {
                    DbBackend::Postgres => sql.push_str(&format!("${}", values.len())),
                    _ => sql.push('?'),
                }
            }
            sql.push(')');
        }
        let sets: Vec<String> = columns[1..]
            .iter()
            .map(|c| format!("{c} = v.{c}"))
            .collect();
        sql.push_str(&format!(
            ") UPDATE {table} SET {} FROM v WHERE {table}.id = v.id",
            sets.join(", ")
        ));
        self.txn
            .execute_raw(Statement::from_sql_and_values(backend, sql, values))
            .await
            .map_err(db_err)?;
        Ok(())
    }

    /// The paid accounts of an organization: (paid_until, plan, unpaid).
    pub async fn paid_accounts(
        &self,
        organization_id: i64,
    ) -> DomainResult<Vec<(DateTime<Utc>, Plan, bool)>> {
        let rows: Vec<(i64, String, bool)> = users::Entity::find()
            .select_only()
            .column(users::Column::PaidUntil)
            .column(users::Column::Plan)
            .column(users::Column::Unpaid)
            .filter(users::Column::OrganizationId.eq(organization_id))
            .filter(users::Column::IsMaster.eq(false))
            .filter(users::Column::PaidUntil.is_not_null())
            .filter(users::Column::State.ne(AccountState::Deleted.as_str()))
            .into_tuple()
            .all(&self.txn)
            .await
            .map_err(db_err)?;
        rows.into_iter()
            .map(|(until, plan, unpaid)| {
                Ok((from_millis(until), Plan::parse_stored(&plan)?, unpaid))
            })
            .collect()
    }

    pub async fn find_plan_change(
        &self,
        user_id: i64,
        request_id: &str,
    ) -> DomainResult<Option<PlanChangeRecord>> {
        let row = plan_changes::Entity::find()
            .filter(plan_changes::Column::UserId.eq(user_id))
            .filter(plan_changes::Column::RequestId.eq(request_id))
            .one(&self.txn)
            .await
            .map_err(db_err)?;
        row.map(|r| {
            Ok(PlanChangeRecord {
                from_plan: Plan::parse_stored(&r.from_plan)?,
                to_plan: Plan::parse_stored(&r.to_plan)?,
                refund: Money::from_cents(r.refund_cents),
                charge: Money::from_cents(r.charge_cents),
            })
        })
        .transpose()
    }

    pub async fn insert_plan_change(
        &self,
        user_id: i64,
        request_id: &str,
        record: &PlanChangeRecord,
        now: DateTime<Utc>,
    ) -> DomainResult<()> {
        plan_changes::ActiveModel {
            user_id: Set(user_id),
            request_id: Set(request_id.to_string()),
            from_plan: Set(record.from_plan.as_str().to_string()),
            to_plan: Set(record.to_plan.as_str().to_string()),
            refund_cents: Set(record.refund.cents()),
            charge_cents: Set(record.charge.cents()),
            created_at: Set(to_millis(now)),
            ..Default::default()
        }
        .insert(&self.txn)
        .await
        .map_err(|e| unique_or(e, Kind::PlanChange, "this request_id was used"))?;
        Ok(())
    }
}

/// The domain of seeded accounts' primary addresses (fixtures only): a
/// benchmark serving them lists it in `--provider-domains`.
pub const SEED_DOMAIN: &str = "seed.invalid";

/// A recorded plan change, for replays of the same request_id.
pub struct PlanChangeRecord {
    pub from_plan: Plan,
    pub to_plan: Plan,
    pub refund: Money,
    pub charge: Money,
}

impl Store {
    /// Seeds `count` accounts on `plan` in one organization, each with one
    /// charged period ending at `paid_until` and the primary address
    /// `<prefix><i>@`[`SEED_DOMAIN`], without charging the credit:
    /// fixtures for benchmarks and load tests (thousands of accounts in a
    /// second, where the RPC path would hash a password for each).
    pub async fn seed_paid_accounts(
        &self,
        organization_id: i64,
        prefix: &str,
        count: usize,
        plan: Plan,
        price: Money,
        paid_until: DateTime<Utc>,
    ) -> DomainResult<Vec<i64>> {
        let tx = self.write().await?;
        let now = to_millis(paid_until - crate::rules::billing::period_length());
        let mut ids = Vec::with_capacity(count);
        for chunk in (0..count).collect::<Vec<_>>().chunks(500) {
            let rows = chunk.iter().map(|i| users::ActiveModel {
                organization_id: Set(organization_id),
                username: Set(format!("{prefix}{i}")),
                first_name: Set("Seed".into()),
                last_name: Set(format!("Account {i}")),
                primary_address: Set(format!("{prefix}{i}@{SEED_DOMAIN}")),
                plan: Set(plan.as_str().into()),
                state: Set(AccountState::Enabled.as_str().into()),
                is_master: Set(false),
                password_hash: Set(String::new()),
                external_email: Set(None),
                mobile_phone: Set(None),
                postal_address: Set(None),
                birth_date: Set(None),
                photo_content_type: Set(None),
                photo: Set(None),
                create_request_id: Set(None),
                created_at: Set(now),
                updated_at: Set(now),
                paid_until: Set(Some(to_millis(paid_until))),
                period_seq: Set(1),
                unpaid: Set(false),
                ..Default::default()
            });
            // RETURNING, not a SELECT by username: on a table that grew inside
            // this transaction the planner has no statistics and scans it.
            let inserted: Vec<(i64, String)> = users::Entity::insert_many(rows)
                .exec_with_returning(&tx.txn)
                .await
                .map_err(db_err)?
                .into_iter()
                .map(|user| (user.id, user.username))
                .collect();
            let periods = inserted.iter().map(|(id, _)| periods::ActiveModel {
                user_id: Set(*id),
                organization_id: Set(organization_id),
                seq: Set(1),
                plan: Set(plan.as_str().into()),
                starts_at: Set(now),
                ends_at: Set(to_millis(paid_until)),
                charged_cents: Set(price.cents()),
                refunded_cents: Set(None),
                closed_at: Set(None),
                ..Default::default()
            });
            periods::Entity::insert_many(periods)
                .exec(&tx.txn)
                .await
                .map_err(db_err)?;
            let primaries = inserted.iter().map(|(id, username)| {
                let address = format!("{username}@{SEED_DOMAIN}");
                addresses::ActiveModel {
                    display: Set(address.clone()),
                    address: Set(address),
                    domain: Set(SEED_DOMAIN.into()),
                    kind: Set(AddressKind::Primary.as_str().into()),
                    user_id: Set(*id),
                    organization_id: Set(organization_id),
                    created_at: Set(now),
                    ..Default::default()
                }
            });
            addresses::Entity::insert_many(primaries)
                .exec(&tx.txn)
                .await
                .map_err(db_err)?;
            ids.extend(inserted.into_iter().map(|(id, _)| id));
        }
        tx.commit().await?;
        Ok(ids)
    }

    /// Seeds accounts `<prefix><i>` for `i` in `numbers`, each with the
    /// primary address `<prefix><i>@`[`SEED_DOMAIN`], paid until
    /// `paid_until`, in one organization: one `INSERT … SELECT` per table
    /// over a generated series, so millions of rows take seconds. Accounts
    /// and addresses only (no periods, no ledger): a fixture for the
    /// start-up benchmark, which reads nothing else.
    pub async fn seed_directory_bulk(
        &self,
        organization_id: i64,
        prefix: &str,
        numbers: std::ops::Range<u64>,
        plan: Plan,
        paid_until: DateTime<Utc>,
    ) -> DomainResult<()> {
        if !prefix
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-')
        {
            return Err(DomainError::invalid(
                "prefix",
                "letters, digits and '-' only",
            ));
        }
        let (first, last) = (numbers.start, numbers.end.saturating_sub(1));
        if numbers.is_empty() {
            return Ok(());
        }
        let series = match self.backend() {
            DbBackend::Postgres => format!("generate_series({first}, {last}) AS s(i)"),
            _ => "s".to_string(),
        };
        let with = match self.backend() {
            DbBackend::Postgres => String::new(),
            _ => format!(
                "WITH RECURSIVE s(i) AS (SELECT {first} UNION ALL SELECT i + 1 FROM s WHERE i < {last}) "
            ),
        };
        let now = to_millis(paid_until - crate::rules::billing::period_length());
        let (paid, plan, enabled, primary) = (
            to_millis(paid_until),
            plan.as_str(),
            AccountState::Enabled.as_str(),
            AddressKind::Primary.as_str(),
        );
        let tx = self.write().await?;
        let before: Option<i64> = users::Entity::find()
            .select_only()
            .column_as(users::Column::Id.max(), "max")
            .into_tuple::<Option<i64>>()
            .one(&tx.txn)
            .await
            .map_err(db_err)?
            .flatten();
        let statements = [
            format!(
                "{with}INSERT INTO users (organization_id, username, first_name, last_name, \
                 primary_address, plan, state, is_master, password_hash, created_at, updated_at, \
                 paid_until, period_seq, unpaid) \
                 SELECT {organization_id}, '{prefix}' || i, 'Seed', 'Account ' || i, \
                 '{prefix}' || i || '@{SEED_DOMAIN}', '{plan}', '{enabled}', false, '', {now}, {now}, \
                 {paid}, 1, false FROM {series}"
            ),
            format!(
                "INSERT INTO addresses (address, display, domain, kind, user_id, organization_id, created_at) \
                 SELECT primary_address, primary_address, '{SEED_DOMAIN}', '{primary}', id, organization_id, created_at \
                 FROM users WHERE id > {} AND organization_id = {organization_id}",
                before.unwrap_or(0)
            ),
        ];
        for sql in statements {
            tx.txn.execute_unprepared(&sql).await.map_err(db_err)?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Sets an organization's credit directly (fixtures only; the product
    /// moves credit through the ledger).
    pub async fn seed_credit(&self, organization_id: i64, credit: Money) -> DomainResult<()> {
        let tx = self.write().await?;
        let entry = NewLedgerEntry {
            organization_id,
            kind: LedgerKind::Adjustment,
            amount: credit,
            balance_after: credit,
            user_id: None,
            plan: None,
            period_seq: None,
            idempotency_key: None,
            reference: None,
            description: "seeded credit".into(),
        };
        tx.insert_topup(&entry, Utc::now()).await?;
        tx.commit().await
    }
}

/// Paid accounts (never the master, never deleted) whose period has ended.
fn due(now: DateTime<Utc>) -> sea_orm::Condition {
    sea_orm::Condition::all()
        .add(users::Column::PaidUntil.lte(to_millis(now)))
        .add(users::Column::IsMaster.eq(false))
        .add(users::Column::Plan.ne(Plan::Free.as_str()))
        .add(users::Column::State.ne(AccountState::Deleted.as_str()))
}

type PositionRow = (i64, i64, String, String, Option<i64>, i64, bool);

fn position_columns() -> [users::Column; 7] {
    [
        users::Column::Id,
        users::Column::OrganizationId,
        users::Column::Username,
        users::Column::Plan,
        users::Column::PaidUntil,
        users::Column::PeriodSeq,
        users::Column::Unpaid,
    ]
}

fn position_from(row: PositionRow) -> DomainResult<AccountPosition> {
    let (user_id, organization_id, username, plan, paid_until, period_seq, unpaid) = row;
    Ok(AccountPosition {
        user_id,
        organization_id,
        username,
        plan: Plan::parse_stored(&plan)?,
        paid_until: paid_until.map(from_millis),
        period_seq,
        unpaid,
        current_charge: Money::ZERO,
    })
}
