//! Organizations, accounts, their addresses, the plan catalog, password
//! resets, the outbox and the audit log.

use super::entities::{
    addresses, audit_events, group_members, organizations, outbox, password_resets, plans, users,
};
use super::paging::{Keyset, Order};
use super::{Tx, db_err, unique_or};
use crate::clock::{from_millis, to_millis};
use crate::rules::model::{
    AccountState, AddressKind, AuditEvent, NewAccount, NewAuditEvent, Organization, OutboxMessage,
    Photo, PostalAddress, Profile, ProfileUpdate, User, UserFilter,
};
use crate::rules::paging::Page;
use crate::rules::plans::{AccountCounts, Plan, PlanTerms};
use crate::rules::{DomainError, DomainResult, Kind};
use crate::snapshot::RoutingKey;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, Func};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, EntityTrait, PaginatorTrait, QueryFilter,
    QuerySelect, Set,
};

/// An account with its password hash, for login checks.
pub struct UserRow {
    pub user: User,
    pub password_hash: String,
}

impl Tx {
    // --- plan catalog -------------------------------------------------------

    pub async fn plan_terms(&self, plan: Plan) -> DomainResult<PlanTerms> {
        let row = plans::Entity::find_by_id(plan.as_str().to_string())
            .one(&self.txn)
            .await
            .map_err(db_err)?
            .ok_or_else(|| {
                DomainError::internal(format!("plan {} missing from catalog", plan.as_str()))
            })?;
        Ok(terms_from(plan, &row))
    }

    // --- organizations ------------------------------------------------------

    pub async fn insert_organization(&self, name: &str, now: DateTime<Utc>) -> DomainResult<i64> {
        let row = organizations::ActiveModel {
            name: Set(name.to_string()),
            master_user_id: Set(None),
            created_at: Set(to_millis(now)),
            balance_cents: Set(0),
            ..Default::default()
        }
        .insert(&self.txn)
        .await
        .map_err(db_err)?;
        Ok(row.id)
    }

    pub async fn set_organization_master(
        &self,
        organization_id: i64,
        user_id: i64,
    ) -> DomainResult<()> {
        organizations::Entity::update_many()
            .col_expr(organizations::Column::MasterUserId, Expr::value(user_id))
            .filter(organizations::Column::Id.eq(organization_id))
            .exec(&self.txn)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    /// Reads an organization and locks its row until the transaction ends
    /// (PostgreSQL `FOR UPDATE`; SQLite's writer lock already serializes),
    /// so checks against its limits cannot race.
    pub async fn lock_organization(&self, id: i64) -> DomainResult<Option<Organization>> {
        let row = organizations::Entity::find_by_id(id)
            .lock_exclusive()
            .one(&self.txn)
            .await
            .map_err(db_err)?;
        match row {
            Some(row) => Ok(Some(self.organization_from(row).await?)),
            None => Ok(None),
        }
    }

    pub async fn find_organization(&self, id: i64) -> DomainResult<Option<Organization>> {
        let row = organizations::Entity::find_by_id(id)
            .one(&self.txn)
            .await
            .map_err(db_err)?;
        match row {
            Some(row) => Ok(Some(self.organization_from(row).await?)),
            None => Ok(None),
        }
    }

    pub async fn list_organizations(&self, page: Page) -> DomainResult<Vec<Organization>> {
        let rows = organizations::Entity::find()
            .keyset(organizations::Column::Id, Order::OldestFirst, page)
            .all(&self.txn)
            .await
            .map_err(db_err)?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            out.push(self.organization_from(row).await?);
        }
        Ok(out)
    }

    async fn organization_from(&self, row: organizations::Model) -> DomainResult<Organization> {
        let master_user_id = row.master_user_id.ok_or_else(|| {
            DomainError::internal(format!("organization {} has no master", row.id))
        })?;
        let master = users::Entity::find_by_id(master_user_id)
            .select_only()
            .column(users::Column::Plan)
            .into_tuple::<String>()
            .one(&self.txn)
            .await
            .map_err(db_err)?
            .ok_or_else(|| DomainError::internal("master account row missing"))?;
        let counts = self.account_counts(row.id).await?;
        Ok(Organization {
            id: row.id,
            name: row.name,
            master_user_id,
            master_plan: Plan::parse_stored(&master)?,
            account_count: counts.accounts,
            created_at: from_millis(row.created_at),
        })
    }

