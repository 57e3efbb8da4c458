//! Bearer tokens: API tokens made by operators and sessions from Login.
//! Only the SHA-256 digest of a secret is stored.

use super::entities::tokens;
use super::paging::{Keyset, Order};
use super::{Tx, db_err};
use crate::clock::{from_millis, to_millis};
use crate::rules::model::TokenInfo;
use crate::rules::paging::Page;
use crate::rules::{DomainError, DomainResult, Role};
use crate::snapshot::RoutingKey;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, EntityTrait, PaginatorTrait, QueryFilter,
    QuerySelect, Set,
};

/// A token about to be stored.
pub struct TokenRow<'a> {
    pub digest: String,
    pub role: Role,
    pub organization_id: Option<i64>,
    pub user_id: Option<i64>,
    pub description: &'a str,
    pub expires_at: Option<DateTime<Utc>>,
}

impl Tx {
    pub async fn insert_token(
        &self,
        token: TokenRow<'_>,
        now: DateTime<Utc>,
    ) -> DomainResult<TokenInfo> {
        let row = tokens::ActiveModel {
            digest: Set(token.digest),
            role: Set(token.role.as_str().to_string()),
            organization_id: Set(token.organization_id),
            user_id: Set(token.user_id),
            description: Set(token.description.to_string()),
            created_at: Set(to_millis(now)),
            expires_at: Set(token.expires_at.map(to_millis)),
            revoked_at: Set(None),
            ..Default::default()
        }
        .insert(&self.txn)
        .await
        .map_err(db_err)?;
        self.touch(RoutingKey::Token(row.digest.clone()));
        token_from(row)
    }

    pub async fn find_token(&self, id: i64) -> DomainResult<Option<TokenInfo>> {
        tokens::Entity::find_by_id(id)
            .one(&self.txn)
            .await
            .map_err(db_err)?
            .map(token_from)
            .transpose()
    }

    /// Revokes one token (a no-op when it already is).
    pub async fn revoke_token(&self, id: i64, now: DateTime<Utc>) -> DomainResult<()> {
        let digest: Option<String> = tokens::Entity::find_by_id(id)
            .select_only()
            .column(tokens::Column::Digest)
            .into_tuple()
            .one(&self.txn)
            .await
            .map_err(db_err)?;
        if let Some(digest) = digest {
            self.touch(RoutingKey::Token(digest));
        }
        tokens::Entity::update_many()
            .col_expr(tokens::Column::RevokedAt, Expr::value(to_millis(now)))
            .filter(tokens::Column::Id.eq(id))
            .filter(tokens::Column::RevokedAt.is_null())
            .exec(&self.txn)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    /// Revokes every token bound to an account; returns how many.
    pub async fn revoke_user_tokens(&self, user_id: i64, now: DateTime<Utc>) -> DomainResult<u64> {
        let result = tokens::Entity::update_many()
            .col_expr(tokens::Column::RevokedAt, Expr::value(to_millis(now)))
            .filter(tokens::Column::UserId.eq(user_id))
            .filter(tokens::Column::RevokedAt.is_null())
            .exec(&self.txn)
            .await
            .map_err(db_err)?;
        self.touch(RoutingKey::AccountTokens(user_id));
        Ok(result.rows_affected)
    }

    pub async fn has_active_operator_token(&self, now: DateTime<Utc>) -> DomainResult<bool> {
        let n = tokens::Entity::find()
            .filter(tokens::Column::Role.eq(Role::Operator.as_str()))
            .filter(tokens::Column::RevokedAt.is_null())
            .filter(
                Condition::any()
                    .add(tokens::Column::ExpiresAt.is_null())
                    .add(tokens::Column::ExpiresAt.gt(to_millis(now))),
            )
            .count(&self.txn)
            .await
            .map_err(db_err)?;
        Ok(n > 0)
    }

    pub async fn list_tokens(
        &self,
        organization_id: Option<i64>,
        include_inactive: bool,
        page: Page,
        now: DateTime<Utc>,
    ) -> DomainResult<Vec<TokenInfo>> {
        let mut query = tokens::Entity::find();
        if let Some(org) = organization_id {
            query = query.filter(tokens::Column::OrganizationId.eq(org));
        }
        if !include_inactive {
            query = query.filter(tokens::Column::RevokedAt.is_null()).filter(
                Condition::any()
                    .add(tokens::Column::ExpiresAt.is_null())
                    .add(tokens::Column::ExpiresAt.gt(to_millis(now))),
            );
        }
        let rows = query
            .keyset(tokens::Column::Id, Order::OldestFirst, page)
            .all(&self.txn)
            .await
            .map_err(db_err)?;
        rows.into_iter().map(token_from).collect()
    }
}

fn token_from(row: tokens::Model) -> DomainResult<TokenInfo> {
    Ok(TokenInfo {
        id: row.id,
        role: Role::parse(&row.role)
            .ok_or_else(|| DomainError::internal(format!("token {}: bad role", row.id)))?,
        organization_id: row.organization_id,
        user_id: row.user_id,
        description: row.description,
        created_at: from_millis(row.created_at),
        expires_at: row.expires_at.map(from_millis),
        revoked_at: row.revoked_at.map(from_millis),
    })
}
