//! Password rules (docs/rules.md, "Passwords"): who may set which password,
//! what a new password must not be, and the reset message.

use super::address::EmailAddress;
use super::model::User;
use super::principal::Principal;
use super::validate::Password;
use super::{DomainError, DomainResult};
use chrono::Duration;

/// How long a password-reset token is valid.
pub const RESET_TOKEN_TTL: Duration = Duration::hours(1);

/// The admin sets other accounts' passwords; its own it changes with
/// ChangeOwnPassword (old password required), so a stolen session cannot
/// take the account over.
pub fn require_not_own_account(principal: &Principal, user_id: i64) -> DomainResult<()> {
    if principal.user_id == Some(user_id) {
        return Err(DomainError::precondition(
            "this is your own account: use ChangeOwnPassword",
        ));
    }
    Ok(())
}

/// `input` as the new password of `user`: the length and the "not the
/// username or the address" rules, reported against `field`.
pub fn new_password_for(field: &str, input: &str, user: &User) -> DomainResult<Password> {
    let address = EmailAddress::parse("primary_address", &user.primary_address)
        .map_err(|e| DomainError::internal(format!("user {}: stored address: {e}", user.id)))?;
    Password::new(field, input, &user.username, Some(&address))
}

/// The message that carries a reset token to the account's external address.
pub struct ResetMessage {
    pub subject: &'static str,
    pub body: String,
}

pub fn reset_message(user: &User, secret: &str) -> ResetMessage {
    ResetMessage {
        subject: "Reset your mailadmin password",
        body: format!(
            "Hello {},\n\nsomeone asked to reset the password of {}.\n\
             If it was you, use this reset token within one hour:\n\n    {secret}\n\n\
             If it was not you, ignore this message; your password is unchanged.\n",
            user.first_name, user.primary_address
        ),
    }
}
