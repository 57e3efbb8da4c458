//! Organizations, accounts, addresses, tokens, groups, the plan catalog,
//! password resets, the outbox and the audit log.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261123_000001_foundation"
    }
}

#[derive(DeriveIden)]
enum Plans {
    Table,
    Name,
    PriceCents,
    AliasesPerUser,
    MaxAccounts,
    MaxFreeAccounts,
    MaxDomains,
    Console,
}

#[derive(DeriveIden)]
enum Organizations {
    Table,
    Id,
    Name,
    MasterUserId,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
    OrganizationId,
    Username,
    FirstName,
    LastName,
    PrimaryAddress,
    Plan,
    State,
    IsMaster,
    PasswordHash,
    ExternalEmail,
    MobilePhone,
    PostalAddress,
    BirthDate,
    PhotoContentType,
    Photo,
    CreateRequestId,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Addresses {
    Table,
    Id,
    Address,
    Display,
    Domain,
    Kind,
    UserId,
    OrganizationId,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Tokens {
    Table,
    Id,
    Digest,
    Role,
    OrganizationId,
    UserId,
    Description,
    CreatedAt,
    ExpiresAt,
    RevokedAt,
}

#[derive(DeriveIden)]
enum Groups {
    Table,
    Id,
    OrganizationId,
    Name,
    NameKey,
    ShareCalendars,
    ShareDocuments,
    ShareContacts,
    ShareMailboxes,
    CreatedAt,
}

#[derive(DeriveIden)]
enum GroupMembers {
    Table,
    GroupId,
    UserId,
}

#[derive(DeriveIden)]
enum PasswordResets {
    Table,
    Id,
    Digest,
    UserId,
    CreatedAt,
    ExpiresAt,
    UsedAt,
}

#[derive(DeriveIden)]
enum Outbox {
    Table,
    Id,
    Recipient,
    Subject,
    Body,
    CreatedAt,
}

#[derive(DeriveIden)]
enum AuditEvents {
    Table,
    Id,
    At,
    Actor,
    OrganizationId,
    Action,
    Target,
    Details,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Plans::Table)
                    .col(string_len(Plans::Name, 16).primary_key())
                    .col(big_integer(Plans::PriceCents))
                    .col(integer(Plans::AliasesPerUser))
                    .col(integer(Plans::MaxAccounts))
                    .col(integer(Plans::MaxFreeAccounts))
                    .col(integer(Plans::MaxDomains))
                    .col(boolean(Plans::Console))
                    .to_owned(),
            )
            .await?;
        // The default catalog (SPEC, "Organizations and the master account").
        let mut seed = Query::insert()
            .into_table(Plans::Table)
            .columns([
                Plans::Name,
                Plans::PriceCents,
                Plans::AliasesPerUser,
                Plans::MaxAccounts,
                Plans::MaxFreeAccounts,
                Plans::MaxDomains,
                Plans::Console,
            ])
            .to_owned();
        for (name, cents, aliases, accounts, free, domains, console) in [
            ("free", 0_i64, 0, 0, 0, 0, false),
            ("entry", 250, 10, 10, 2, 1, true),
            ("pro", 750, 50, 100, 10, 10, true),
        ] {
            seed.values_panic([
                name.into(),
                cents.into(),
                aliases.into(),
                accounts.into(),
                free.into(),
                domains.into(),
                console.into(),
            ]);
        }
        manager.exec_stmt(seed).await?;

        manager
            .create_table(
                Table::create()
                    .table(Organizations::Table)
                    .col(big_pk_auto(Organizations::Id))
                    .col(string_len(Organizations::Name, 200))
                    // Set in the same transaction that creates the master.
                    .col(big_integer_null(Organizations::MasterUserId))
                    .col(big_integer(Organizations::CreatedAt))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Users::Table)
                    .col(big_pk_auto(Users::Id))
                    .col(big_integer(Users::OrganizationId))
                    .col(string_len_uniq(Users::Username, 64))
                    .col(string_len(Users::FirstName, 200))
                    .col(string_len(Users::LastName, 200))
                    .col(string_len(Users::PrimaryAddress, 254))
                    .col(string_len(Users::Plan, 16))
                    .col(string_len(Users::State, 16))
                    .col(boolean(Users::IsMaster))
                    // Empty once the account is deleted.
                    .col(string_len(Users::PasswordHash, 255))
                    .col(string_len_null(Users::ExternalEmail, 254))
                    .col(string_len_null(Users::MobilePhone, 32))
                    .col(text_null(Users::PostalAddress))
                    .col(string_len_null(Users::BirthDate, 10))
                    .col(string_len_null(Users::PhotoContentType, 32))
                    .col(blob_null(Users::Photo))
                    .col(string_len_null(Users::CreateRequestId, 128))
                    .col(big_integer(Users::CreatedAt))
                    .col(big_integer(Users::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Users::Table, Users::OrganizationId)
                            .to(Organizations::Table, Organizations::Id),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(Users::Table, Users::Plan)
                            .to(Plans::Table, Plans::Name),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("users_organization_id")
                    .table(Users::Table)
                    .col(Users::OrganizationId)
                    .col(Users::Id)
                    .to_owned(),
            )
            .await?;
        // A retried CreateUser finds its first result here (NULLs are distinct).
        manager
            .create_index(
                Index::create()
                    .name("users_create_request_id")
                    .table(Users::Table)
                    .col(Users::OrganizationId)
                    .col(Users::CreateRequestId)
                    .unique()
                    .to_owned(),
            )
            .await?;

