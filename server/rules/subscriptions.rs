//! Subscription changes (effective at once, prorated) and the billing side
//! of an account's life: the first period charged at creation, the unused
//! value refunded at deletion.

use super::billing::Quote;
use super::model::{AccountState, User};
use super::money::Money;
use super::plans::Plan;
use super::{DomainError, DomainResult};

/// The outcome of ChangeSubscription (or of its preview).
pub struct SubscriptionChange {
    pub user: User,
    pub refund: Money,
    pub charge: Money,
    pub balance: Money,
}

impl SubscriptionChange {
    pub fn net(&self) -> Money {
        Quote {
            refund: self.refund,
            charge: self.charge,
        }
        .net()
    }
}

pub fn require_changeable(user: &User, plan: Plan) -> DomainResult<()> {
    if user.is_master {
        return Err(DomainError::precondition(
            "the master account's plan is the customer's own subscription: an operator sets it with SetMasterPlan",
        ));
    }
    if user.state == AccountState::Deleted {
        return Err(DomainError::precondition(format!(
            "account {} is deleted",
            user.id
        )));
    }
    if user.plan == plan {
        return Err(DomainError::precondition(format!(
            "the account is already on the {} plan",
            plan.as_str()
        )));
    }
    Ok(())
}
