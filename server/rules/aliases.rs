//! Alias rules (docs/rules.md, "Aliases"): a new alias lives where addresses
//! may live, within the account's own plan's limit, and nobody has it yet;
//! only aliases on the organization's own domains can be deleted.

use super::accounts::require_not_deleted;
use super::address::{AddressHome, EmailAddress, check_new_address};
use super::model::{AccountAddress, AddressKind, User};
use super::plans::PlanTerms;
use super::{DomainError, DomainResult, Kind};

/// What the store knows that decides whether an alias may be added.
#[derive(Debug, Clone)]
pub struct NewAliasFacts {
    /// Where the alias would live.
    pub home: AddressHome,
    /// The terms of the account's own plan.
    pub terms: PlanTerms,
    /// How many aliases the account has.
    pub aliases: u32,
    pub address_taken: bool,
}

pub fn check_new_alias(
    user: &User,
    address: &EmailAddress,
    facts: &NewAliasFacts,
) -> DomainResult<()> {
    require_not_deleted(user)?;
    check_new_address(address, AddressKind::Alias, &facts.home, "address")?;
    if facts.aliases >= facts.terms.aliases_per_user {
        return Err(DomainError::precondition(format!(
            "the account has {} of {} aliases its {} plan allows",
            facts.aliases,
            facts.terms.aliases_per_user,
            user.plan.as_str()
        )));
    }
    if facts.address_taken {
        return Err(DomainError::AlreadyExists {
            kind: Kind::Address,
            detail: format!("{address} is taken"),
        });
    }
    Ok(())
}

/// An error about the `index`th alias of a CreateUser, named as the
/// request names it: `aliases[i]`, and `aliases` for the plan's limit.
pub fn at_alias(error: DomainError, index: usize) -> DomainError {
    match error {
        DomainError::Invalid { reason, .. } => DomainError::Invalid {
            field: format!("aliases[{index}]"),
            reason,
        },
        DomainError::FailedPrecondition(reason) => DomainError::Invalid {
            field: "aliases".to_string(),
            reason,
        },
        other => other,
    }
}

/// The primary address stays; an address on a provider domain can never be
/// deleted or given to anyone else (docs/rules.md, "Provider domains").
pub fn check_deletable(address: &AccountAddress, on_provider_domain: bool) -> DomainResult<()> {
    if address.kind == AddressKind::Primary {
        return Err(DomainError::precondition(
            "the primary address cannot be deleted",
        ));
    }
    if on_provider_domain {
        return Err(DomainError::precondition(format!(
            "{} is on a provider domain: such addresses can never be deleted or given to anyone else",
            address.address
        )));
    }
    Ok(())
}
