//! Account rules (docs/rules.md, "Users"): a new account's fields, logins,
//! which state changes are allowed, and what a profile update touches.

use super::address::{AddressHome, EmailAddress, check_new_address};
use super::model::{AccountEventKind, AccountState, AddressKind, NewAccount, ProfileUpdate, User};

use super::plans::{AccountCounts, Plan, PlanTerms};
use super::validate::{self, Password, Username};
use super::{DomainError, DomainResult, Kind, Role};

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

/// What the store knows that decides whether a new account may be made.
#[derive(Debug, Clone)]
pub struct NewAccountFacts {
    /// Where its primary address would live.
    pub home: AddressHome,
    /// What the organization already has.
    pub counts: AccountCounts,
    pub username_taken: bool,
    pub address_taken: bool,
}

/// May `account` join an organization whose master is on `master_terms`?
/// Its primary address where primaries may live, the plan's account and
/// free-account limits, a username and address nobody has
/// (docs/rules.md, "Users"). Fields are named within `account`.
pub fn check_new_account(
    account: &NewAccount,
    master_terms: &PlanTerms,
    facts: &NewAccountFacts,
) -> DomainResult<()> {
    check_new_address(
        &account.primary_address,
        AddressKind::Primary,
        &facts.home,
        "account.primary_address",
    )?;
    master_terms.check_new_account(facts.counts, account.plan)?;
    check_unique(account, facts.username_taken, facts.address_taken)
}

/// Usernames and addresses are unique across the platform, whatever their
/// case (the unique keys back this up under races).
pub fn check_unique(
    account: &NewAccount,
    username_taken: bool,
    address_taken: bool,
) -> DomainResult<()> {
    if username_taken {
        return Err(DomainError::AlreadyExists {
            kind: Kind::Username,
            detail: format!("{:?} is taken", account.username.as_str()),
        });
    }
    if address_taken {
        return Err(DomainError::AlreadyExists {
            kind: Kind::Address,
            detail: format!("{} is taken", account.primary_address),
        });
    }
    Ok(())
}

/// What an admin asks of an account's state (`EnableUser`, `SuspendUser`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateRequest {
    Enable,
    Disable,
    Suspend,
    Resume,
    Delete,
}

impl StateRequest {
    /// The state the account is in afterwards.
    pub fn target(self) -> AccountState {
        match self {
            StateRequest::Enable | StateRequest::Resume => AccountState::Enabled,
            StateRequest::Disable => AccountState::Disabled,
            StateRequest::Suspend => AccountState::Suspended,
            StateRequest::Delete => AccountState::Deleted,
        }
    }

    /// The account event it makes (docs/rules.md, "Account events").
    pub fn event(self) -> AccountEventKind {
        match self {
            StateRequest::Enable => AccountEventKind::Enabled,
            StateRequest::Disable => AccountEventKind::Disabled,
            StateRequest::Suspend => AccountEventKind::Suspended,
            StateRequest::Resume => AccountEventKind::Resumed,
            StateRequest::Delete => AccountEventKind::Deleted,
        }
    }

    fn action(self) -> &'static str {
        match self {
            StateRequest::Enable => "user.enable",
            StateRequest::Disable => "user.disable",
            StateRequest::Suspend => "user.suspend",
            StateRequest::Resume => "user.resume",
            StateRequest::Delete => "user.delete",
        }
    }
}

/// What moving an account to another state does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StateChange {
    /// The state the account moves to.
    pub to: AccountState,
    /// The audit action.
    pub action: &'static str,
    /// Disabling, suspending and deleting end every session and API token
    /// of the account.
    pub revokes_tokens: bool,
}

