//! Domain aliases: a domain of an organization whose addresses are those of
//! another of its domains (docs/rules.md, "Domain aliases").

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261206_000006_domain_aliases"
    }
}

#[derive(DeriveIden)]
enum Domains {
    Table,
    AliasOfDomainId,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Domains::Table)
                    .add_column(
                        ColumnDef::new(Domains::AliasOfDomainId)
                            .big_integer()
                            .null(),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Domains::Table)
                    .drop_column(Domains::AliasOfDomainId)
                    .to_owned(),
            )
            .await
    }
}
