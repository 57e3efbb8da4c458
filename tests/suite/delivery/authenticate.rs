//! Authenticate, the mail servers' sign-in: its answers, and its throttling
//! per login and per client address.

use super::{AliceAndBob, Mta, allowed};
use crate::harness::*;
use futures::future::join_all;
use mailadmin_client::{AuthOutcome, pb};
use std::time::Duration;
use tonic::Code;
use tonic_types::StatusExt;

/// The throttling window: 15 minutes (docs/rules.md, "Throttle limits").
const WINDOW: Duration = Duration::from_secs(15 * 60);

/// Authenticate (docs/rules.md, "Authenticate"): the right password by
/// username or primary address
/// (any case, IPv4 or IPv6 client) is allowed with the account; a wrong
/// password, an unknown login, an alias used as login and a disabled
/// account are denied; a malformed client_ip is INVALID_ARGUMENT.
async fn authenticate_answers(s: &TestServer) {
    let org = s.create_org("Acme", Plan::Entry).await;
    let alice = s
        .create_user(&org.admin, org.id, "alice", Plan::Entry)
        .await;
    org.add_alias(alice.id, "ali@mailadmin.example").await;
    let carol = s.create_user(&org.admin, org.id, "carol", Plan::Free).await;
    org.disable(carol.id).await;
    let mta = Mta::new(s).await;
    let password = password_for("alice");
    let carol_password = password_for("carol");

    let cases: Vec<(&str, &str, &str, AuthOutcome)> = vec![
        ("alice", &password, "192.0.2.1", allowed(&alice)),
        ("ALICE", &password, "192.0.2.1", allowed(&alice)),
        (
            "alice@mailadmin.example",
            &password,
            "2001:db8::1",
            allowed(&alice),
        ),
        (
            "Alice@MailAdmin.Example",
            &password,
            "192.0.2.1",
            allowed(&alice),
        ),
        (
            "alice",
            "wrong password 123",
            "192.0.2.1",
            AuthOutcome::Denied,
        ),
        (
            "nobody",
            "wrong password 123",
            "192.0.2.1",
            AuthOutcome::Denied,
        ),
        (
            "nobody@mailadmin.example",
            &password,
            "192.0.2.1",
            AuthOutcome::Denied,
        ),
        (
            "ali@mailadmin.example",
            &password,
            "192.0.2.1",
            AuthOutcome::Denied,
        ),
        ("carol", &carol_password, "192.0.2.1", AuthOutcome::Denied),
        (
            "carol@mailadmin.example",
            &carol_password,
            "192.0.2.1",
            AuthOutcome::Denied,
        ),
    ];
    let mut failures = Vec::new();
    for (login, password, client_ip, expected) in &cases {
        let got = mta.authenticate(login, password, client_ip).await;
        if &got != expected {
            failures.push(format!(
                "Authenticate({login:?}, {client_ip}): expected {expected:?}, got {got:?}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    // The generated client: allowed carries the account; a bad client_ip
    // is INVALID_ARGUMENT naming it.
    let answer = ok(mta
        .raw
        .clone()
        .authenticate(pb::AuthenticateRequest {
            login: "alice".into(),
            password: password.clone(),
            client_ip: "192.0.2.1".into(),
        })
        .await);
    assert!(answer.allowed);
    assert_eq!(
        (answer.user_id, answer.primary_address.as_str()),
        (alice.id, alice.primary_address.as_str())
    );
    let denied = ok(mta
        .raw
        .clone()
        .authenticate(pb::AuthenticateRequest {
            login: "alice".into(),
            password: "wrong password 123".into(),
            client_ip: "192.0.2.1".into(),
        })
        .await);
    assert_eq!(
        denied,
        pb::AuthenticateResponse::default(),
        "a denial says nothing about the account"
    );
    for client_ip in ["not-an-ip", "", "192.0.2.300", "192.0.2.1:25"] {
        assert_invalid(
            mta.raw
                .clone()
                .authenticate(pb::AuthenticateRequest {
                    login: "alice".into(),
                    password: password.clone(),
                    client_ip: client_ip.into(),
                })
                .await,
            "client_ip",
        );
    }
}

#[track_caller]
fn assert_throttled(outcome: &AuthOutcome, at_most: Duration, what: &str) {
    match outcome {
        AuthOutcome::Throttled {
            retry_after: Some(delay),
        } if !delay.is_zero() && *delay <= at_most => {}
        other => panic!(
            "{what}: expected Throttled with a retry delay of at most {at_most:?}, got {other:?}"
        ),
    }
}

/// Per login (docs/rules.md, "Throttle limits"): 10 wrong passwords for
/// one login; the 11th attempt is
/// throttled even with the right password, from any address, with a retry
/// delay (RESOURCE_EXHAUSTED + RetryInfo on the wire); other logins are
/// not; once the 15-minute window is over the right password works again.
async fn authenticate_throttles_per_login(s: &TestServer) {
    let AliceAndBob {
        alice, bob, mta, ..
    } = AliceAndBob::start(s).await;
    let password = password_for("alice");

    for i in 0..10 {
        let outcome = mta
            .authenticate("alice", &format!("wrong password {i}"), "192.0.2.1")
            .await;
        assert_eq!(outcome, AuthOutcome::Denied, "wrong password #{}", i + 1);
    }
    let eleventh = mta.authenticate("alice", &password, "192.0.2.1").await;
    assert_throttled(&eleventh, WINDOW, "the 11th attempt, right password");
    let elsewhere = mta.authenticate("alice", &password, "2001:db8::7").await;
    assert_throttled(&elsewhere, WINDOW, "the same login from another address");
    let status = assert_code(
        mta.raw
            .clone()
            .authenticate(pb::AuthenticateRequest {
                login: "alice".into(),
                password: password.clone(),
                client_ip: "192.0.2.1".into(),
            })
            .await,
        Code::ResourceExhausted,
    );
    let retry = status
        .get_details_retry_info()
        .and_then(|r| r.retry_delay)
        .unwrap_or_else(|| panic!("RESOURCE_EXHAUSTED without RetryInfo: {status:?}"));
    assert!(!retry.is_zero() && retry <= WINDOW, "{retry:?}");

    // Another login works, from another address and from the same one.
    assert_eq!(
        mta.authenticate("bob", &password_for("bob"), "192.0.2.2")
            .await,
        allowed(&bob)
    );
    assert_eq!(
        mta.authenticate("bob", &password_for("bob"), "192.0.2.1")
            .await,
        allowed(&bob)
    );

    // Still throttled a minute before the window ends, with a shorter delay.
    s.advance(chrono::Duration::minutes(14));
    let late = mta.authenticate("alice", &password, "192.0.2.1").await;
    assert_throttled(&late, Duration::from_secs(60), "14 minutes later");
    // After the window: the right password works again.
    s.advance(chrono::Duration::minutes(2));
    assert_eq!(
        mta.authenticate("alice", &password, "192.0.2.1").await,
        allowed(&alice),
        "16 minutes after the failures"
    );
}

/// Per client address (docs/rules.md, "Throttle limits"): 50 failures
/// across different logins from
/// one address throttle any login from it, while another address works;
/// the window ends after 15 minutes.
async fn authenticate_throttles_per_client_address(s: &TestServer) {
    let AliceAndBob {
        alice, bob, mta, ..
    } = AliceAndBob::start(s).await;
    let attacker = "198.51.100.7";

    // 5 wrong passwords for alice and 45 unknown logins: no login reaches
    // its own limit, the address reaches 50.
    let logins: Vec<String> = (0..5)
        .map(|_| "alice".to_string())
        .chain((0..45).map(|i| format!("ghost-{i}")))
        .collect();
    for chunk in logins.chunks(10) {
        let outcomes = join_all(
            chunk
                .iter()
                .map(|login| mta.authenticate(login, "wrong password 123", attacker)),
        )
        .await;
        for (login, outcome) in chunk.iter().zip(outcomes) {
            assert_eq!(outcome, AuthOutcome::Denied, "{login} from {attacker}");
        }
    }

    let blocked = mta
        .authenticate("bob", &password_for("bob"), attacker)
        .await;
    assert_throttled(&blocked, WINDOW, "a new login from the throttled address");
    let blocked = mta
        .authenticate("alice", &password_for("alice"), attacker)
        .await;
    assert_throttled(&blocked, WINDOW, "alice from the throttled address");
    assert_eq!(
        mta.authenticate("bob", &password_for("bob"), "198.51.100.8")
            .await,
        allowed(&bob),
        "another address"
    );
    assert_eq!(
        mta.authenticate("alice", &password_for("alice"), "2001:db8::8")
            .await,
        allowed(&alice),
        "alice (5 failures) from another address"
    );

    s.advance(chrono::Duration::minutes(16));
    assert_eq!(
        mta.authenticate("bob", &password_for("bob"), attacker)
            .await,
        allowed(&bob),
        "after the window"
    );
}

backend_tests!(
    authenticate_answers,
    authenticate_throttles_per_login,
    authenticate_throttles_per_client_address,
);
