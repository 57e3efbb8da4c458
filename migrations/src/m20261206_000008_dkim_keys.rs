//! DKIM keys move out of `domains` into their own table (docs/rules.md,
//! "DKIM keys"): several per domain, each with its selector, algorithm,
//! state and times, and its private key sealed with the server key
//! (`key_id` names which; NULL marks a key this migration copied in plain
//! text, which the server seals at its next start).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261206_000008_dkim_keys"
    }
}

#[derive(DeriveIden)]
enum DkimKeys {
    Table,
    Id,
    DomainId,
    Selector,
    Algorithm,
    State,
    PublicKey,
    PrivateKey,
    KeyId,
    CreatedAt,
    ActivatedAt,
    RetiredAt,
}

#[derive(DeriveIden)]
enum Domains {
    Table,
    Id,
    DkimSelector,
    DkimPrivateKey,
    DkimPublicKey,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(DkimKeys::Table)
                    .col(big_pk_auto(DkimKeys::Id))
                    .col(big_integer(DkimKeys::DomainId))
                    .col(string_len(DkimKeys::Selector, 63))
                    .col(string_len(DkimKeys::Algorithm, 16))
                    .col(string_len(DkimKeys::State, 16))
                    .col(text(DkimKeys::PublicKey))
                    .col(text(DkimKeys::PrivateKey))
                    .col(string_len_null(DkimKeys::KeyId, 32))
                    .col(big_integer(DkimKeys::CreatedAt))
                    .col(big_integer_null(DkimKeys::ActivatedAt))
                    .col(big_integer_null(DkimKeys::RetiredAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("dkim_keys_domain_selector")
                    .table(DkimKeys::Table)
                    .col(DkimKeys::DomainId)
                    .col(DkimKeys::Selector)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("dkim_keys_state")
                    .table(DkimKeys::Table)
                    .col(DkimKeys::State)
                    .to_owned(),
            )
            .await?;
        // Every existing key is PENDING: nothing signed with it before this
        // version, and it signs once its record is seen in DNS.
        manager
            .exec_stmt(
                Query::insert()
                    .into_table(DkimKeys::Table)
                    .columns([
                        DkimKeys::DomainId,
                        DkimKeys::Selector,
                        DkimKeys::Algorithm,
                        DkimKeys::State,
                        DkimKeys::PublicKey,
                        DkimKeys::PrivateKey,
                        DkimKeys::CreatedAt,
                    ])
                    .select_from(
                        Query::select()
                            .column(Domains::Id)
                            .column(Domains::DkimSelector)
                            .expr(Expr::val("rsa2048"))
                            .expr(Expr::val("pending"))
                            .column(Domains::DkimPublicKey)
                            .column(Domains::DkimPrivateKey)
                            .column(Domains::CreatedAt)
                            .from(Domains::Table)
                            .to_owned(),
                    )
                    .map_err(|e| DbErr::Migration(e.to_string()))?
                    .to_owned(),
            )
            .await?;
        for column in [
            Domains::DkimSelector,
            Domains::DkimPrivateKey,
            Domains::DkimPublicKey,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Domains::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, _manager: &SchemaManager) -> Result<(), DbErr> {
        // The keys are sealed now; putting them back in plain text is not
        // something a rollback should do behind the operator's back.
        Err(DbErr::Migration(
            "m20261206_000008_dkim_keys cannot be reverted: restore the backup taken before \
             the upgrade"
                .to_string(),
        ))
    }
}
