//! Account rules (docs/rules.md#users): a new account's fields, logins,
//! which state changes are allowed, and what a profile update touches.

use super::address::EmailAddress;
use super::model::{AccountState, NewAccount, ProfileUpdate, User};

use super::plans::Plan;
use super::validate::{self, Password, Username};
use super::{DomainError, DomainResult};

/// The raw fields of a new account, as they come off the wire.
pub struct AccountInput {
    pub last_name: String,
    pub first_name: String,
    pub username: String,
    pub primary_address: String,
    pub password: String,
    pub plan: Option<Plan>,
}

impl NewAccount {
    /// Validates every field; the first bad one is reported by name.
    pub fn parse(input: AccountInput) -> DomainResult<NewAccount> {
        let last_name = validate::person_name("last_name", &input.last_name)?;
        let first_name = validate::person_name("first_name", &input.first_name)?;
        let username = Username::parse("username", &input.username)?;
        let primary_address = EmailAddress::parse_new("primary_address", &input.primary_address)?;
        let password = Password::new(
            "password",
            &input.password,
            username.as_str(),
            Some(&primary_address),
        )?;
        Ok(NewAccount {
            first_name,
            last_name,
            username,
            primary_address,
            password,
            plan: input.plan.unwrap_or(Plan::Free),
        })
    }
}

pub fn require_not_deleted(user: &User) -> DomainResult<()> {
    if user.state == AccountState::Deleted {
        Err(DomainError::precondition(format!(
            "account {} is deleted",
            user.id
        )))
    } else {
        Ok(())
    }
}

/// A login is a username or a primary address; both are stored normalized.
pub(crate) fn normalize_login(login: &str) -> DomainResult<String> {
    let login = login.trim();
    if login.is_empty() {
        return Err(DomainError::invalid("login", "is empty"));
    }
    if login.contains('@') {
        // An unparseable address cannot match any account: look it up as
        // typed (lower-cased) so the answer stays "invalid login".
        Ok(EmailAddress::parse("login", login)
            .map(|a| a.to_string())
            .unwrap_or_else(|_| login.to_lowercase()))
    } else {
        Ok(login.to_ascii_lowercase())
    }
}

impl ProfileUpdate {
    /// Names of the fields this update touches, for the audit log.
    pub fn changed_fields(&self) -> Vec<&'static str> {
        let mut fields = Vec::new();
        let mut note = |set: bool, name| {
            if set {
                fields.push(name);
            }
        };
        note(self.first_name.is_some(), "first_name");
        note(self.last_name.is_some(), "last_name");
        note(self.external_email.is_some(), "external_email");
        note(self.mobile_phone.is_some(), "mobile_phone");
        note(self.postal_address.is_some(), "postal_address");
        note(self.birth_date.is_some(), "birth_date");
        note(self.photo.is_some(), "photo");
        fields
    }
}
