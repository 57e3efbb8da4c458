//! The typed client against a real server that goes away, or that refuses
//! its token: temporary failures, never a refusal.

use super::{allowed, deliver, ip};
use crate::harness::*;
use mailadmin_client::{AuthOutcome, DeliveryClient, Verdict};
use std::time::{Duration, Instant};

/// Once the control plane is gone (shut down, or never there), the
/// client answers temporary failures (451 4.4.3), never a refusal; a
/// token the server does not accept is a temporary failure too
/// (docs/rules.md, "Unreachable control plane").
async fn unreachable_control_plane_is_a_temporary_failure(s: &mut TestServer) {
    let org = s.create_org("Acme", Plan::Entry).await;
    let alice = s.create_user(&org.admin, org.id, "alice", Plan::Free).await;
    let token = s.delivery_token().await;
    let url = format!("http://{}", s.addr);
    let client = DeliveryClient::new(&url, &token, Duration::from_secs(2)).expect("a client");
    let address = address_for("alice");
    let password = password_for("alice");
    assert_eq!(client.check_recipient(&address).await, deliver(&alice));
    assert_eq!(
        client
            .authenticate("alice", &password, ip("192.0.2.1"))
            .await,
        allowed(&alice)
    );

    // A token the server refuses (UNAUTHENTICATED): retry, don't bounce.
    let stranger = DeliveryClient::new(
        &url,
        "mat_0000000000000000000000000000000000000000",
        Duration::from_secs(2),
    )
    .expect("a client");
    assert_temporary(&stranger, "a token the server refuses").await;

    tokio::time::timeout(Duration::from_secs(30), s.take_running().shutdown())
        .await
        .expect("the server stops within 30 s")
        .expect("the server stops cleanly");
    assert_temporary(&client, "after the server shut down").await;

    // A port where nothing listens.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let nowhere = DeliveryClient::new(
        &format!("http://127.0.0.1:{port}"),
        &token,
        Duration::from_millis(500),
    )
    .expect("a client");
    let started = Instant::now();
    assert_temporary(&nowhere, "nothing listening").await;
    eprintln!(
        "the unreachable control plane's answers took {:?}",
        started.elapsed()
    );
}

/// Every question through `client` gets a temporary failure.
async fn assert_temporary(client: &DeliveryClient, when: &str) {
    for address in [
        "alice@mailadmin.example",
        "nobody@mailadmin.example",
        "someone@elsewhere.example",
    ] {
        let verdict = client.check_recipient(address).await;
        assert!(
            matches!(verdict, Verdict::TempFail { .. }) && verdict.is_temporary(),
            "{when}: CheckRecipient({address:?}) = {verdict:?}, not a temporary failure"
        );
        let (code, status, _) = verdict.smtp_reply();
        assert_eq!((code, status), (451, "4.4.3"), "{when}");
    }
    let batch = [address_for("alice"), address_for("nobody")];
    let verdicts = client.check_recipients(&batch).await;
    assert!(
        verdicts.len() == 2 && verdicts.iter().all(Verdict::is_temporary),
        "{when}: CheckRecipients = {verdicts:?}"
    );
    match client.stream().await {
        Ok(mut stream) => {
            let verdicts = stream.check(&batch).await;
            assert!(
                verdicts.len() == 2 && verdicts.iter().all(Verdict::is_temporary),
                "{when}: a stream's batch = {verdicts:?}"
            );
        }
        Err(status) => eprintln!("{when}: opening a stream fails: {:?}", status.code()),
    }
    let outcome = client
        .authenticate("alice", &password_for("alice"), ip("192.0.2.1"))
        .await;
    assert!(
        matches!(outcome, AuthOutcome::TempFail { .. }),
        "{when}: Authenticate = {outcome:?}"
    );
    assert_eq!(
        client.allowed_senders("alice").await,
        None,
        "{when}: AllowedSenders"
    );
}

backend_tests!(unreachable_control_plane_is_a_temporary_failure);
