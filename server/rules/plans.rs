//! Plans and the limits they set (docs/rules.md, "Plan catalog" and
//! "Limits"). The set of plans is fixed; prices and limits are a catalog
//! stored in the database, seeded with the defaults that section lists.

use super::error::{DomainError, DomainResult};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Plan {
    Free,
    Entry,
    Pro,
}

impl Plan {
    pub const ALL: [Plan; 3] = [Plan::Free, Plan::Entry, Plan::Pro];

    pub fn as_str(self) -> &'static str {
        match self {
            Plan::Free => "free",
            Plan::Entry => "entry",
            Plan::Pro => "pro",
        }
    }

    pub fn parse_stored(stored: &str) -> DomainResult<Plan> {
        Plan::ALL
            .into_iter()
            .find(|p| p.as_str() == stored)
            .ok_or_else(|| DomainError::internal(format!("unknown stored plan {stored:?}")))
    }

    pub fn is_paid(self) -> bool {
        self != Plan::Free
    }
}

/// One row of the catalog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanTerms {
    pub plan: Plan,
    /// Price per 30-day period, in cents.
    pub price_cents: i64,
    pub aliases_per_user: u32,
    /// Set by the master's plan: accounts besides the master.
    pub max_accounts: u32,
    pub max_free_accounts: u32,
    pub max_domains: u32,
    /// Whether an org admin on this plan may use the management RPCs.
    pub console: bool,
}

/// What an organization already has, against its master plan's limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccountCounts {
    /// Accounts other than the master, deleted ones excluded.
    pub accounts: u32,
    /// Of those, on the Free plan.
    pub free_accounts: u32,
}

impl PlanTerms {
    /// May the organization add one more account on `plan`? Limits stop new
    /// additions only; existing accounts over a lowered limit stay.
    pub fn check_new_account(&self, counts: AccountCounts, plan: Plan) -> DomainResult<()> {
        if counts.accounts >= self.max_accounts {
            return Err(DomainError::precondition(format!(
                "the organization has {} of {} accounts its {} plan allows",
                counts.accounts,
                self.max_accounts,
                self.plan.as_str()
            )));
        }
        if plan == Plan::Free && counts.free_accounts >= self.max_free_accounts {
            return Err(DomainError::precondition(format!(
                "the organization has {} of {} free accounts its {} plan allows",
                counts.free_accounts,
                self.max_free_accounts,
                self.plan.as_str()
            )));
        }
        Ok(())
    }

    /// The console (management RPCs) is open to org admins on paid plans.
    pub fn require_console(&self) -> DomainResult<()> {
        if self.console {
            Ok(())
        } else {
            Err(DomainError::precondition(format!(
                "the master account is on the {} plan, which has no admin console; \
                 upgrade it to Entry or Pro",
                self.plan.as_str()
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry() -> PlanTerms {
        PlanTerms {
            plan: Plan::Entry,
            price_cents: 250,
            aliases_per_user: 10,
            max_accounts: 10,
            max_free_accounts: 2,
            max_domains: 1,
            console: true,
        }
    }

    #[test]
    fn account_limits() {
        let terms = entry();
        let counts = |accounts, free_accounts| AccountCounts {
            accounts,
            free_accounts,
        };
        assert!(terms.check_new_account(counts(9, 0), Plan::Entry).is_ok());
        assert!(terms.check_new_account(counts(10, 0), Plan::Entry).is_err());
        assert!(terms.check_new_account(counts(3, 1), Plan::Free).is_ok());
        assert!(terms.check_new_account(counts(3, 2), Plan::Free).is_err());
        assert!(terms.check_new_account(counts(3, 2), Plan::Pro).is_ok());
    }
}
