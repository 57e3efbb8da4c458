//! DKIM keys: each domain's keys with their states, and their sealed
//! private halves (opened only by `service/`, with the keyring).

use super::entities::{dkim_keys, domains};
use super::{Tx, db_err, unique_or};
use crate::clock::{from_millis, to_millis};
use crate::keyring::Sealed;
use crate::rules::dkim::{DkimAlgorithm, DkimKey, DkimKeyState};
use crate::rules::model::DomainState;
use crate::rules::{DomainError, DomainResult, Kind};
use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    Set,
};

/// A key about to be stored (PENDING).
pub struct NewDkimKey<'a> {
    pub domain_id: i64,
    pub selector: &'a str,
    pub algorithm: DkimAlgorithm,
    pub public_key: &'a str,
    pub private_key: &'a Sealed,
}

/// A stored private key and what it is bound to.
pub struct StoredPrivateKey {
    pub key_row: i64,
    pub domain_id: i64,
    pub domain: String,
    pub selector: String,
    pub algorithm: DkimAlgorithm,
    /// `None`: stored in plain text by the migration, not sealed yet.
    pub sealed: Option<Sealed>,
    /// The stored text: the ciphertext, or the plain PEM when not sealed.
    pub stored: String,
}

impl Tx {
    pub async fn insert_dkim_key(
        &self,
        key: NewDkimKey<'_>,
        now: DateTime<Utc>,
    ) -> DomainResult<DkimKey> {
        let row = dkim_keys::ActiveModel {
            domain_id: Set(key.domain_id),
            selector: Set(key.selector.to_string()),
            algorithm: Set(key.algorithm.as_str().to_string()),
            state: Set(DkimKeyState::Pending.as_str().to_string()),
            public_key: Set(key.public_key.to_string()),
            private_key: Set(key.private_key.ciphertext.clone()),
            key_id: Set(Some(key.private_key.key_id.clone())),
            created_at: Set(to_millis(now)),
            activated_at: Set(None),
            retired_at: Set(None),
            ..Default::default()
        }
        .insert(&self.txn)
        .await
        .map_err(|e| {
            unique_or(
                e,
                Kind::DkimKey,
                format!("the domain already has a key {}", key.selector),
            )
        })?;
        dkim_key_from(row)
    }

    /// The domain's keys, oldest first.
    pub async fn dkim_keys(&self, domain_id: i64) -> DomainResult<Vec<DkimKey>> {
        dkim_keys::Entity::find()
            .filter(dkim_keys::Column::DomainId.eq(domain_id))
            .order_by_asc(dkim_keys::Column::CreatedAt)
            .order_by_asc(dkim_keys::Column::Id)
            .all(&self.txn)
            .await
            .map_err(db_err)?
            .into_iter()
            .map(dkim_key_from)
            .collect()
    }

    pub async fn set_dkim_key_state(
        &self,
        id: i64,
        state: DkimKeyState,
        now: DateTime<Utc>,
    ) -> DomainResult<()> {
        let mut update = dkim_keys::Entity::update_many()
            .col_expr(dkim_keys::Column::State, Expr::value(state.as_str()))
            .filter(dkim_keys::Column::Id.eq(id));
        update = match state {
            DkimKeyState::Active => {
                update.col_expr(dkim_keys::Column::ActivatedAt, Expr::value(to_millis(now)))
            }
            DkimKeyState::Retired => {
                update.col_expr(dkim_keys::Column::RetiredAt, Expr::value(to_millis(now)))
            }
            DkimKeyState::Pending | DkimKeyState::Retiring => update,
        };
        update.exec(&self.txn).await.map_err(db_err)?;
        Ok(())
    }