    /// Accounts besides the master (deleted ones excluded), and how many of
    /// them are Free.
    pub async fn account_counts(&self, organization_id: i64) -> DomainResult<AccountCounts> {
        let live = || {
            users::Entity::find()
                .filter(users::Column::OrganizationId.eq(organization_id))
                .filter(users::Column::IsMaster.eq(false))
                .filter(users::Column::State.ne(AccountState::Deleted.as_str()))
        };
        let accounts = live().count(&self.txn).await.map_err(db_err)?;
        let free_accounts = live()
            .filter(users::Column::Plan.eq(Plan::Free.as_str()))
            .count(&self.txn)
            .await
            .map_err(db_err)?;
        Ok(AccountCounts {
            accounts: accounts as u32,
            free_accounts: free_accounts as u32,
        })
    }

    // --- accounts -------------------------------------------------------------

    /// Inserts an account and its primary address. Uniqueness of the
    /// username and the address is enforced by unique keys.
    pub async fn insert_user(
        &self,
        organization_id: i64,
        account: &NewAccount,
        password_hash: String,
        is_master: bool,
        request_id: Option<&str>,
        now: DateTime<Utc>,
    ) -> DomainResult<User> {
        let username = account.username.as_str();
        let row = users::ActiveModel {
            organization_id: Set(organization_id),
            username: Set(username.to_string()),
            first_name: Set(account.first_name.clone()),
            last_name: Set(account.last_name.clone()),
            primary_address: Set(account.primary_address.to_string()),
            plan: Set(account.plan.as_str().to_string()),
            state: Set(AccountState::Enabled.as_str().to_string()),
            is_master: Set(is_master),
            password_hash: Set(password_hash),
            external_email: Set(None),
            mobile_phone: Set(None),
            postal_address: Set(None),
            birth_date: Set(None),
            photo_content_type: Set(None),
            photo: Set(None),
            create_request_id: Set(request_id.map(str::to_string)),
            created_at: Set(to_millis(now)),
            updated_at: Set(to_millis(now)),
            paid_until: Set(None),
            period_seq: Set(0),
            unpaid: Set(false),
            ..Default::default()
        }
        .insert(&self.txn)
        .await
        .map_err(|e| unique_or(e, Kind::Username, format!("{username:?} is taken")))?;
        self.touch(RoutingKey::Account(row.id));
        self.insert_address(
            row.id,
            row.organization_id,
            &account.primary_address,
            AddressKind::Primary,
            now,
        )
        .await?;
        user_from(row)
    }

    /// Gives `address` to an account; the unique key on the normalized
    /// address is the platform-wide uniqueness rule.
    pub(super) async fn insert_address(
        &self,
        user_id: i64,
        organization_id: i64,
        address: &crate::rules::address::EmailAddress,
        kind: AddressKind,
        now: DateTime<Utc>,
    ) -> DomainResult<addresses::Model> {
        let row = addresses::ActiveModel {
            address: Set(address.to_string()),
            display: Set(address.display()),
            domain: Set(address.domain().to_string()),
            kind: Set(kind.as_str().to_string()),
            user_id: Set(user_id),
            organization_id: Set(organization_id),
            created_at: Set(to_millis(now)),
            ..Default::default()
        }
        .insert(&self.txn)
        .await
        .map_err(|e| unique_or(e, Kind::Address, format!("{address} is taken")))?;
        self.touch(RoutingKey::Address(row.address.clone()));
        Ok(row)
    }

    pub async fn username_taken(&self, username: &str) -> DomainResult<bool> {
        let n = users::Entity::find()
            .filter(users::Column::Username.eq(username))
            .count(&self.txn)
            .await
            .map_err(db_err)?;
        Ok(n > 0)
    }

    pub async fn address_taken(&self, address: &str) -> DomainResult<bool> {
        let n = addresses::Entity::find()
            .filter(addresses::Column::Address.eq(address))
            .count(&self.txn)
            .await
            .map_err(db_err)?;
        Ok(n > 0)
    }

    pub async fn find_user(&self, id: i64) -> DomainResult<Option<User>> {
        users::Entity::find_by_id(id)
            .one(&self.txn)
            .await
            .map_err(db_err)?
            .map(user_from)
            .transpose()
    }

    pub async fn find_user_by_request_id(
        &self,
        organization_id: i64,
        request_id: &str,
    ) -> DomainResult<Option<User>> {
        users::Entity::find()
            .filter(users::Column::OrganizationId.eq(organization_id))
            .filter(users::Column::CreateRequestId.eq(request_id))
            .one(&self.txn)
            .await
            .map_err(db_err)?
            .map(user_from)
            .transpose()
    }

