//! Audit events: who did what to which object (docs/rules.md, "Audit
//! log"). The service layer writes one with every change it commits.

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
    /// The event with `details` (what changed, beyond the action itself).
    pub fn details(mut self, details: impl Into<String>) -> Self {
        self.details = details.into();
        self
    }
}
