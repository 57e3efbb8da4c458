//! Bearer tokens: who a request speaks for. Operators make API tokens;
//! Login makes expiring session tokens; the first start makes an operator
//! token so the platform can be bootstrapped.

use super::App;
use crate::rules::audit::audit;
use crate::rules::model::{AccountState, NewToken, Session, TokenInfo};
use crate::rules::paging::Page;
use crate::rules::paging::Paged;
use crate::rules::{DomainError, DomainResult, Kind, Principal, Role};
use crate::secrets;
use crate::store::TokenRow;

impl App {
    /// The principal behind a bearer secret, if it is active.
    pub async fn authenticate_token(&self, secret: &str) -> DomainResult<Principal> {
        // From the routing snapshot: checking a token never reads the database.
        self.snapshot()
            .read()
            .principal(
                &secrets::digest(secret),
                crate::clock::to_millis(self.now()),
            )
            .ok_or_else(|| DomainError::Unauthenticated("invalid or expired token".into()))
    }

    /// Makes an operator token when none is active (the first start on an
    /// empty database), and returns its secret.
    pub async fn bootstrap_operator_token(&self) -> DomainResult<Option<String>> {
        let now = self.now();
        let tx = self.store().write().await?;
        if tx.has_active_operator_token(now).await? {
            return Ok(None);
        }
        let secret = secrets::new_secret("mat_");
        let token = tx
            .insert_token(
                TokenRow {
                    digest: secrets::digest(&secret),
                    role: Role::Operator,
                    organization_id: None,
                    user_id: None,
                    description: "bootstrap operator token (first start)",
                    expires_at: None,
                },
                now,
            )
            .await?;
        tx.record(
            crate::rules::model::NewAuditEvent {
                actor: "system".into(),
                organization_id: None,
                action: "token.bootstrap",
                target: format!("token:{}", token.id),
                details: String::new(),
            },
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(Some(secret))
    }

    pub async fn create_token(
        &self,
        principal: &Principal,
        new: NewToken,
    ) -> DomainResult<(TokenInfo, String)> {
        let now = self.now();
        let tx = self.store().write().await?;
        let mut user_id = new.user_id;
        if let Some(organization_id) = new.organization_id {
            let organization = tx
                .find_organization(organization_id)
                .await?
                .ok_or(DomainError::NotFound(Kind::Organization))?;
            match new.role {
                Role::OrgAdmin => {
                    if user_id.is_some_and(|u| u != organization.master_user_id) {
                        return Err(DomainError::invalid(
                            "user_id",
                            "an org_admin token speaks for the organization's master account; leave it 0",
                        ));
                    }
                    user_id = Some(organization.master_user_id);
                }
                _ => {
                    let id =
                        user_id.ok_or_else(|| DomainError::invalid("user_id", "is required"))?;
                    let user = tx
                        .find_user(id)
                        .await?
                        .ok_or(DomainError::NotFound(Kind::User))?;
                    if user.organization_id != organization_id {
                        return Err(DomainError::NotFound(Kind::User));
                    }
                }
            }
            // Locked: a disable committed meanwhile revoked the account's
            // tokens, so this one must wait for it and see it.
            let account = tx.lock_login(user_id.unwrap_or_default()).await?;
            if account.is_none_or(|a| a.user.state != AccountState::Enabled) {
                return Err(DomainError::precondition("the account is not enabled"));
            }
        }
        let secret = secrets::new_secret("mat_");
        let token = tx
            .insert_token(
                TokenRow {
                    digest: secrets::digest(&secret),
                    role: new.role,
                    organization_id: new.organization_id,
                    user_id,
                    description: &new.description,
                    expires_at: new.ttl.map(|ttl| now + ttl),
                },
                now,
            )
            .await?;
        tx.record(
            audit(
                principal,
                new.organization_id,
                "token.create",
                format!("token:{}", token.id),
            )
            .details(format!(
                "role={} description={:?}",
                new.role.as_str(),
                new.description
            )),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok((token, secret))
    }

    pub async fn revoke_token(
        &self,
        principal: &Principal,
        token_id: i64,
    ) -> DomainResult<TokenInfo> {
        if token_id <= 0 {
            return Err(DomainError::invalid("token_id", "must be positive"));
        }
        let now = self.now();
        let tx = self.store().write().await?;
        let token = tx
            .find_token(token_id)
            .await?
            .ok_or(DomainError::NotFound(Kind::Token))?;
        tx.revoke_token(token_id, now).await?;
        tx.record(
            audit(
                principal,
                token.organization_id,
                "token.revoke",
                format!("token:{token_id}"),
            ),
            now,
        )
        .await?;
        let token = tx
            .find_token(token_id)
            .await?
            .ok_or(DomainError::NotFound(Kind::Token))?;
        tx.commit().await?;
        Ok(token)
    }

    pub async fn list_tokens(
        &self,
        _principal: &Principal,
        organization_id: i64,
        include_inactive: bool,
        page: Page,
    ) -> DomainResult<Paged<TokenInfo>> {
        if organization_id < 0 {
            return Err(DomainError::invalid(
                "organization_id",
                "must not be negative",
            ));
        }
        let tx = self.store().read().await?;
        let scope = (organization_id > 0).then_some(organization_id);
        let items = tx
            .list_tokens(scope, include_inactive, page, self.now())
            .await?;
        Ok(Paged::new(page, items, |t| t.id))
    }

    /// Exchanges a login and password for a session token. Unknown logins,
    /// wrong passwords and disabled accounts get the same answer after the
    /// same work (a dummy hash is verified for unknown logins); a login that
    /// failed too often is throttled (`signin`).
    pub async fn login(&self, login: String, password: String) -> DomainResult<Session> {
        let refused = || DomainError::Unauthenticated("invalid login or password".into());
        let Some(checked) = self.check_password(&login, password, None).await? else {
            return Err(refused());
        };
        let user = &checked.user;
        let role = if user.is_master {
            Role::OrgAdmin
        } else {
            Role::User
        };
        let now = self.now();
        let expires_at = now
            + chrono::Duration::from_std(self.settings().session_ttl)
                .map_err(DomainError::internal)?;
        let secret = secrets::new_secret("mat_");
        let tx = self.store().write().await?;
        // The password was checked outside this transaction (Argon2 takes
        // a while): a password change, disable or delete committed since
        // revoked every token, so this one must not be issued after it.
        let unchanged = tx.lock_login(user.id).await?.is_some_and(|current| {
            current.password_hash == checked.password_hash
                && current.user.state == AccountState::Enabled
        });
        if !unchanged {
            return Err(refused());
        }
        let token = tx
            .insert_token(
                TokenRow {
                    digest: secrets::digest(&secret),
                    role,
                    organization_id: Some(user.organization_id),
                    user_id: Some(user.id),
                    description: "session (Login)",
                    expires_at: Some(expires_at),
                },
                now,
            )
            .await?;
        tx.record(
            crate::rules::model::NewAuditEvent {
                actor: format!("{} user {}", role.as_str(), user.id),
                organization_id: Some(user.organization_id),
                action: "session.login",
                target: format!("token:{}", token.id),
                details: String::new(),
            },
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(Session {
            token: secret,
            role,
            expires_at,
            user_id: user.id,
            organization_id: user.organization_id,
        })
    }
}