    /// The live account whose username or primary address is `login`
    /// (already lower-cased / normalized). Tombstones are skipped: a deleted
    /// account's custom-domain address may belong to someone else now.
    pub async fn find_login(&self, login: &str) -> DomainResult<Option<UserRow>> {
        let row = users::Entity::find()
            .filter(
                Condition::any()
                    .add(users::Column::Username.eq(login))
                    .add(users::Column::PrimaryAddress.eq(login)),
            )
            .filter(users::Column::State.ne(AccountState::Deleted.as_str()))
            .one(&self.txn)
            .await
            .map_err(db_err)?;
        match row {
            Some(row) => {
                let password_hash = row.password_hash.clone();
                Ok(Some(UserRow {
                    user: user_from(row)?,
                    password_hash,
                }))
            }
            None => Ok(None),
        }
    }

    /// An account with its password hash, its row locked until the
    /// transaction ends (PostgreSQL `FOR UPDATE`; SQLite's writer lock
    /// already serializes): what Login re-checks before it issues a token,
    /// so a password change or a disable committed meanwhile wins.
    pub async fn lock_login(&self, user_id: i64) -> DomainResult<Option<UserRow>> {
        let row = users::Entity::find_by_id(user_id)
            .lock_exclusive()
            .one(&self.txn)
            .await
            .map_err(db_err)?;
        row.map(|row| {
            let password_hash = row.password_hash.clone();
            Ok(UserRow {
                user: user_from(row)?,
                password_hash,
            })
        })
        .transpose()
    }

    pub async fn password_hash(&self, user_id: i64) -> DomainResult<String> {
        users::Entity::find_by_id(user_id)
            .select_only()
            .column(users::Column::PasswordHash)
            .into_tuple::<String>()
            .one(&self.txn)
            .await
            .map_err(db_err)?
            .ok_or(DomainError::NotFound(Kind::User))
    }

    /// A page of an organization's accounts, without photo bytes.
    pub async fn list_users(
        &self,
        organization_id: i64,
        filter: &UserFilter,
        page: Page,
    ) -> DomainResult<Vec<User>> {
        let mut query = users::Entity::find()
            .select_only()
            .columns(users_without_photo())
            .filter(users::Column::OrganizationId.eq(organization_id));
        query = match filter.state {
            Some(state) => query.filter(users::Column::State.eq(state.as_str())),
            None => query.filter(users::Column::State.ne(AccountState::Deleted.as_str())),
        };
        if let Some(plan) = filter.plan {
            query = query.filter(users::Column::Plan.eq(plan.as_str()));
        }
        if let Some(text) = &filter.query {
            let pattern = format!("%{}%", escape_like(&text.to_lowercase()));
            let lower_like = |column: users::Column| {
                Expr::expr(Func::lower(Expr::col(column)))
                    .like(sea_orm::sea_query::LikeExpr::new(pattern.clone()).escape('\\'))
            };
            query = query.filter(
                Condition::any()
                    .add(lower_like(users::Column::Username))
                    .add(lower_like(users::Column::FirstName))
                    .add(lower_like(users::Column::LastName))
                    .add(lower_like(users::Column::PrimaryAddress)),
            );
        }
        let rows = query
            .keyset(users::Column::Id, Order::OldestFirst, page)
            .into_model::<UserListRow>()
            .all(&self.txn)
            .await
            .map_err(db_err)?;
        rows.into_iter()
            .map(|r| user_from(r.into_model()))
            .collect()
    }

    /// The accounts among `ids` that belong to `organization_id` and are not
    /// deleted.
    pub async fn live_user_ids_in(
        &self,
        organization_id: i64,
        ids: &[i64],
    ) -> DomainResult<Vec<i64>> {
        users::Entity::find()
            .select_only()
            .column(users::Column::Id)
            .filter(users::Column::OrganizationId.eq(organization_id))
            .filter(users::Column::State.ne(AccountState::Deleted.as_str()))
            .filter(users::Column::Id.is_in(ids.iter().copied()))
            .into_tuple::<i64>()
            .all(&self.txn)
            .await
            .map_err(db_err)
    }

