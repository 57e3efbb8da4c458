//! Organizations and their master accounts (operator calls), and the
//! access rules every organization-scoped call goes through.

use super::Principal;
use super::model::NewAuditEvent;

/// Starts an audit event for `principal` doing `action` on `target`.
pub(crate) fn audit(
    principal: &Principal,
    organization_id: Option<i64>,
    action: &'static str,
    target: String,
) -> NewAuditEvent {
    NewAuditEvent {
        actor: principal.actor(),
        organization_id,
        action,
        target,
        details: String::new(),
    }
}

impl NewAuditEvent {
    pub fn details(mut self, details: impl Into<String>) -> Self {
        self.details = details.into();
        self
    }
}
