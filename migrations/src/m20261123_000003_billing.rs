//! Prepaid billing: the organization's credit, the ledger that explains it,
//! each paid account's chain of 30-day periods, and idempotency for
//! subscription changes.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261123_000003_billing"
    }
}

#[derive(DeriveIden)]
enum Organizations {
    Table,
    Id,
    BalanceCents,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
    PaidUntil,
    PeriodSeq,
    Unpaid,
}

#[derive(DeriveIden)]
enum Periods {
    Table,
    Id,
    UserId,
    OrganizationId,
    Seq,
    Plan,
    StartsAt,
    EndsAt,
    ChargedCents,
    RefundedCents,
    ClosedAt,
}

#[derive(DeriveIden)]
enum LedgerEntries {
    Table,
    Id,
    OrganizationId,
    Kind,
    AmountCents,
    BalanceAfterCents,
    UserId,
    Plan,
    PeriodSeq,
    IdempotencyKey,
    Reference,
    Description,
    CreatedAt,
}

#[derive(DeriveIden)]
enum PlanChanges {
    Table,
    Id,
    UserId,
    RequestId,
    FromPlan,
    ToPlan,
    RefundCents,
    ChargeCents,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // SQLite alters one column per statement.
        manager
            .alter_table(
                Table::alter()
                    .table(Organizations::Table)
                    .add_column(big_integer(Organizations::BalanceCents).default(0))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Users::Table)
                    // End of the current paid period; NULL for Free accounts
                    // and master accounts (paid outside the credit).
                    .add_column(big_integer_null(Users::PaidUntil))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Users::Table)
                    // Sequence number of the current (last charged) period.
                    .add_column(big_integer(Users::PeriodSeq).default(0))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Users::Table)
                    // A renewal came due and could not be paid.
                    .add_column(boolean(Users::Unpaid).default(false))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("users_paid_until")
                    .table(Users::Table)
                    .col(Users::PaidUntil)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Periods::Table)
                    .col(big_pk_auto(Periods::Id))
                    .col(big_integer(Periods::UserId))
                    .col(big_integer(Periods::OrganizationId))
                    .col(big_integer(Periods::Seq))
                    .col(string_len(Periods::Plan, 16))
                    .col(big_integer(Periods::StartsAt))
                    .col(big_integer(Periods::EndsAt))
                    .col(big_integer(Periods::ChargedCents))
                    .col(big_integer_null(Periods::RefundedCents))
                    .col(big_integer_null(Periods::ClosedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Periods::Table, Periods::UserId)
                            .to(Users::Table, Users::Id),
                    )
                    .to_owned(),
            )
            .await?;
        // One charge per account and period, whatever runs concurrently.
        manager
            .create_index(
                Index::create()
                    .name("periods_user_seq")
                    .table(Periods::Table)
                    .col(Periods::UserId)
                    .col(Periods::Seq)
                    .unique()
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(LedgerEntries::Table)
                    .col(big_pk_auto(LedgerEntries::Id))
                    .col(big_integer(LedgerEntries::OrganizationId))
                    .col(string_len(LedgerEntries::Kind, 16))
                    // Signed: credits positive, charges negative.
                    .col(big_integer(LedgerEntries::AmountCents))
                    .col(big_integer(LedgerEntries::BalanceAfterCents))
                    .col(big_integer_null(LedgerEntries::UserId))
                    .col(string_len_null(LedgerEntries::Plan, 16))
                    .col(big_integer_null(LedgerEntries::PeriodSeq))
                    .col(string_len_null(LedgerEntries::IdempotencyKey, 128))
                    .col(string_len_null(LedgerEntries::Reference, 200))
                    .col(string_len(LedgerEntries::Description, 200))
                    .col(big_integer(LedgerEntries::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(LedgerEntries::Table, LedgerEntries::OrganizationId)
                            .to(Organizations::Table, Organizations::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ledger_organization")
                    .table(LedgerEntries::Table)
                    .col(LedgerEntries::OrganizationId)
                    .col(LedgerEntries::Id)
                    .to_owned(),
            )
            .await?;
        // A top-up's idempotency key credits once, platform-wide.
        manager
            .create_index(
                Index::create()
                    .name("ledger_idempotency_key")
                    .table(LedgerEntries::Table)
                    .col(LedgerEntries::IdempotencyKey)
                    .unique()
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(PlanChanges::Table)
                    .col(big_pk_auto(PlanChanges::Id))
                    .col(big_integer(PlanChanges::UserId))
                    .col(string_len(PlanChanges::RequestId, 128))
                    .col(string_len(PlanChanges::FromPlan, 16))
                    .col(string_len(PlanChanges::ToPlan, 16))
                    .col(big_integer(PlanChanges::RefundCents))
                    .col(big_integer(PlanChanges::ChargeCents))
                    .col(big_integer(PlanChanges::CreatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("plan_changes_request")
                    .table(PlanChanges::Table)
                    .col(PlanChanges::UserId)
                    .col(PlanChanges::RequestId)
                    .unique()
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            PlanChanges::Table.into_iden(),
            LedgerEntries::Table.into_iden(),
            Periods::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        manager
            .drop_index(
                Index::drop()
                    .name("users_paid_until")
                    .table(Users::Table)
                    .to_owned(),
            )
            .await?;
        for column in [Users::Unpaid, Users::PeriodSeq, Users::PaidUntil] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Users::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table(Organizations::Table)
                    .drop_column(Organizations::BalanceCents)
                    .to_owned(),
            )
            .await
    }
}
