//! Two replicas follow each other's changes (accounts, aliases, sessions,
//! tokens), and a replica killed and restarted answers from the database's
//! state at once.

use super::{REPLICA_DEADLINE, Replicas, admin_client, free_user, wait_for};
use crate::delivery::{TIMEOUT, allowed, deliver, ip};
use crate::harness::*;
use mailadmin_client::{DeliveryClient, Verdict, pb};
use std::time::{Duration, Instant};
use tonic::Code;

/// Two replicas on `url` (docs/rules.md, "Freshness"): A answers a change
/// at once, B once it hears of it; B killed and restarted knows what
/// changed while it was down.
pub(super) async fn two_replicas(url: &str) {
    let Replicas {
        dir,
        mut a,
        mut b,
        token_file_b,
        token,
        channel_a,
        mut admin_a,
        org_id,
        mta_token,
    } = Replicas::start(url, url, "Replicas").await;
    let channel_b = b.channel().await;
    let mut admin_b = admin_client(&channel_b, &token);
    let create = |username: &str| free_user(org_id, username);
    let alice = ok(admin_a.create_user(create("alice")).await)
        .user
        .expect("user");
    let mta_a = DeliveryClient::new(&a.url(), &mta_token, TIMEOUT).expect("a client for A");
    let mta_b = DeliveryClient::new(&b.url(), &mta_token, TIMEOUT).expect("a client for B");
    let address = address_for("alice");
    let disabled = Verdict::RejectDisabled { user_id: alice.id };

    // A answers at once; B once the token and the account reach it.
    assert_eq!(mta_a.check_recipient(&address).await, deliver(&alice));
    wait_for(
        &mta_b,
        &address,
        &deliver(&alice),
        &mut b,
        "B delivers for an account created on A",
    )
    .await;

    ok(admin_a
        .disable_user(pb::DisableUserRequest { user_id: alice.id })
        .await);
    assert_eq!(
        mta_a.check_recipient(&address).await,
        disabled,
        "A, which disabled the account, refuses at once"
    );
    wait_for(
        &mta_b,
        &address,
        &disabled,
        &mut b,
        "B refuses after a disable on A",
    )
    .await;

    ok(admin_b
        .enable_user(pb::EnableUserRequest { user_id: alice.id })
        .await);
    assert_eq!(
        mta_b.check_recipient(&address).await,
        deliver(&alice),
        "B, which enabled the account, delivers at once"
    );
    wait_for(
        &mta_a,
        &address,
        &deliver(&alice),
        &mut a,
        "A delivers after an enable on B",
    )
    .await;

    // An alias added on B reaches A; deleting its account on A reaches B.
    let mut billing_a = pb::billing_service_client::BillingServiceClient::with_interceptor(
        channel_a.clone(),
        Bearer::token(&token),
    );
    ok(billing_a
        .top_up(pb::TopUpRequest {
            organization_id: org_id,
            amount: Some(eur("100.00")),
            idempotency_key: "replicas".into(),
            payment_reference: "test".into(),
        })
        .await);
    let carol = ok(admin_a
        .create_user(pb::CreateUserRequest {
            organization_id: org_id,
            account: Some(new_account("carol", Plan::Entry)),
            request_id: String::new(),
            ..Default::default()
        })
        .await)
    .user
    .expect("user");
    ok(admin_b
        .add_alias(pb::AddAliasRequest {
            user_id: carol.id,
            address: "carol.alias@mailadmin.example".into(),
            ..Default::default()
        })
        .await);
    assert_eq!(
        mta_b.check_recipient("carol.alias@mailadmin.example").await,
        deliver(&carol)
    );
    wait_for(
        &mta_a,
        "carol.alias@mailadmin.example",
        &deliver(&carol),
        &mut a,
        "A delivers to an alias added on B",
    )
    .await;
    wait_for(
        &mta_b,
        &address_for("carol"),
        &deliver(&carol),
        &mut b,
        "B delivers for an account created on A (2)",
    )
    .await;
    ok(admin_a
        .disable_user(pb::DisableUserRequest { user_id: carol.id })
        .await);
    ok(admin_a
        .delete_user(pb::DeleteUserRequest { user_id: carol.id })
        .await);
    assert_eq!(
        mta_a.check_recipient("carol.alias@mailadmin.example").await,
        Verdict::RejectUnknown
    );
    wait_for(
        &mta_b,
        "carol.alias@mailadmin.example",
        &Verdict::RejectUnknown,
        &mut b,
        "B refuses a deleted account's alias",
    )
    .await;

    // Tokens: alice's session token works on B; disabling alice on A
    // revokes it there too; a revoked MTA token stops working on B.
    let session = ok(
        pb::admin_service_client::AdminServiceClient::new(channel_a.clone())
            .login(pb::LoginRequest {
                login: "alice".into(),
                password: password_for("alice"),
            })
            .await,
    )
    .token;
    let mut alice_on_b = admin_client(&channel_b, &session);
    let get_alice = pb::GetUserRequest { user_id: alice.id };
    let started = Instant::now();
    loop {
        match alice_on_b.get_user(get_alice).await {
            Ok(_) => break,
            Err(status) => assert!(
                started.elapsed() < REPLICA_DEADLINE,
                "a session made on A never works on B: {status:?}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    ok(admin_a
        .disable_user(pb::DisableUserRequest { user_id: alice.id })
        .await);
    let started = Instant::now();
    loop {
        match alice_on_b.get_user(get_alice).await {
            Err(status) if status.code() == Code::Unauthenticated => break,
            other => assert!(
                started.elapsed() < REPLICA_DEADLINE,
                "B still accepts a session of an account disabled on A: {other:?}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    eprintln!(
        "B refuses a disabled account's session after {:?}",
        started.elapsed()
    );
    ok(admin_a
        .enable_user(pb::EnableUserRequest { user_id: alice.id })
        .await);
    wait_for(
        &mta_b,
        &address,
        &deliver(&alice),
        &mut b,
        "B delivers after an enable on A",
    )
    .await;

    let spare = create_delivery_token(&mut admin_a).await;
    let mut spare_on_b = pb::delivery_service_client::DeliveryServiceClient::with_interceptor(
        channel_b.clone(),
        Bearer::token(&spare),
    );
    let ask = pb::CheckRecipientRequest {
        address: address.clone(),
    };
    let started = Instant::now();
    while let Err(status) = spare_on_b.check_recipient(ask.clone()).await {
        assert!(
            started.elapsed() < REPLICA_DEADLINE,
            "a DELIVERY token made on A never works on B: {status:?}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let spare_id = ok(admin_a.list_tokens(pb::ListTokensRequest::default()).await)
        .tokens
        .into_iter()
        .filter(|t| t.role == Role::Delivery as i32)
        .map(|t| t.id)
        .max()
        .expect("the DELIVERY tokens are listed");
    ok(admin_a
        .revoke_token(pb::RevokeTokenRequest { token_id: spare_id })
        .await);
    let started = Instant::now();
    loop {
        match spare_on_b.check_recipient(ask.clone()).await {
            Err(status) if status.code() == Code::Unauthenticated => break,
            other => assert!(
                started.elapsed() < REPLICA_DEADLINE,
                "B still accepts a DELIVERY token revoked on A: {other:?}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    eprintln!(
        "B refuses a token revoked on A after {:?}",
        started.elapsed()
    );

    // B dies (SIGKILL); meanwhile A disables alice and creates bob. The
    // restarted B answers from that state with its very first answers.
    b.kill().await;
    drop(admin_b);
    drop(channel_b);
    ok(admin_a
        .disable_user(pb::DisableUserRequest { user_id: alice.id })
        .await);
    let bob = ok(admin_a.create_user(create("bob")).await)
        .user
        .expect("user");
    let mut b = ServerProcess::start(url, dir.path(), &token_file_b, "b-restarted", &[]);
    let channel_b = b.channel().await;
    let mta_b = DeliveryClient::new(&b.url(), &mta_token, TIMEOUT).expect("a client for B");
    let started = Instant::now();
    assert_eq!(
        mta_b.check_recipient(&address_for("bob")).await,
        deliver(&bob),
        "the restarted B knows an account created while it was down\n{}",
        b.log_tail()
    );
    assert_eq!(
        mta_b.check_recipient(&address).await,
        disabled,
        "the restarted B knows a disable made while it was down"
    );
    assert_eq!(
        mta_b
            .authenticate("bob", &password_for("bob"), ip("192.0.2.1"))
            .await,
        allowed(&bob)
    );
    eprintln!(
        "the restarted B's first answers took {:?}",
        started.elapsed()
    );

    // And it follows A again.
    ok(admin_a
        .enable_user(pb::EnableUserRequest { user_id: alice.id })
        .await);
    wait_for(
        &mta_b,
        &address,
        &deliver(&alice),
        &mut b,
        "the restarted B delivers after an enable on A",
    )
    .await;

    drop(channel_b);
    drop(channel_a);
    b.kill().await;
    a.kill().await;
}