        // Every address routed here, primary or alias, normalized. The unique
        // key is the platform-wide uniqueness rule. Provider-domain rows stay
        // after their account is deleted: those addresses are never reissued.
        manager
            .create_table(
                Table::create()
                    .table(Addresses::Table)
                    .col(big_pk_auto(Addresses::Id))
                    .col(string_len_uniq(Addresses::Address, 254))
                    .col(string_len(Addresses::Display, 1024))
                    .col(string_len(Addresses::Domain, 253))
                    .col(string_len(Addresses::Kind, 16))
                    .col(big_integer(Addresses::UserId))
                    .col(big_integer(Addresses::OrganizationId))
                    .col(big_integer(Addresses::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Addresses::Table, Addresses::UserId)
                            .to(Users::Table, Users::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("addresses_user_id")
                    .table(Addresses::Table)
                    .col(Addresses::UserId)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Tokens::Table)
                    .col(big_pk_auto(Tokens::Id))
                    // SHA-256 of the secret, hex; the secret itself is never stored.
                    .col(string_len_uniq(Tokens::Digest, 64))
                    .col(string_len(Tokens::Role, 16))
                    .col(big_integer_null(Tokens::OrganizationId))
                    .col(big_integer_null(Tokens::UserId))
                    .col(string_len(Tokens::Description, 200))
                    .col(big_integer(Tokens::CreatedAt))
                    .col(big_integer_null(Tokens::ExpiresAt))
                    .col(big_integer_null(Tokens::RevokedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("tokens_user_id")
                    .table(Tokens::Table)
                    .col(Tokens::UserId)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Groups::Table)
                    .col(big_pk_auto(Groups::Id))
                    .col(big_integer(Groups::OrganizationId))
                    .col(string_len(Groups::Name, 100))
                    .col(string_len(Groups::NameKey, 100))
                    .col(boolean(Groups::ShareCalendars))
                    .col(boolean(Groups::ShareDocuments))
                    .col(boolean(Groups::ShareContacts))
                    .col(boolean(Groups::ShareMailboxes))
                    .col(big_integer(Groups::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Groups::Table, Groups::OrganizationId)
                            .to(Organizations::Table, Organizations::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("groups_organization_name")
                    .table(Groups::Table)
                    .col(Groups::OrganizationId)
                    .col(Groups::NameKey)
                    .unique()
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(GroupMembers::Table)
                    .col(big_integer(GroupMembers::GroupId))
                    .col(big_integer(GroupMembers::UserId))
                    .primary_key(
                        Index::create()
                            .col(GroupMembers::GroupId)
                            .col(GroupMembers::UserId),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(GroupMembers::Table, GroupMembers::GroupId)
                            .to(Groups::Table, Groups::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(GroupMembers::Table, GroupMembers::UserId)
                            .to(Users::Table, Users::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("group_members_user_id")
                    .table(GroupMembers::Table)
                    .col(GroupMembers::UserId)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(PasswordResets::Table)
                    .col(big_pk_auto(PasswordResets::Id))
                    .col(string_len_uniq(PasswordResets::Digest, 64))
                    .col(big_integer(PasswordResets::UserId))
                    .col(big_integer(PasswordResets::CreatedAt))
                    .col(big_integer(PasswordResets::ExpiresAt))
                    .col(big_integer_null(PasswordResets::UsedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(PasswordResets::Table, PasswordResets::UserId)
                            .to(Users::Table, Users::Id),
                    )
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Outbox::Table)
                    .col(big_pk_auto(Outbox::Id))
                    .col(string_len(Outbox::Recipient, 254))
                    .col(string_len(Outbox::Subject, 200))
                    .col(text(Outbox::Body))
                    .col(big_integer(Outbox::CreatedAt))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(AuditEvents::Table)
                    .col(big_pk_auto(AuditEvents::Id))
                    .col(big_integer(AuditEvents::At))
                    .col(string_len(AuditEvents::Actor, 200))
                    .col(big_integer_null(AuditEvents::OrganizationId))
                    .col(string_len(AuditEvents::Action, 64))
                    .col(string_len(AuditEvents::Target, 200))
                    .col(text(AuditEvents::Details))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("audit_events_organization")
                    .table(AuditEvents::Table)
                    .col(AuditEvents::OrganizationId)
                    .col(AuditEvents::Id)
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            AuditEvents::Table.into_iden(),
            Outbox::Table.into_iden(),
            PasswordResets::Table.into_iden(),
            GroupMembers::Table.into_iden(),
            Groups::Table.into_iden(),
            Tokens::Table.into_iden(),
            Addresses::Table.into_iden(),
            Users::Table.into_iden(),
            Organizations::Table.into_iden(),
            Plans::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
