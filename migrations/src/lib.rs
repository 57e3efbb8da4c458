//! mailadmin's database schema, one migration set for SQLite and PostgreSQL.
//!
//! Conventions: ids are 64-bit integers; instants are `BIGINT` milliseconds
//! since the Unix epoch (exact, comparable and indexable the same way on both
//! databases); money is `BIGINT` cents, never a float or a SQLite "decimal".

pub use sea_orm_migration::prelude::*;

mod m20261123_000001_foundation;
mod m20261123_000002_domains;
mod m20261123_000003_billing;
mod m20261206_000004_login_by_address;
mod m20261206_000005_catch_all;
mod m20261206_000006_domain_aliases;
mod m20261206_000007_account_events;
mod m20261206_000008_dkim_keys;

/// Every migration, oldest first.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261123_000001_foundation::Migration),
            Box::new(m20261123_000002_domains::Migration),
            Box::new(m20261123_000003_billing::Migration),
            Box::new(m20261206_000004_login_by_address::Migration),
            Box::new(m20261206_000005_catch_all::Migration),
            Box::new(m20261206_000006_domain_aliases::Migration),
            Box::new(m20261206_000007_account_events::Migration),
            Box::new(m20261206_000008_dkim_keys::Migration),
        ]
    }
}
