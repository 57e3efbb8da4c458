//! Custom domains (claims, ownership, DKIM keys) and notifications for
//! organization admins.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261123_000002_domains"
    }
}

#[derive(DeriveIden)]
enum Domains {
    Table,
    Id,
    OrganizationId,
    Name,
    Display,
    State,
    VerificationToken,
    DkimSelector,
    DkimPrivateKey,
    DkimPublicKey,
    CreatedAt,
    VerifiedAt,
    ActivatedAt,
}

#[derive(DeriveIden)]
enum Notifications {
    Table,
    Id,
    OrganizationId,
    Kind,
    Message,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Organizations {
    Table,
    Id,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Domains::Table)
                    .col(big_pk_auto(Domains::Id))
                    .col(big_integer(Domains::OrganizationId))
                    .col(string_len(Domains::Name, 253))
                    .col(string_len(Domains::Display, 1024))
                    .col(string_len(Domains::State, 16))
                    .col(string_len(Domains::VerificationToken, 64))
                    .col(string_len(Domains::DkimSelector, 63))
                    // PKCS#8 PEM. Read by the signing path (DeliveryService).
                    .col(text(Domains::DkimPrivateKey))
                    // Base64 DER SubjectPublicKeyInfo: the DKIM record's p=.
                    .col(text(Domains::DkimPublicKey))
                    .col(big_integer(Domains::CreatedAt))
                    .col(big_integer_null(Domains::VerifiedAt))
                    .col(big_integer_null(Domains::ActivatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Domains::Table, Domains::OrganizationId)
                            .to(Organizations::Table, Organizations::Id),
                    )
                    .to_owned(),
            )
            .await?;
        // One claim per organization and domain.
        manager
            .create_index(
                Index::create()
                    .name("domains_organization_name")
                    .table(Domains::Table)
                    .col(Domains::OrganizationId)
                    .col(Domains::Name)
                    .unique()
                    .to_owned(),
            )
            .await?;
        // One owner per domain: however many PENDING claims, at most one
        // VERIFIED or ACTIVE row. The first verifier wins; a second one hits
        // this key even when both check DNS at the same moment.
        manager
            .create_index(
                Index::create()
                    .name("domains_one_owner")
                    .table(Domains::Table)
                    .col(Domains::Name)
                    .unique()
                    .and_where(Expr::col(Domains::State).ne("pending"))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Notifications::Table)
                    .col(big_pk_auto(Notifications::Id))
                    .col(big_integer(Notifications::OrganizationId))
                    .col(string_len(Notifications::Kind, 32))
                    .col(text(Notifications::Message))
                    .col(big_integer(Notifications::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Notifications::Table, Notifications::OrganizationId)
                            .to(Organizations::Table, Organizations::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("notifications_organization")
                    .table(Notifications::Table)
                    .col(Notifications::OrganizationId)
                    .col(Notifications::Id)
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Notifications::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(Domains::Table).to_owned())
            .await
    }
}
