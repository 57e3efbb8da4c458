//! Passwords: SetPassword (admin), ChangeOwnPassword (self), and the reset
//! flow through the outbox with single-use, expiring tokens.

use crate::harness::*;
use mailadmin_client::pb;
use tonic::Code;

const EXTERNAL: &str = "alice.private@example.net";

/// Sets alice's external address (where resets go), as her admin.
async fn set_external_email(org: &Org, user_id: i64, email: &str) {
    let user = ok(org
        .admin
        .clone()
        .update_user_profile(pb::UpdateUserProfileRequest {
            user_id,
            external_email: Some(email.to_string()),
            ..Default::default()
        })
        .await)
    .user
    .unwrap();
    assert_eq!(user.profile.unwrap_or_default().external_email, email);
}

async fn outbox(s: &TestServer) -> Vec<pb::OutboxMessage> {
    ok(s.operator()
        .list_outbox(pb::ListOutboxRequest {
            page_size: 500,
            page_token: String::new(),
        })
        .await)
    .messages
}

/// Requests a reset for `login` and returns the token from the newest
/// outbox message, which must go to `recipient`.
async fn request_reset(s: &TestServer, login: &str, recipient: &str) -> String {
    let before = outbox(s).await.len();
    ok(s.anonymous()
        .request_password_reset(pb::RequestPasswordResetRequest {
            login: login.to_string(),
        })
        .await);
    let messages = outbox(s).await;
    assert_eq!(messages.len(), before + 1, "one outbox message per request");
    let newest = &messages[0];
    assert_eq!(newest.recipient, recipient);
    let token = reset_token_in(&newest.body)
        .or_else(|| reset_token_in(&newest.subject))
        .unwrap_or_else(|| panic!("no mar_ token in the message: {newest:?}"));
    assert!(token.starts_with("mar_"));
    token
}

async fn reset(
    s: &TestServer,
    reset_token: &str,
    new_password: &str,
) -> Result<tonic::Response<pb::ResetPasswordResponse>, tonic::Status> {
    s.anonymous()
        .reset_password(pb::ResetPasswordRequest {
            reset_token: reset_token.to_string(),
            new_password: new_password.to_string(),
        })
        .await
}

/// SetPassword by the admin (docs/rules.md, "Setting a password"): old
/// sessions revoked, old password refused, new one works; not on the
/// admin's own master account.
async fn set_password_revokes_sessions(s: &TestServer) {
    let org = s.create_org("Acme", Plan::Pro).await;
    let mut admin = org.admin.clone();
    let alice = s.create_user(&admin, org.id, "alice", Plan::Free).await;
    let session = s.login_token("alice").await;
    let me = pb::GetUserRequest { user_id: alice.id };
    ok(s.with_token(&session).get_user(me).await);

    assert_invalid(
        admin
            .set_password(pb::SetPasswordRequest {
                user_id: alice.id,
                password: "too short".into(),
            })
            .await,
        "password",
    );
    ok(s.with_token(&session).get_user(me).await);

    ok(admin
        .set_password(pb::SetPasswordRequest {
            user_id: alice.id,
            password: "a completely new passphrase".into(),
        })
        .await);
    assert_code(
        s.with_token(&session).get_user(me).await,
        Code::Unauthenticated,
    );
    assert_code(
        s.login("alice", &password_for("alice")).await,
        Code::Unauthenticated,
    );
    let login = ok(s.login("alice", "a completely new passphrase").await);
    assert_eq!(login.role, Role::User as i32);
    assert_eq!(login.user_id, alice.id);

    // The operator may set it too.
    ok(s.operator()
        .set_password(pb::SetPasswordRequest {
            user_id: alice.id,
            password: "the operator's choice 1".into(),
        })
        .await);
    ok(s.login("alice", "the operator's choice 1").await);

    // Not on its own master account: that is ChangeOwnPassword.
    assert_code(
        admin
            .set_password(pb::SetPasswordRequest {
                user_id: org.master.id,
                password: "another master password".into(),
            })
            .await,
        Code::FailedPrecondition,
    );
    ok(s.login(&org.master.username, &org.master_password).await);
    ok(admin.list_users(pb::ListUsersRequest::default()).await);
}

/// ChangeOwnPassword (docs/rules.md, "Changing your own password"): a
/// wrong old password is refused and changes nothing; the right one
/// changes it and revokes the account's tokens.
async fn change_own_password(s: &TestServer) {
    let org = s.create_org("Acme", Plan::Pro).await;
    let alice = s.create_user(&org.admin, org.id, "alice", Plan::Free).await;
    let session = s.login_token("alice").await;
    let mut as_alice = s.with_token(&session);
    let me = pb::GetUserRequest { user_id: alice.id };

    let wrong = as_alice
        .change_own_password(pb::ChangeOwnPasswordRequest {
            old_password: "not my password 1".into(),
            new_password: "my brand new password".into(),
        })
        .await;
    let status = assert_code_in(wrong, &[Code::InvalidArgument, Code::PermissionDenied]);
    if status.code() == Code::InvalidArgument {
        assert!(
            status.message().starts_with("old_password:"),
            "names old_password: {:?}",
            status.message()
        );
    }
    assert_code(
        s.login("alice", "my brand new password").await,
        Code::Unauthenticated,
    );
    ok(s.login("alice", &password_for("alice")).await);
    ok(as_alice.get_user(me).await);

    assert_invalid(
        as_alice
            .change_own_password(pb::ChangeOwnPasswordRequest {
                old_password: password_for("alice"),
                new_password: "short".into(),
            })
            .await,
        "new_password",
    );
    ok(s.login("alice", &password_for("alice")).await);

    ok(as_alice
        .change_own_password(pb::ChangeOwnPasswordRequest {
            old_password: password_for("alice"),
            new_password: "my brand new password".into(),
        })
        .await);
    assert_code(as_alice.get_user(me).await, Code::Unauthenticated);
    assert_code(
        s.login("alice", &password_for("alice")).await,
        Code::Unauthenticated,
    );
    ok(s.login("alice", "my brand new password").await);

    // The org admin changes its own password the same way.
    let mut admin = org.admin.clone();
    ok(admin
        .change_own_password(pb::ChangeOwnPasswordRequest {
            old_password: org.master_password.clone(),
            new_password: "the admin's new password".into(),
        })
        .await);
    assert_code(
        admin.list_users(pb::ListUsersRequest::default()).await,
        Code::Unauthenticated,
    );
    let login = ok(s
        .login(&org.master.username, "the admin's new password")
        .await);
    assert_eq!(login.role, Role::OrgAdmin as i32);
}

