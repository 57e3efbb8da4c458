//! A domain's catch-all: the account that receives mail for addresses on
//! it that nothing else takes (docs/rules.md, "Catch-all").

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261206_000005_catch_all"
    }
}

#[derive(DeriveIden)]
enum Domains {
    Table,
    CatchAllUserId,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Domains::Table)
                    .add_column(ColumnDef::new(Domains::CatchAllUserId).big_integer().null())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Domains::Table)
                    .drop_column(Domains::CatchAllUserId)
                    .to_owned(),
            )
            .await
    }
}
