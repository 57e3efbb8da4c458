//! Login and the other RPCs that need no token: roles, session expiry,
//! failures that look the same, and the sign-in throttle Login shares with
//! Authenticate.

use crate::harness::*;
use mailadmin_client::pb;
use tonic::Code;
use tonic_types::StatusExt;

/// The setup these tests share: organization Acme (an Entry master) and
/// alice, an enabled Free account.
async fn acme_with_alice(s: &TestServer) -> (Org, pb::User) {
    let org = s.create_org("Acme", Plan::Entry).await;
    let alice = s.create_user(&org.admin, org.id, "alice", Plan::Free).await;
    (org, alice)
}

/// Login, RequestPasswordReset, ResetPassword and health need no token
/// (docs/rules.md, "Unauthenticated RPCs").
async fn public_rpcs_need_no_token(s: &TestServer) {
    acme_with_alice(s).await;
    let mut anonymous = s.anonymous();

    let login = ok(anonymous
        .login(pb::LoginRequest {
            login: "alice".into(),
            password: password_for("alice"),
        })
        .await);
    assert!(!login.token.is_empty());

    ok(anonymous
        .request_password_reset(pb::RequestPasswordResetRequest {
            login: "alice".into(),
        })
        .await);
    assert_invalid(
        anonymous
            .reset_password(pb::ResetPasswordRequest {
                reset_token: "mar_doesnotexist".into(),
                new_password: "a brand new password".into(),
            })
            .await,
        "reset_token",
    );

    let mut health = tonic_health::pb::health_client::HealthClient::new(s.channel());
    for service in ["", "mailadmin.v1.AdminService"] {
        let answer = health
            .check(tonic_health::pb::HealthCheckRequest {
                service: service.into(),
            })
            .await
            .unwrap_or_else(|e| panic!("health check {service:?}: {e:?}"))
            .into_inner();
        assert_eq!(
            answer.status,
            tonic_health::pb::health_check_response::ServingStatus::Serving as i32,
            "health of {service:?}"
        );
    }
}

/// Login: ORG_ADMIN for the master, USER for others, by username or
/// address; the token expires after the session TTL (12 h by default)
/// (docs/rules.md, "Login sessions").
async fn login_roles_and_session_expiry(s: &TestServer) {
    let (org, alice) = acme_with_alice(s).await;

    let master = ok(s.login(&org.master.username, &org.master_password).await);
    assert_eq!(master.role, Role::OrgAdmin as i32);
    assert_eq!(master.user_id, org.master.id);
    assert_eq!(master.organization_id, org.id);

    let by_name = ok(s.login("alice", &password_for("alice")).await);
    assert_eq!(by_name.role, Role::User as i32);
    assert_eq!(by_name.user_id, alice.id);
    assert_eq!(by_name.organization_id, org.id);
    let expected_expiry = start_instant().timestamp() + 12 * 3600;
    assert_eq!(
        by_name.expires_at.as_ref().map(|t| t.seconds),
        Some(expected_expiry),
        "a session lasts session_ttl (12 h)"
    );

    let by_address = ok(s.login(&address_for("alice"), &password_for("alice")).await);
    assert_eq!(by_address.user_id, alice.id);
    assert_ne!(
        by_address.token, by_name.token,
        "each Login makes a new token"
    );

    let mut as_alice = s.with_token(&by_name.token);
    let me = ok(as_alice
        .get_user(pb::GetUserRequest { user_id: alice.id })
        .await);
    assert_eq!(me.user.unwrap().username, "alice");

    s.advance(chrono::Duration::hours(12) - chrono::Duration::minutes(1));
    ok(as_alice
        .get_user(pb::GetUserRequest { user_id: alice.id })
        .await);
    s.advance(chrono::Duration::minutes(2));
    assert_code(
        as_alice
            .get_user(pb::GetUserRequest { user_id: alice.id })
            .await,
        Code::Unauthenticated,
    );
    assert_code(
        s.with_token(&org.admin_token)
            .list_users(pb::ListUsersRequest::default())
            .await,
        Code::Unauthenticated,
    );
    // A fresh Login works again.
    let again = ok(s.login("alice", &password_for("alice")).await);
    ok(s.with_token(&again.token)
        .get_user(pb::GetUserRequest { user_id: alice.id })
        .await);
}