/// Reset through the outbox (docs/rules.md, "Password reset"): the token
/// goes to the external address, works once, and the new password
/// replaces the old one.
async fn password_reset_flow(s: &TestServer) {
    let org = s.create_org("Acme", Plan::Pro).await;
    let alice = s.create_user(&org.admin, org.id, "alice", Plan::Free).await;
    set_external_email(&org, alice.id, EXTERNAL).await;
    let session = s.login_token("alice").await;

    // Unknown logins get the same answer and send nothing.
    let before = outbox(s).await.len();
    ok(s.anonymous()
        .request_password_reset(pb::RequestPasswordResetRequest {
            login: "nobody-at-all".into(),
        })
        .await);
    assert_eq!(outbox(s).await.len(), before);

    let token = request_reset(s, "alice", EXTERNAL).await;
    assert!(
        !outbox(s).await[0].body.contains(&password_for("alice")),
        "the message never carries the password"
    );

    // A refused new password leaves the token usable.
    assert_invalid(reset(s, &token, "short").await, "new_password");
    ok(reset(s, &token, "reset passphrase 2026").await);
    ok(s.login("alice", "reset passphrase 2026").await);
    assert_code(
        s.login("alice", &password_for("alice")).await,
        Code::Unauthenticated,
    );
    assert_code(
        s.with_token(&session)
            .get_user(pb::GetUserRequest { user_id: alice.id })
            .await,
        Code::Unauthenticated,
    );

    // Single use.
    assert_invalid(
        reset(s, &token, "yet another password").await,
        "reset_token",
    );
    ok(s.login("alice", "reset passphrase 2026").await);
    assert_code(
        s.login("alice", "yet another password").await,
        Code::Unauthenticated,
    );

    // By address as well.
    let by_address = request_reset(s, &address_for("alice"), EXTERNAL).await;
    assert_ne!(by_address, token);
    ok(reset(s, &by_address, "third password here").await);
    ok(s.login("alice", "third password here").await);

    assert_invalid(
        reset(s, "mar_nonexistent", "whatever password").await,
        "reset_token",
    );
    assert_invalid(reset(s, "", "whatever password").await, "reset_token");
}

/// A reset token expires after one hour (docs/rules.md, "Password reset").
async fn reset_token_expires_after_an_hour(s: &TestServer) {
    let org = s.create_org("Acme", Plan::Pro).await;
    let alice = s.create_user(&org.admin, org.id, "alice", Plan::Free).await;
    set_external_email(&org, alice.id, EXTERNAL).await;

    let late = request_reset(s, "alice", EXTERNAL).await;
    s.advance(chrono::Duration::minutes(61));
    assert_invalid(reset(s, &late, "too late password").await, "reset_token");
    assert_code(
        s.login("alice", "too late password").await,
        Code::Unauthenticated,
    );
    ok(s.login("alice", &password_for("alice")).await);

    // Within the hour it works.
    let timely = request_reset(s, "alice", EXTERNAL).await;
    s.advance(chrono::Duration::minutes(59));
    ok(reset(s, &timely, "just in time password").await);
    ok(s.login("alice", "just in time password").await);
}

/// A stolen session cannot be used to guess the password behind it:
/// ChangeOwnPassword's wrong old passwords count on the account's sign-in
/// throttle, so after 10 the next try is RESOURCE_EXHAUSTED even with the
/// right old password (nothing changes), and Login is throttled too. Once
/// the 15-minute window is over the right old password works.
async fn change_own_password_is_throttled_with_login(s: &TestServer) {
    let org = s.create_org("Acme", Plan::Pro).await;
    s.create_user(&org.admin, org.id, "alice", Plan::Free).await;
    let mut as_alice = s.with_token(&s.login_token("alice").await);
    let change = |old_password: String| pb::ChangeOwnPasswordRequest {
        old_password,
        new_password: "my brand new password".into(),
    };

    for i in 0..10 {
        assert_code(
            as_alice
                .change_own_password(change(format!("not my password {i}")))
                .await,
            Code::InvalidArgument,
        );
    }
    assert_code(
        as_alice
            .change_own_password(change(password_for("alice")))
            .await,
        Code::ResourceExhausted,
    );
    assert_code(
        s.login("alice", &password_for("alice")).await,
        Code::ResourceExhausted,
    );

    s.advance(chrono::Duration::minutes(16));
    ok(s.login("alice", &password_for("alice")).await);
    ok(as_alice
        .change_own_password(change(password_for("alice")))
        .await);
    ok(s.login("alice", "my brand new password").await);
}

backend_tests!(
    set_password_revokes_sessions,
    change_own_password,
    change_own_password_is_throttled_with_login,
    password_reset_flow,
    reset_token_expires_after_an_hour,
);
