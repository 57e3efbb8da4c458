//! The audit log: mutations are recorded, newest first; an org admin sees
//! its own organization's events only.

use crate::harness::*;
use mailadmin_client::pb;
use tonic::Code;

/// Every audit event of the organization, newest first.
pub(crate) async fn events(client: &Client, organization_id: i64) -> Vec<pb::AuditEvent> {
    let mut client = client.clone();
    let mut found = Vec::new();
    let mut page_token = String::new();
    for _ in 0..100 {
        let page = ok(client
            .list_audit_events(pb::ListAuditEventsRequest {
                organization_id,
                page_size: 500,
                page_token: page_token.clone(),
            })
            .await);
        found.extend(page.events);
        if page.next_page_token.is_empty() {
            return found;
        }
        page_token = page.next_page_token;
    }
    panic!("ListAuditEvents never reached its last page");
}

fn position(events: &[pb::AuditEvent], action: &str, organization_id: i64) -> Option<usize> {
    events
        .iter()
        .position(|e| e.action == action && e.organization_id == organization_id)
}

/// Mutations show up for the operator and the org admin, newest first; B's
/// admin sees none of A's; no secret is ever in the log
/// (docs/rules.md, "Audit log").
async fn audit_events_are_recorded_and_scoped(s: &TestServer) {
    let a = s.create_org("Acme", Plan::Pro).await;
    let b = s.create_org("Bravo", Plan::Pro).await;
    let mut admin_a = a.admin.clone();
    let alice = s.create_user(&admin_a, a.id, "alice", Plan::Free).await;
    ok(admin_a
        .disable_user(pb::DisableUserRequest { user_id: alice.id })
        .await);
    ok(admin_a
        .set_password(pb::SetPasswordRequest {
            user_id: alice.id,
            password: "audited new password".into(),
        })
        .await);
    s.create_user(&b.admin, b.id, "bob", Plan::Free).await;

    // Operator, every organization.
    let all = events(&s.operator(), 0).await;
    let create_a = position(&all, "user.create", a.id)
        .unwrap_or_else(|| panic!("no user.create for A in {all:#?}"));
    let disable_a = position(&all, "user.disable", a.id)
        .unwrap_or_else(|| panic!("no user.disable for A in {all:#?}"));
    let create_b = position(&all, "user.create", b.id)
        .unwrap_or_else(|| panic!("no user.create for B in {all:#?}"));
    assert!(
        create_b < disable_a && disable_a < create_a,
        "newest first: B's create, then A's disable, then A's create"
    );
    assert!(
        all.windows(2).all(|w| w[0].id > w[1].id),
        "newest first (ids descending)"
    );
    let disable = &all[disable_a];
    assert!(
        disable.target.contains(&alice.id.to_string()),
        "the target names the user: {disable:?}"
    );
    assert!(!disable.actor.is_empty(), "the actor is recorded");
    assert!(disable.at.is_some(), "the time is recorded");
    for secret in [
        password_for("alice"),
        "audited new password".to_string(),
        a.admin_token.clone(),
        s.operator_token.clone(),
    ] {
        assert!(
            !format!("{all:?}").contains(&secret),
            "a secret is in the audit log"
        );
    }

    // Operator, one organization.
    let only_a = events(&s.operator(), a.id).await;
    assert!(!only_a.is_empty());
    assert!(only_a.iter().all(|e| e.organization_id == a.id));
    assert!(position(&only_a, "user.disable", a.id).is_some());

    // Org admin of A: its own events only (0 or its id).
    for requested in [0, a.id] {
        let seen = events(&a.admin, requested).await;
        assert!(
            seen.iter().all(|e| e.organization_id == a.id),
            "A's admin sees another organization's events"
        );
        let create = position(&seen, "user.create", a.id).expect("A sees its user.create");
        let disable = position(&seen, "user.disable", a.id).expect("A sees its user.disable");
        assert!(disable < create, "newest first");
    }

    // Org admin of B: none of A's.
    let seen_b = events(&b.admin, 0).await;
    assert!(seen_b.iter().all(|e| e.organization_id == b.id));
    assert!(position(&seen_b, "user.create", b.id).is_some());
    assert!(position(&seen_b, "user.disable", a.id).is_none());
    assert_code(
        b.admin
            .clone()
            .list_audit_events(pb::ListAuditEventsRequest {
                organization_id: a.id,
                ..Default::default()
            })
            .await,
        Code::NotFound,
    );

    // Paging: page_size 1 walks the same events.
    let mut paged = Vec::new();
    let mut page_token = String::new();
    for _ in 0..100 {
        let page = ok(s
            .operator()
            .list_audit_events(pb::ListAuditEventsRequest {
                organization_id: a.id,
                page_size: 1,
                page_token: page_token.clone(),
            })
            .await);
        assert!(page.events.len() <= 1);
        paged.extend(page.events.into_iter().map(|e| e.id));
        if page.next_page_token.is_empty() {
            break;
        }
        page_token = page.next_page_token;
    }
    let direct: Vec<i64> = events(&s.operator(), a.id)
        .await
        .into_iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(paged, direct);
}

backend_tests!(audit_events_are_recorded_and_scoped);