/// May a caller of `role` make `request` of `user`? `None` when the account
/// is where the request would take it already (nothing to do, nothing
/// audited). Deleted accounts stay deleted; the master account is deleted
/// only with its organization, and its own admin can neither disable nor
/// suspend it; only a disabled account can be deleted; a suspension is
/// lifted with `ResumeUser` and a disabled account enabled with
/// `EnableUser` (docs/rules.md, "Account states").
pub fn state_change(
    role: Role,
    user: &User,
    request: StateRequest,
) -> DomainResult<Option<StateChange>> {
    use AccountState::*;
    require_not_deleted(user)?;
    if user.is_master {
        match request {
            StateRequest::Delete => {
                return Err(DomainError::precondition(
                    "the master account is deleted only with its organization",
                ));
            }
            StateRequest::Disable | StateRequest::Suspend if role == Role::OrgAdmin => {
                return Err(DomainError::precondition(format!(
                    "an organization's admin cannot {} its own master account",
                    if request == StateRequest::Disable {
                        "disable"
                    } else {
                        "suspend"
                    }
                )));
            }
            _ => {}
        }
    }
    let to = request.target();
    if user.state == to {
        return Ok(None);
    }
    let refused = |reason: &str| Err(DomainError::precondition(reason.to_string()));
    match (request, user.state) {
        (StateRequest::Delete, Enabled | Suspended) => {
            return refused("only a disabled account can be deleted: disable it first");
        }
        (StateRequest::Enable, Suspended) => {
            return refused("the account is suspended: ResumeUser lifts a suspension");
        }
        (StateRequest::Resume, Disabled) => {
            return refused("the account is disabled, not suspended: EnableUser enables it");
        }
        (StateRequest::Suspend, Disabled) => {
            return refused("a disabled account cannot be suspended: enable it first");
        }
        _ => {}
    }
    Ok(Some(StateChange {
        to,
        action: request.action(),
        revokes_tokens: matches!(to, Disabled | Suspended | Deleted),
    }))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::model::Profile;

    fn user(state: AccountState, is_master: bool) -> User {
        User {
            id: 7,
            organization_id: 1,
            username: "bob".into(),
            first_name: "Bob".into(),
            last_name: "Builder".into(),
            primary_address: "bob@mailadmin.example".into(),
            plan: Plan::Entry,
            state,
            is_master,
            profile: Profile::default(),
            created_at: chrono::DateTime::UNIX_EPOCH,
            updated_at: chrono::DateTime::UNIX_EPOCH,
            paid_until: None,
            unpaid: false,
        }
    }

    fn refused(result: DomainResult<Option<StateChange>>) -> String {
        match result {
            Err(DomainError::FailedPrecondition(reason)) => reason,
            other => panic!("expected FAILED_PRECONDITION, got {other:?}"),
        }
    }

    #[test]
    fn state_changes() {
        use AccountState::*;
        use StateRequest::*;
        let change = |from, request| state_change(Role::OrgAdmin, &user(from, false), request);
        assert_eq!(
            change(Enabled, Disable).unwrap(),
            Some(StateChange {
                to: Disabled,
                action: "user.disable",
                revokes_tokens: true
            })
        );
        assert_eq!(
            change(Enabled, Suspend).unwrap(),
            Some(StateChange {
                to: Suspended,
                action: "user.suspend",
                revokes_tokens: true
            })
        );
        assert_eq!(
            change(Suspended, Resume)
                .unwrap()
                .map(|c| (c.to, c.revokes_tokens)),
            Some((Enabled, false))
        );
        assert_eq!(
            change(Suspended, Disable).unwrap().map(|c| c.to),
            Some(Disabled),
            "a suspended account can be disabled"
        );
        assert_eq!(
            change(Disabled, StateRequest::Enable)
                .unwrap()
                .map(|c| c.revokes_tokens),
            Some(false)
        );
        for (from, request) in [
            (Enabled, StateRequest::Enable),
            (Enabled, Resume),
            (Suspended, Suspend),
        ] {
            assert_eq!(
                change(from, request).unwrap(),
                None,
                "already there: nothing to do"
            );
        }
        assert!(refused(change(Enabled, Delete)).contains("disable it first"));
        assert!(refused(change(Suspended, Delete)).contains("disable it first"));
        assert!(refused(change(Suspended, StateRequest::Enable)).contains("ResumeUser"));
        assert!(refused(change(Disabled, Resume)).contains("EnableUser"));
        assert!(refused(change(Disabled, Suspend)).contains("enable it first"));
        assert!(
            refused(state_change(
                Role::Operator,
                &user(Deleted, false),
                StateRequest::Enable
            ))
            .contains("is deleted")
        );
    }

    #[test]
    fn the_master_account() {
        use AccountState::*;
        assert!(
            refused(state_change(
                Role::OrgAdmin,
                &user(Enabled, true),
                StateRequest::Disable
            ))
            .contains("cannot disable its own master")
        );
        assert!(
            refused(state_change(
                Role::OrgAdmin,
                &user(Enabled, true),
                StateRequest::Suspend
            ))
            .contains("cannot suspend its own master")
        );
        for request in [StateRequest::Disable, StateRequest::Suspend] {
            assert!(
                state_change(Role::Operator, &user(Enabled, true), request)
                    .unwrap()
                    .is_some()
            );
        }
        assert!(
            refused(state_change(
                Role::Operator,
                &user(Disabled, true),
                StateRequest::Delete
            ))
            .contains("with its organization")
        );
    }
}
