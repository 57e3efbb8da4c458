//! Passwords: set by the admin, changed by the user, reset through a
//! single-use token sent to the external address (docs/rules.md, "Passwords").
//! Every change revokes the account's tokens and is audited.

use super::{Access, App};
use crate::rules::accounts::{normalize_login, require_not_deleted};
use crate::rules::audit::audit;
use crate::rules::model::{AccountState, NewAuditEvent, OutboxMessage, User};
use crate::rules::paging::{Page, Paged};
use crate::rules::passwords::{
    RESET_TOKEN_TTL, new_password_for, require_not_own_account, reset_message,
};
use crate::rules::validate::Password;
use crate::rules::{DomainError, DomainResult, Kind, Principal};
use crate::secrets;
use crate::store::Tx;
use chrono::{DateTime, Utc};

impl App {
    /// Admin: set another account's password.
    pub async fn set_password(
        &self,
        principal: &Principal,
        user_id: i64,
        password: String,
    ) -> DomainResult<()> {
        Password::check_length("password", &password)?;
        require_not_own_account(principal, user_id)?;
        let user = {
            let tx = self.store().read().await?;
            self.authorize_user(&tx, principal, user_id, Access::Manage)
                .await?
        };
        require_not_deleted(&user)?;
        let password = new_password_for("password", &password, &user)?;
        self.write_new_password(principal, &user, password, "user.set_password")
            .await
    }

    /// The user changes its own password; the old one is checked on the
    /// sign-in throttle, so a stolen session cannot guess it.
    pub async fn change_own_password(
        &self,
        principal: &Principal,
        old_password: String,
        new_password: String,
    ) -> DomainResult<()> {
        let user_id = principal.own_account()?;
        if old_password.is_empty() {
            return Err(DomainError::invalid("old_password", "is empty"));
        }
        Password::check_length("new_password", &new_password)?;
        let (user, stored) = {
            let tx = self.store().read().await?;
            let user = tx
                .find_user(user_id)
                .await?
                .ok_or(DomainError::NotFound(Kind::User))?;
            (user, tx.password_hash(user_id).await?)
        };
        let password = new_password_for("new_password", &new_password, &user)?;
        if !self
            .check_current_password(user_id, stored, old_password)
            .await?
        {
            return Err(DomainError::invalid(
                "old_password",
                "is not the current password",
            ));
        }
        self.write_new_password(principal, &user, password, "user.change_own_password")
            .await
    }

    /// Hashes an accepted new password and writes it in a transaction of
    /// its own, audited as `action` by `principal`.
    async fn write_new_password(
        &self,
        principal: &Principal,
        user: &User,
        password: Password,
        action: &'static str,
    ) -> DomainResult<()> {
        let hash = secrets::hash_password(password.expose().to_string()).await?;
        let now = self.now();
        let tx = self.store().write().await?;
        let event = audit(
            principal,
            Some(user.organization_id),
            action,
            format!("user:{}", user.id),
        );
        replace_password(&tx, user, hash, event, now).await?;
        tx.commit().await
    }

    /// Sends a reset token to the account's external address, if it has one
    /// and is enabled. Answers the same in every case.
    pub async fn request_password_reset(&self, login: String) -> DomainResult<()> {
        let login = normalize_login(&login)?;
        let row = self.store().read().await?.find_login(&login).await?;
        let Some(row) = row else {
            tracing::debug!("password reset for an unknown login");
            return Ok(());
        };
        let user = row.user;
        let Some(recipient) = user.profile.external_email.clone() else {
            tracing::info!(
                user_id = user.id,
                "password reset requested, but no external address"
            );
            return Ok(());
        };
        if user.state != AccountState::Enabled {
            return Ok(());
        }
        let secret = secrets::new_secret("mar_");
        let message = reset_message(&user, &secret);
        let now = self.now();
        let tx = self.store().write().await?;
        tx.insert_password_reset(
            secrets::digest(&secret),
            user.id,
            now,
            now + RESET_TOKEN_TTL,
        )
        .await?;
        tx.insert_outbox(&recipient, message.subject, &message.body, now)
            .await?;
        tx.record(
            NewAuditEvent {
                actor: format!("user {} (self-service)", user.id),
                organization_id: Some(user.organization_id),
                action: "user.request_password_reset",
                target: format!("user:{}", user.id),
                details: String::new(),
            },
            now,
        )
        .await?;
        tx.commit().await
    }

    /// Sets a new password with a reset token; the token works once.
    pub async fn reset_password(
        &self,
        reset_token: String,
        new_password: String,
    ) -> DomainResult<()> {
        if reset_token.trim().is_empty() {
            return Err(DomainError::invalid("reset_token", "is empty"));
        }
        Password::check_length("new_password", &new_password)?;
        let now = self.now();
        let tx = self.store().write().await?;
        let Some(user_id) = tx
            .consume_password_reset(&secrets::digest(reset_token.trim()), now)
            .await?
        else {
            return Err(DomainError::invalid(
                "reset_token",
                "is invalid, expired or already used",
            ));
        };
        let user = tx
            .find_user(user_id)
            .await?
            .ok_or(DomainError::NotFound(Kind::User))?;
        require_not_deleted(&user)?;
        // An invalid new password rolls the transaction back: the token stays usable.
        let password = new_password_for("new_password", &new_password, &user)?;
        let hash = secrets::hash_password(password.expose().to_string()).await?;
        let event = NewAuditEvent {
            actor: format!("user {user_id} (reset token)"),
            organization_id: Some(user.organization_id),
            action: "user.reset_password",
            target: format!("user:{user_id}"),
            details: String::new(),
        };
        replace_password(&tx, &user, hash, event, now).await?;
        tx.commit().await
    }

    /// The messages the server would send (reset tokens), newest first.
    pub async fn list_outbox(
        &self,
        _principal: &Principal,
        page: Page,
    ) -> DomainResult<Paged<OutboxMessage>> {
        let tx = self.store().read().await?;
        let items = tx.list_outbox(page).await?;
        Ok(Paged::new(page, items, |m| m.id))
    }
}

/// The end of every password change: the new hash, every token of the
/// account revoked (sessions and API tokens alike), and `event` audited
/// with how many were revoked.
async fn replace_password(
    tx: &Tx,
    user: &User,
    hash: String,
    event: NewAuditEvent,
    now: DateTime<Utc>,
) -> DomainResult<()> {
    tx.set_password_hash(user.id, hash, now).await?;
    let revoked = tx.revoke_user_tokens(user.id, now).await?;
    tx.record(event.details(format!("revoked {revoked} tokens")), now)
        .await
}
