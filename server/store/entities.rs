//! sea-orm entities, one module per table (see `migrations/` for the DDL).
//! Instants are epoch milliseconds, money is cents.

macro_rules! no_relations {
    () => {
        #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
        pub enum Relation {}
        impl ActiveModelBehavior for ActiveModel {}
    };
}

pub mod plans {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "plans")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub name: String,
        pub price_cents: i64,
        pub aliases_per_user: i32,
        pub max_accounts: i32,
        pub max_free_accounts: i32,
        pub max_domains: i32,
        pub console: bool,
    }
    no_relations!();
}

pub mod organizations {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "organizations")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub name: String,
        pub master_user_id: Option<i64>,
        pub created_at: i64,
        pub balance_cents: i64,
    }
    no_relations!();
}

pub mod users {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "users")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub organization_id: i64,
        pub username: String,
        pub first_name: String,
        pub last_name: String,
        pub primary_address: String,
        pub plan: String,
        pub state: String,
        pub is_master: bool,
        pub password_hash: String,
        pub external_email: Option<String>,
        pub mobile_phone: Option<String>,
        pub postal_address: Option<String>,
        pub birth_date: Option<String>,
        pub photo_content_type: Option<String>,
        pub photo: Option<Vec<u8>>,
        pub create_request_id: Option<String>,
        pub created_at: i64,
        pub updated_at: i64,
        pub paid_until: Option<i64>,
        pub period_seq: i64,
        pub unpaid: bool,
    }
    no_relations!();
}

pub mod addresses {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "addresses")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub address: String,
        pub display: String,
        pub domain: String,
        pub kind: String,
        pub user_id: i64,
        pub organization_id: i64,
        pub created_at: i64,
    }
    no_relations!();
}

pub mod tokens {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "tokens")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub digest: String,
        pub role: String,
        pub organization_id: Option<i64>,
        pub user_id: Option<i64>,
        pub description: String,
        pub created_at: i64,
        pub expires_at: Option<i64>,
        pub revoked_at: Option<i64>,
    }
    no_relations!();
}

pub mod groups {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "groups")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub organization_id: i64,
        pub name: String,
        pub name_key: String,
        pub share_calendars: bool,
        pub share_documents: bool,
        pub share_contacts: bool,
        pub share_mailboxes: bool,
        pub created_at: i64,
    }
    no_relations!();
}

pub mod group_members {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "group_members")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub group_id: i64,
        #[sea_orm(primary_key, auto_increment = false)]
        pub user_id: i64,
    }
    no_relations!();
}

pub mod password_resets {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "password_resets")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub digest: String,
        pub user_id: i64,
        pub created_at: i64,
        pub expires_at: i64,
        pub used_at: Option<i64>,
    }
    no_relations!();
}

pub mod outbox {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "outbox")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub recipient: String,
        pub subject: String,
        pub body: String,
        pub created_at: i64,
    }
    no_relations!();
}

pub mod account_events {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "account_events")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub seq: i64,
        pub organization_id: i64,
        pub user_id: i64,
        pub kind: String,
        pub address: Option<String>,
        pub at: i64,
    }
    no_relations!();
}

pub mod account_event_counter {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "account_event_counter")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: i64,
        pub last_seq: i64,
        pub purged_through: i64,
    }
    no_relations!();
}

pub mod audit_events {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "audit_events")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub at: i64,
        pub actor: String,
        pub organization_id: Option<i64>,
        pub action: String,
        pub target: String,
        pub details: String,
    }
    no_relations!();
}

pub mod domains {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "domains")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub organization_id: i64,
        pub name: String,
        pub display: String,
        pub state: String,
        pub verification_token: String,
        pub created_at: i64,
        pub verified_at: Option<i64>,
        pub activated_at: Option<i64>,
        pub catch_all_user_id: Option<i64>,
        pub alias_of_domain_id: Option<i64>,
    }
    no_relations!();
}

pub mod dkim_keys {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "dkim_keys")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub domain_id: i64,
        pub selector: String,
        pub algorithm: String,
        pub state: String,
        pub public_key: String,
        /// Sealed (see `key_id`); plain PEM only while `key_id` is NULL.
        pub private_key: String,
        pub key_id: Option<String>,
        pub created_at: i64,
        pub activated_at: Option<i64>,
        pub retired_at: Option<i64>,
    }
    no_relations!();
}

pub mod notifications {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "notifications")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub organization_id: i64,
        pub kind: String,
        pub message: String,
        pub created_at: i64,
    }
    no_relations!();
}

pub mod periods {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "periods")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub user_id: i64,
        pub organization_id: i64,
        pub seq: i64,
        pub plan: String,
        pub starts_at: i64,
        pub ends_at: i64,
        pub charged_cents: i64,
        pub refunded_cents: Option<i64>,
        pub closed_at: Option<i64>,
    }
    no_relations!();
}

pub mod ledger_entries {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "ledger_entries")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub organization_id: i64,
        pub kind: String,
        pub amount_cents: i64,
        pub balance_after_cents: i64,
        pub user_id: Option<i64>,
        pub plan: Option<String>,
        pub period_seq: Option<i64>,
        pub idempotency_key: Option<String>,
        pub reference: Option<String>,
        pub description: String,
        pub created_at: i64,
    }
    no_relations!();
}

pub mod plan_changes {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "plan_changes")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub user_id: i64,
        pub request_id: String,
        pub from_plan: String,
        pub to_plan: String,
        pub refund_cents: i64,
        pub charge_cents: i64,
        pub created_at: i64,
    }
    no_relations!();
}
