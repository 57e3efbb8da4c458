//! API tokens: CreateToken, ListTokens, RevokeToken, bound accounts and
//! expiry.

use crate::harness::*;
use mailadmin_client::pb;
use tonic::Code;

/// API tokens (docs/rules.md, "Tokens"): the secret is shown once and
/// works; ListTokens never shows it; RevokeToken stops it; USER tokens need
/// an account of the organization; TTL is honored.
async fn api_tokens(s: &TestServer) {
    let a = s.create_org("Acme", Plan::Entry).await;
    let b = s.create_org("Bravo", Plan::Entry).await;
    let alice = s.create_user(&a.admin, a.id, "alice", Plan::Free).await;
    let bob = s.create_user(&b.admin, b.id, "bob", Plan::Free).await;
    let mut operator = s.operator();

    let created = ok(operator
        .create_token(pb::CreateTokenRequest {
            role: Role::OrgAdmin as i32,
            organization_id: a.id,
            user_id: 0,
            description: "console backend".into(),
            ttl_seconds: 0,
        })
        .await);
    assert!(
        created.secret.starts_with("mat_"),
        "secret {:?} starts with mat_",
        created.secret
    );
    assert!(created.secret.len() >= 4 + 32, "≥ 128 bits of secret");
    let token = created.token.clone().expect("token metadata");
    assert!(token.id > 0);
    assert_eq!(token.role, Role::OrgAdmin as i32);
    assert_eq!(token.organization_id, a.id);
    assert_eq!(token.description, "console backend");
    assert!(token.revoked_at.is_none());
    assert!(token.expires_at.is_none(), "ttl 0 never expires");

    // The secret works as an org admin of A, and only A.
    let mut console = s.with_token(&created.secret);
    let users = ok(console.list_users(pb::ListUsersRequest::default()).await);
    assert!(users.users.iter().any(|u| u.id == alice.id));
    assert_code(
        console
            .get_user(pb::GetUserRequest { user_id: bob.id })
            .await,
        Code::NotFound,
    );

    // ListTokens never shows a secret.
    let listed = ok(operator
        .list_tokens(pb::ListTokensRequest {
            organization_id: a.id,
            ..Default::default()
        })
        .await);
    let listed_token = listed
        .tokens
        .iter()
        .find(|t| t.id == token.id)
        .expect("the new token is listed");
    assert_eq!(listed_token.description, "console backend");
    assert!(
        !format!("{listed:?}").contains(&created.secret),
        "ListTokens shows a secret"
    );
    let everything = ok(operator
        .list_tokens(pb::ListTokensRequest {
            include_inactive: true,
            ..Default::default()
        })
        .await);
    assert!(!format!("{everything:?}").contains(&created.secret));
    assert!(!format!("{everything:?}").contains(&s.operator_token));
    assert!(
        listed.tokens.iter().all(|t| t.organization_id == a.id),
        "organization filter"
    );

    // Revoke: stops working at once, listed only with include_inactive.
    let revoked = ok(operator
        .revoke_token(pb::RevokeTokenRequest { token_id: token.id })
        .await);
    assert!(revoked.token.expect("token").revoked_at.is_some());
    assert_code(
        console.list_users(pb::ListUsersRequest::default()).await,
        Code::Unauthenticated,
    );
    let active = ok(operator
        .list_tokens(pb::ListTokensRequest {
            organization_id: a.id,
            ..Default::default()
        })
        .await);
    assert!(active.tokens.iter().all(|t| t.id != token.id));
    let inactive = ok(operator
        .list_tokens(pb::ListTokensRequest {
            organization_id: a.id,
            include_inactive: true,
            ..Default::default()
        })
        .await);
    let shown = inactive
        .tokens
        .iter()
        .find(|t| t.id == token.id)
        .expect("revoked token listed with include_inactive");
    assert!(shown.revoked_at.is_some());
    assert_code(
        operator
            .revoke_token(pb::RevokeTokenRequest { token_id: 999_999 })
            .await,
        Code::NotFound,
    );

    // USER tokens need an account of that organization.
    assert_code_in(
        operator
            .create_token(pb::CreateTokenRequest {
                role: Role::User as i32,
                organization_id: a.id,
                user_id: 0,
                description: "no user".into(),
                ttl_seconds: 0,
            })
            .await,
        &[Code::InvalidArgument],
    );
    assert_code_in(
        operator
            .create_token(pb::CreateTokenRequest {
                role: Role::User as i32,
                organization_id: a.id,
                user_id: bob.id,
                description: "someone else's user".into(),
                ttl_seconds: 0,
            })
            .await,
        &[Code::InvalidArgument, Code::NotFound],
    );
    assert_code_in(
        operator
            .create_token(pb::CreateTokenRequest {
                role: Role::Unspecified as i32,
                description: "no role".into(),
                ..Default::default()
            })
            .await,
        &[Code::InvalidArgument],
    );
    assert_code_in(
        operator
            .create_token(pb::CreateTokenRequest {
                role: Role::Operator as i32,
                organization_id: a.id,
                description: "operator bound to an org".into(),
                ..Default::default()
            })
            .await,
        &[Code::InvalidArgument],
    );
    let user_token = ok(operator
        .create_token(pb::CreateTokenRequest {
            role: Role::User as i32,
            organization_id: a.id,
            user_id: alice.id,
            description: "alice's app".into(),
            ttl_seconds: 60,
        })
        .await);
    assert!(user_token.secret.starts_with("mat_"));
    let meta = user_token.token.clone().expect("token");
    assert_eq!(meta.user_id, alice.id);
    assert_eq!(
        meta.expires_at.map(|t| t.seconds),
        Some(start_instant().timestamp() + 60)
    );
    let mut as_alice = s.with_token(&user_token.secret);
    let me = ok(as_alice
        .get_user(pb::GetUserRequest { user_id: alice.id })
        .await);
    assert_eq!(me.user.unwrap().id, alice.id);
    assert_code_in(
        as_alice
            .get_user(pb::GetUserRequest {
                user_id: a.master.id,
            })
            .await,
        &[Code::PermissionDenied, Code::NotFound],
    );
    // ttl_seconds 60: expired one second after.
    s.advance(chrono::Duration::seconds(61));
    assert_code(
        as_alice
            .get_user(pb::GetUserRequest { user_id: alice.id })
            .await,
        Code::Unauthenticated,
    );
}

backend_tests!(api_tokens);
