//! Account change events for mailbox and calendar stores (docs/rules.md,
//! "Account events"): one row per change, numbered in commit order by a
//! single counter row that each writing transaction locks, so a reader that
//! has seen event N has seen every event before it.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261206_000007_account_events"
    }
}

#[derive(DeriveIden)]
enum AccountEvents {
    Table,
    Seq,
    OrganizationId,
    UserId,
    Kind,
    Address,
    At,
}

#[derive(DeriveIden)]
enum AccountEventCounter {
    Table,
    Id,
    LastSeq,
    PurgedThrough,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(AccountEvents::Table)
                    .col(big_integer(AccountEvents::Seq).primary_key())
                    .col(big_integer(AccountEvents::OrganizationId))
                    .col(big_integer(AccountEvents::UserId))
                    .col(string_len(AccountEvents::Kind, 32))
                    .col(string_len_null(AccountEvents::Address, 254))
                    .col(big_integer(AccountEvents::At))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("account_events_at")
                    .table(AccountEvents::Table)
                    .col(AccountEvents::At)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(AccountEventCounter::Table)
                    .col(big_integer(AccountEventCounter::Id).primary_key())
                    .col(big_integer(AccountEventCounter::LastSeq))
                    .col(big_integer(AccountEventCounter::PurgedThrough))
                    .to_owned(),
            )
            .await?;
        manager
            .exec_stmt(
                Query::insert()
                    .into_table(AccountEventCounter::Table)
                    .columns([
                        AccountEventCounter::Id,
                        AccountEventCounter::LastSeq,
                        AccountEventCounter::PurgedThrough,
                    ])
                    .values_panic([1.into(), 0.into(), 0.into()])
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(AccountEventCounter::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(AccountEvents::Table).to_owned())
            .await
    }
}
