//! Accounts: the user rows, logins, personal data, states and the
//! tombstone a deleted account leaves.

use super::entities::{addresses, group_members, users};
use super::paging::{Keyset, Order};
use super::{Tx, db_err, unique_or};
use crate::clock::{from_millis, to_millis};
use crate::rules::model::{
    AccountState, AddressKind, NewAccount, Photo, PostalAddress, Profile, ProfileUpdate, User,
    UserFilter,
};
use crate::rules::paging::Page;
use crate::rules::plans::Plan;
use crate::rules::{DomainError, DomainResult, Kind};
use crate::snapshot::RoutingKey;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, Func};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, EntityTrait, PaginatorTrait, QueryFilter,
    QuerySelect, Set,
};

impl Tx {
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

    pub async fn username_taken(&self, username: &str) -> DomainResult<bool> {
        let n = users::Entity::find()
            .filter(users::Column::Username.eq(username))
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
}

/// An account with its password hash, for login checks.
pub struct UserRow {
    pub user: User,
    pub password_hash: String,
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