    pub async fn set_user_state(
        &self,
        id: i64,
        state: AccountState,
        now: DateTime<Utc>,
    ) -> DomainResult<()> {
        users::Entity::update_many()
            .col_expr(users::Column::State, Expr::value(state.as_str()))
            .col_expr(users::Column::UpdatedAt, Expr::value(to_millis(now)))
            .filter(users::Column::Id.eq(id))
            .exec(&self.txn)
            .await
            .map_err(db_err)?;
        self.touch(RoutingKey::Account(id));
        Ok(())
    }

    pub async fn set_user_plan(&self, id: i64, plan: Plan, now: DateTime<Utc>) -> DomainResult<()> {
        users::Entity::update_many()
            .col_expr(users::Column::Plan, Expr::value(plan.as_str()))
            .col_expr(users::Column::UpdatedAt, Expr::value(to_millis(now)))
            .filter(users::Column::Id.eq(id))
            .exec(&self.txn)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    pub async fn set_password_hash(
        &self,
        id: i64,
        hash: String,
        now: DateTime<Utc>,
    ) -> DomainResult<()> {
        users::Entity::update_many()
            .col_expr(users::Column::PasswordHash, Expr::value(hash))
            .col_expr(users::Column::UpdatedAt, Expr::value(to_millis(now)))
            .filter(users::Column::Id.eq(id))
            .exec(&self.txn)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    pub async fn update_profile(
        &self,
        id: i64,
        update: &ProfileUpdate,
        now: DateTime<Utc>,
    ) -> DomainResult<User> {
        let mut row: users::ActiveModel = users::Entity::find_by_id(id)
            .one(&self.txn)
            .await
            .map_err(db_err)?
            .ok_or(DomainError::NotFound(Kind::User))?
            .into();
        if let Some(v) = &update.first_name {
            row.first_name = Set(v.clone());
        }
        if let Some(v) = &update.last_name {
            row.last_name = Set(v.clone());
        }
        if let Some(v) = &update.external_email {
            row.external_email = Set(v.clone());
        }
        if let Some(v) = &update.mobile_phone {
            row.mobile_phone = Set(v.clone());
        }
        if let Some(v) = &update.postal_address {
            let json = v
                .as_ref()
                .map(serde_json::to_string)
                .transpose()
                .map_err(DomainError::internal)?;
            row.postal_address = Set(json);
        }
        if let Some(v) = &update.birth_date {
            row.birth_date = Set(v.clone());
        }
        if let Some(v) = &update.photo {
            row.photo_content_type = Set(v.as_ref().map(|p| p.content_type.clone()));
            row.photo = Set(v.as_ref().map(|p| p.data.clone()));
        }
        row.updated_at = Set(to_millis(now));
        user_from(row.update(&self.txn).await.map_err(db_err)?)
    }

    /// Turns an account into a tombstone: personal data and password gone,
    /// group memberships removed, addresses on custom domains freed.
    /// Addresses on `reserved_domains` (the provider's) stay, pointing at the
    /// tombstone, so they are never given to anyone else.
    pub async fn tombstone_user(
        &self,
        id: i64,
        reserved_domains: &[String],
        now: DateTime<Utc>,
    ) -> DomainResult<()> {
        users::Entity::update_many()
            .col_expr(
                users::Column::State,
                Expr::value(AccountState::Deleted.as_str()),
            )
            .col_expr(users::Column::PasswordHash, Expr::value(""))
            .col_expr(
                users::Column::ExternalEmail,
                Expr::value(Option::<String>::None),
            )
            .col_expr(
                users::Column::MobilePhone,
                Expr::value(Option::<String>::None),
            )
            .col_expr(
                users::Column::PostalAddress,
                Expr::value(Option::<String>::None),
            )
            .col_expr(
                users::Column::BirthDate,
                Expr::value(Option::<String>::None),
            )
            .col_expr(
                users::Column::PhotoContentType,
                Expr::value(Option::<String>::None),
            )
            .col_expr(users::Column::Photo, Expr::value(Option::<Vec<u8>>::None))
            .col_expr(users::Column::UpdatedAt, Expr::value(to_millis(now)))
            .filter(users::Column::Id.eq(id))
            .exec(&self.txn)
            .await
            .map_err(db_err)?;
        group_members::Entity::delete_many()
            .filter(group_members::Column::UserId.eq(id))
            .exec(&self.txn)
            .await
            .map_err(db_err)?;
        let freed: Vec<String> = addresses::Entity::find()
            .select_only()
            .column(addresses::Column::Address)
            .filter(addresses::Column::UserId.eq(id))
            .filter(addresses::Column::Domain.is_not_in(reserved_domains.iter().cloned()))
            .into_tuple()
            .all(&self.txn)
            .await
            .map_err(db_err)?;
        addresses::Entity::delete_many()
            .filter(addresses::Column::UserId.eq(id))
            .filter(addresses::Column::Domain.is_not_in(reserved_domains.iter().cloned()))
            .exec(&self.txn)
            .await
            .map_err(db_err)?;
        self.touch(RoutingKey::Account(id));
        for address in freed {
            self.touch(RoutingKey::Address(address));
        }
        Ok(())
    }

    // --- password resets and the outbox ---------------------------------------

    pub async fn insert_password_reset(
        &self,
        digest: String,
        user_id: i64,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> DomainResult<()> {
        password_resets::ActiveModel {
            digest: Set(digest),
            user_id: Set(user_id),
            created_at: Set(to_millis(now)),
            expires_at: Set(to_millis(expires_at)),
            used_at: Set(None),
            ..Default::default()
        }
        .insert(&self.txn)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    /// Marks a reset token used, if it is unused and unexpired, and returns
    /// its account. The conditional update makes it single-use even under
    /// concurrent attempts. Every other open token of the account is voided.
    pub async fn consume_password_reset(
        &self,
        digest: &str,
        now: DateTime<Utc>,
    ) -> DomainResult<Option<i64>> {
        let Some(row) = password_resets::Entity::find()
            .filter(password_resets::Column::Digest.eq(digest))
            .one(&self.txn)
            .await
            .map_err(db_err)?
        else {
            return Ok(None);
        };
        let used = password_resets::Entity::update_many()
            .col_expr(password_resets::Column::UsedAt, Expr::value(to_millis(now)))
            .filter(password_resets::Column::UserId.eq(row.user_id))
            .filter(password_resets::Column::UsedAt.is_null())
            .filter(password_resets::Column::ExpiresAt.gt(to_millis(now)))
            .filter(password_resets::Column::Id.eq(row.id))
            .exec(&self.txn)
            .await
            .map_err(db_err)?;
        if used.rows_affected != 1 {
            return Ok(None);
        }
        password_resets::Entity::update_many()
            .col_expr(password_resets::Column::UsedAt, Expr::value(to_millis(now)))
            .filter(password_resets::Column::UserId.eq(row.user_id))
            .filter(password_resets::Column::UsedAt.is_null())
            .exec(&self.txn)
            .await
            .map_err(db_err)?;
        Ok(Some(row.user_id))
    }

    pub async fn insert_outbox(
        &self,
        recipient: &str,
        subject: &str,
        body: &str,
        now: DateTime<Utc>,
    ) -> DomainResult<()> {
        outbox::ActiveModel {
            recipient: Set(recipient.to_string()),
            subject: Set(subject.to_string()),
            body: Set(body.to_string()),
            created_at: Set(to_millis(now)),
            ..Default::default()
        }
        .insert(&self.txn)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    /// Newest first.
    pub async fn list_outbox(&self, page: Page) -> DomainResult<Vec<OutboxMessage>> {
        let rows = outbox::Entity::find()
            .keyset(outbox::Column::Id, Order::NewestFirst, page)
            .all(&self.txn)
            .await
            .map_err(db_err)?;
        Ok(rows
            .into_iter()
            .map(|r| OutboxMessage {
                id: r.id,
                recipient: r.recipient,
                subject: r.subject,
                body: r.body,
                created_at: from_millis(r.created_at),
            })
            .collect())
    }

    // --- audit -------------------------------------------------------------------

    pub async fn record(&self, event: NewAuditEvent, now: DateTime<Utc>) -> DomainResult<()> {
        self.record_all(vec![event], now).await
    }

    /// Records many events in one statement (a renewal batch audits every
    /// account it touched).
    pub async fn record_all(
        &self,
        events: Vec<NewAuditEvent>,
        now: DateTime<Utc>,
    ) -> DomainResult<()> {
        if events.is_empty() {
            return Ok(());
        }
        let rows = events.into_iter().map(|event| audit_events::ActiveModel {
            at: Set(to_millis(now)),
            actor: Set(event.actor),
            organization_id: Set(event.organization_id),
            action: Set(event.action.to_string()),
            target: Set(event.target),
            details: Set(event.details),
            ..Default::default()
        });
        audit_events::Entity::insert_many(rows)
            .exec(&self.txn)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    /// Newest first; `organization_id` None means every event.
    pub async fn list_audit(
        &self,
        organization_id: Option<i64>,
        page: Page,
    ) -> DomainResult<Vec<AuditEvent>> {
        let mut query = audit_events::Entity::find();
        if let Some(org) = organization_id {
            query = query.filter(audit_events::Column::OrganizationId.eq(org));
        }
        let rows = query
            .keyset(audit_events::Column::Id, Order::NewestFirst, page)
            .all(&self.txn)
            .await
            .map_err(db_err)?;
        Ok(rows
            .into_iter()
            .map(|r| AuditEvent {
                id: r.id,
                at: from_millis(r.at),
                actor: r.actor,
                organization_id: r.organization_id,
                action: r.action,
                target: r.target,
                details: r.details,
            })
            .collect())
    }
}

pub(super) fn terms_from(plan: Plan, row: &plans::Model) -> PlanTerms {
    PlanTerms {
        plan,
        price_cents: row.price_cents,
        aliases_per_user: u32::try_from(row.aliases_per_user).unwrap_or(0),
        max_accounts: u32::try_from(row.max_accounts).unwrap_or(0),
        max_free_accounts: u32::try_from(row.max_free_accounts).unwrap_or(0),
        max_domains: u32::try_from(row.max_domains).unwrap_or(0),
        console: row.console,
    }
}

fn escape_like(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

/// Every users column but the photo bytes.
fn users_without_photo() -> Vec<users::Column> {
    use sea_orm::Iterable;
    users::Column::iter()
        .filter(|c| !matches!(c, users::Column::Photo))
        .collect()
}

/// A users row read without its photo bytes.
#[derive(Debug, sea_orm::FromQueryResult)]
struct UserListRow {
    id: i64,
    organization_id: i64,
    username: String,
    first_name: String,
    last_name: String,
    primary_address: String,
    plan: String,
    state: String,
    is_master: bool,
    password_hash: String,
    external_email: Option<String>,
    mobile_phone: Option<String>,
    postal_address: Option<String>,
    birth_date: Option<String>,
    photo_content_type: Option<String>,
    create_request_id: Option<String>,
    created_at: i64,
    updated_at: i64,
    paid_until: Option<i64>,
    period_seq: i64,
    unpaid: bool,
}

impl UserListRow {
    fn into_model(self) -> users::Model {
        users::Model {
            id: self.id,
            organization_id: self.organization_id,
            username: self.username,
            first_name: self.first_name,
            last_name: self.last_name,
            primary_address: self.primary_address,
            plan: self.plan,
            state: self.state,
            is_master: self.is_master,
            password_hash: self.password_hash,
            external_email: self.external_email,
            mobile_phone: self.mobile_phone,
            postal_address: self.postal_address,
            birth_date: self.birth_date,
            photo_content_type: self.photo_content_type,
            photo: None,
            create_request_id: self.create_request_id,
            created_at: self.created_at,
            updated_at: self.updated_at,
            paid_until: self.paid_until,
            period_seq: self.period_seq,
            unpaid: self.unpaid,
        }
    }
}

pub(super) fn user_from(row: users::Model) -> DomainResult<User> {
    let postal_address = row
        .postal_address
        .as_deref()
        .map(serde_json::from_str::<PostalAddress>)
        .transpose()
        .map_err(|e| DomainError::internal(format!("user {}: bad postal address: {e}", row.id)))?;
    let photo = match (row.photo_content_type, row.photo) {
        (Some(content_type), data) => Some(Photo {
            content_type,
            data: data.unwrap_or_default(),
        }),
        _ => None,
    };
    Ok(User {
        id: row.id,
        organization_id: row.organization_id,
        username: row.username,
        first_name: row.first_name,
        last_name: row.last_name,
        primary_address: row.primary_address,
        plan: Plan::parse_stored(&row.plan)?,
        state: AccountState::parse_stored(&row.state).ok_or_else(|| {
            DomainError::internal(format!("user {}: bad state {:?}", row.id, row.state))
        })?,
        is_master: row.is_master,
        profile: Profile {
            external_email: row.external_email,
            mobile_phone: row.mobile_phone,
            postal_address,
            birth_date: row.birth_date,
            photo,
        },
        created_at: from_millis(row.created_at),
        updated_at: from_millis(row.updated_at),
        paid_until: row.paid_until.map(from_millis),
        unpaid: row.unpaid,
    })
}
