//! Suspension (docs/rules.md, "Account states"): a hold on an account. It
//! cannot sign in anywhere, its mail keeps arriving, it is lifted with
//! ResumeUser, and it can be disabled from there. (That billing goes on:
//! `billing::renewals::renewals_charge_missed_periods_and_disabled_accounts`.)

use crate::harness::*;
use mailadmin_client::{AuthOutcome, DeliveryClient, Verdict, pb};
use std::time::Duration;
use tonic::Code;

async fn a_suspended_account_receives_mail_but_cannot_sign_in(s: &TestServer) {
    let org = s.create_org("Acme", Plan::Pro).await;
    let mut admin = org.admin.clone();
    let alice = s.create_user(&admin, org.id, "alice", Plan::Entry).await;
    let password = password_for("alice");
    let session = s.login_token("alice").await;
    let mta = DeliveryClient::new(
        &format!("http://{}", s.addr),
        &s.delivery_token().await,
        Duration::from_secs(10),
    )
    .expect("a delivery client");
    let client_ip = "192.0.2.7".parse().unwrap();
    let address = address_for("alice");
    let deliver = Verdict::Deliver {
        user_id: alice.id,
        primary_address: address.clone(),
    };

    let suspended = ok(admin
        .suspend_user(pb::SuspendUserRequest { user_id: alice.id })
        .await)
    .user
    .expect("the user");
    assert_eq!(suspended.state, pb::AccountState::Suspended as i32);

    // No way in: the session is revoked, Login and Authenticate refuse
    // (Authenticate as for a disabled account), no sending as anyone.
    let status = s
        .with_token(&session)
        .get_user(pb::GetUserRequest { user_id: alice.id })
        .await
        .expect_err("the session was revoked");
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    let status = s
        .login("alice", &password)
        .await
        .expect_err("Login refused");
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    assert_eq!(
        mta.authenticate("alice", &password, client_ip).await,
        AuthOutcome::Denied
    );
    assert_eq!(mta.allowed_senders("alice").await, Some(vec![]));

    // Mail still arrives.
    assert_eq!(mta.check_recipient(&address).await, deliver);
    assert_eq!(
        mta.check_recipient(&address.replace('@', "+news@")).await,
        deliver
    );

    // It shows as suspended, and in the audit log.
    let listed = list_users_where(&admin, org.id, pb::AccountState::Suspended as i32, 0, "").await;
    assert_eq!(
        listed.iter().map(|u| u.id).collect::<Vec<_>>(),
        vec![alice.id]
    );
    let events = ok(admin
        .list_audit_events(pb::ListAuditEventsRequest {
            organization_id: org.id,
            page_size: 50,
            page_token: String::new(),
        })
        .await)
    .events;
    assert!(
        events
            .iter()
            .any(|e| e.action == "user.suspend" && e.target == format!("user:{}", alice.id)),
        "{events:#?}"
    );

    // EnableUser does not lift a suspension; ResumeUser does.
    let status = admin
        .enable_user(pb::EnableUserRequest { user_id: alice.id })
        .await
        .expect_err("EnableUser on a suspended account");
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert!(status.message().contains("ResumeUser"), "{status:?}");
    let resumed = ok(admin
        .resume_user(pb::ResumeUserRequest { user_id: alice.id })
        .await)
    .user
    .expect("the user");
    assert_eq!(resumed.state, pb::AccountState::Enabled as i32);
    assert!(s.login("alice", &password).await.is_ok());
    assert!(matches!(
        mta.authenticate("alice", &password, client_ip).await,
        AuthOutcome::Allowed { .. }
    ));

    // Suspended, then disabled: now mail is refused too, and only
    // EnableUser brings it back.
    ok(admin
        .suspend_user(pb::SuspendUserRequest { user_id: alice.id })
        .await);
    ok(admin
        .disable_user(pb::DisableUserRequest { user_id: alice.id })
        .await);
    assert_eq!(
        mta.check_recipient(&address).await,
        Verdict::RejectDisabled { user_id: alice.id }
    );
    for status in [
        admin
            .resume_user(pb::ResumeUserRequest { user_id: alice.id })
            .await
            .expect_err("ResumeUser on a disabled account"),
        admin
            .suspend_user(pb::SuspendUserRequest { user_id: alice.id })
            .await
            .expect_err("SuspendUser on a disabled account"),
    ] {
        assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
    }

    // The org admin cannot lock itself out.
    let status = admin
        .suspend_user(pb::SuspendUserRequest {
            user_id: org.master.id,
        })
        .await
        .expect_err("suspending its own master");
    assert_eq!(status.code(), Code::FailedPrecondition);
}

backend_tests!(a_suspended_account_receives_mail_but_cannot_sign_in);