/// Login answers the same for an unknown login, a wrong password and an
/// empty one (docs/rules.md, "Login sessions").
async fn login_failures_look_the_same(s: &TestServer) {
    acme_with_alice(s).await;

    let wrong = assert_code(
        s.login("alice", "wrong password 123").await,
        Code::Unauthenticated,
    );
    let unknown = assert_code(
        s.login("nobody-here", "wrong password 123").await,
        Code::Unauthenticated,
    );
    let unknown_address = assert_code(
        s.login("nobody@mailadmin.example", "wrong password 123")
            .await,
        Code::Unauthenticated,
    );
    assert_eq!(wrong.message(), unknown.message());
    assert_eq!(wrong.message(), unknown_address.message());
    assert!(
        !wrong.message().to_lowercase().contains("alice"),
        "the answer does not echo the login: {:?}",
        wrong.message()
    );
    ok(s.login("alice", &password_for("alice")).await);
}

/// Login is throttled per account like Authenticate, on the same counter:
/// 10 wrong passwords (here 6 through Login by username and 4 through the
/// mail server's Authenticate by primary address) and the next Login is
/// RESOURCE_EXHAUSTED with a retry delay even with the right password; the
/// mail server's Authenticate for that account is throttled too. Other logins are
/// not, and Login has no per-address limit (its caller is often one web
/// console for many people). After the 15-minute window it works again
/// (docs/rules.md, "Throttle limits").
async fn login_is_throttled_per_account_with_authenticate(s: &TestServer) {
    let (org, _) = acme_with_alice(s).await;
    s.create_user(&org.admin, org.id, "bob", Plan::Free).await;
    let mut mail_server = s.delivery_pb_client(Some(&s.operator_token));
    let authenticate = |password: String| pb::AuthenticateRequest {
        login: "alice@mailadmin.example".into(),
        password,
        client_ip: "192.0.2.1".into(),
    };

    for i in 0..6 {
        assert_code(
            s.login("alice", &format!("wrong password {i}")).await,
            Code::Unauthenticated,
        );
    }
    for i in 6..10 {
        let answer = ok(mail_server
            .authenticate(authenticate(format!("wrong password {i}")))
            .await);
        assert!(!answer.allowed, "wrong password #{}: {answer:?}", i + 1);
    }
    let throttled = assert_code(
        s.login("ALICE", &password_for("alice")).await,
        Code::ResourceExhausted,
    );
    let retry = throttled
        .get_details_retry_info()
        .and_then(|r| r.retry_delay)
        .unwrap_or_else(|| panic!("RESOURCE_EXHAUSTED without RetryInfo: {throttled:?}"));
    assert!(
        !retry.is_zero() && retry <= std::time::Duration::from_secs(15 * 60),
        "{retry:?}"
    );
    assert_code(
        mail_server
            .authenticate(authenticate(password_for("alice")))
            .await,
        Code::ResourceExhausted,
    );

    // Another login through the same (only) client address still works,
    // even after more failures than Authenticate allows per address (50).
    for i in 0..51 {
        assert_code(
            s.login(&format!("nobody{i}"), "wrong password").await,
            Code::Unauthenticated,
        );
    }
    ok(s.login("bob", &password_for("bob")).await);

    s.advance(chrono::Duration::minutes(16));
    ok(s.login("alice", &password_for("alice")).await);
    let answer = ok(mail_server
        .authenticate(authenticate(password_for("alice")))
        .await);
    assert!(answer.allowed, "16 minutes later: {answer:?}");
}

backend_tests!(
    public_rpcs_need_no_token,
    login_roles_and_session_expiry,
    login_failures_look_the_same,
    login_is_throttled_per_account_with_authenticate,
);