    pub async fn delete_dkim_keys(&self, domain_id: i64) -> DomainResult<()> {
        dkim_keys::Entity::delete_many()
            .filter(dkim_keys::Column::DomainId.eq(domain_id))
            .exec(&self.txn)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    /// The server key ids the stored private keys are sealed under.
    pub async fn dkim_sealing_key_ids(&self) -> DomainResult<Vec<String>> {
        dkim_keys::Entity::find()
            .select_only()
            .column(dkim_keys::Column::KeyId)
            .filter(dkim_keys::Column::KeyId.is_not_null())
            .distinct()
            .into_tuple::<String>()
            .all(&self.txn)
            .await
            .map_err(db_err)
    }

    /// Private keys not sealed under `key_id` (plain ones included).
    pub async fn private_keys_not_under(
        &self,
        key_id: &str,
    ) -> DomainResult<Vec<StoredPrivateKey>> {
        let rows = dkim_keys::Entity::find()
            .filter(
                Condition::any()
                    .add(dkim_keys::Column::KeyId.ne(key_id))
                    .add(dkim_keys::Column::KeyId.is_null()),
            )
            .order_by_asc(dkim_keys::Column::Id)
            .all(&self.txn)
            .await
            .map_err(db_err)?;
        self.private_keys_of(rows).await
    }

    /// The ACTIVE private key of each ACTIVE domain (`names`: only those),
    /// by domain name.
    pub async fn signing_keys(
        &self,
        names: Option<&[String]>,
    ) -> DomainResult<Vec<StoredPrivateKey>> {
        let mut domains = domains::Entity::find()
            .select_only()
            .column(domains::Column::Id)
            .filter(domains::Column::State.eq(DomainState::Active.as_str()));
        if let Some(names) = names {
            domains = domains.filter(domains::Column::Name.is_in(names.iter().cloned()));
        }
        let ids: Vec<i64> = domains.into_tuple().all(&self.txn).await.map_err(db_err)?;
        let rows = dkim_keys::Entity::find()
            .filter(dkim_keys::Column::DomainId.is_in(ids))
            .filter(dkim_keys::Column::State.eq(DkimKeyState::Active.as_str()))
            .all(&self.txn)
            .await
            .map_err(db_err)?;
        let mut keys = self.private_keys_of(rows).await?;
        keys.sort_by(|a, b| a.domain.cmp(&b.domain));
        Ok(keys)
    }

    /// Replaces a stored private key with `sealed`.
    pub async fn reseal_private_key(&self, key_row: i64, sealed: &Sealed) -> DomainResult<()> {
        dkim_keys::Entity::update_many()
            .col_expr(
                dkim_keys::Column::PrivateKey,
                Expr::value(sealed.ciphertext.clone()),
            )
            .col_expr(dkim_keys::Column::KeyId, Expr::value(sealed.key_id.clone()))
            .filter(dkim_keys::Column::Id.eq(key_row))
            .exec(&self.txn)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    /// Domains (not PENDING) with a PENDING key: what the scheduled DNS
    /// check looks at.
    pub async fn domains_with_pending_keys(&self) -> DomainResult<Vec<i64>> {
        let with_pending: Vec<i64> = dkim_keys::Entity::find()
            .select_only()
            .column(dkim_keys::Column::DomainId)
            .filter(dkim_keys::Column::State.eq(DkimKeyState::Pending.as_str()))
            .distinct()
            .into_tuple()
            .all(&self.txn)
            .await
            .map_err(db_err)?;
        domains::Entity::find()
            .select_only()
            .column(domains::Column::Id)
            .filter(domains::Column::Id.is_in(with_pending))
            .filter(domains::Column::State.ne(DomainState::Pending.as_str()))
            .order_by_asc(domains::Column::Id)
            .into_tuple()
            .all(&self.txn)
            .await
            .map_err(db_err)
    }

    async fn private_keys_of(
        &self,
        rows: Vec<dkim_keys::Model>,
    ) -> DomainResult<Vec<StoredPrivateKey>> {
        let ids: Vec<i64> = rows.iter().map(|r| r.domain_id).collect();
        let names: Vec<(i64, String)> = domains::Entity::find()
            .select_only()
            .column(domains::Column::Id)
            .column(domains::Column::Name)
            .filter(domains::Column::Id.is_in(ids))
            .into_tuple()
            .all(&self.txn)
            .await
            .map_err(db_err)?;
        rows.into_iter()
            .map(|row| {
                let domain = names
                    .iter()
                    .find(|(id, _)| *id == row.domain_id)
                    .map(|(_, name)| name.clone())
                    .ok_or_else(|| {
                        DomainError::internal(format!("dkim key {}: no domain", row.id))
                    })?;
                Ok(StoredPrivateKey {
                    key_row: row.id,
                    domain_id: row.domain_id,
                    domain,
                    algorithm: algorithm(&row)?,
                    sealed: row.key_id.map(|key_id| Sealed {
                        key_id,
                        ciphertext: row.private_key.clone(),
                    }),
                    selector: row.selector,
                    stored: row.private_key,
                })
            })
            .collect()
    }
}

fn algorithm(row: &dkim_keys::Model) -> DomainResult<DkimAlgorithm> {
    DkimAlgorithm::parse_stored(&row.algorithm)
        .ok_or_else(|| DomainError::internal(format!("dkim key {}: bad algorithm", row.id)))
}

fn dkim_key_from(row: dkim_keys::Model) -> DomainResult<DkimKey> {
    Ok(DkimKey {
        id: row.id,
        domain_id: row.domain_id,
        algorithm: algorithm(&row)?,
        state: DkimKeyState::parse_stored(&row.state)
            .ok_or_else(|| DomainError::internal(format!("dkim key {}: bad state", row.id)))?,
        selector: row.selector,
        public_key: row.public_key,
        created_at: from_millis(row.created_at),
        activated_at: row.activated_at.map(from_millis),
        retired_at: row.retired_at.map(from_millis),
    })
}
