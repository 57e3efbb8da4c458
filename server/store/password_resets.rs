//! Password-reset tokens: stored as digests, used once, expiring.

use super::entities::password_resets;
use super::{Tx, db_err};
use crate::clock::to_millis;
use crate::rules::DomainResult;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set};

impl Tx {
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
}
