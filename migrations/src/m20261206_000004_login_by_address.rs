//! Sign-ins find an account by username or by primary address
//! (`Login`, `Authenticate`, `AllowedSenders`). The username had an index
//! (its unique key); the primary address had none, so every sign-in read
//! the whole `users` table: ~10 ms per login at 100,000 accounts on
//! PostgreSQL, measured by `cargo bench --bench bridge`.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261206_000004_login_by_address"
    }
}

#[derive(DeriveIden)]
enum Users {
    Table,
    PrimaryAddress,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(
                Index::create()
                    .name("users_primary_address")
                    .table(Users::Table)
                    .col(Users::PrimaryAddress)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("users_primary_address")
                    .table(Users::Table)
                    .to_owned(),
            )
            .await
    }
}
