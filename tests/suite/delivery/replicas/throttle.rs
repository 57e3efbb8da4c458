//! Failed sign-ins count on every replica (docs/rules.md, "Throttle
//! limits"): ten wrong passwords spread over two replicas lock the account
//! on both, where each replica counting only its own would have allowed
//! ten more.

use super::{REPLICA_DEADLINE, Replicas};
use crate::harness::*;
use mailadmin_client::pb;
use std::time::Instant;
use tonic::Code;

pub(super) async fn failures_count_across_replicas(url: &str) {
    let Replicas {
        dir: _dir,
        mut a,
        mut b,
        mta_token,
        ..
    } = Replicas::start(url, url, "Guarded").await;
    let login = "guarded-admin";
    let client = |channel: tonic::transport::Channel| {
        pb::delivery_service_client::DeliveryServiceClient::with_interceptor(
            channel,
            Bearer::token(&mta_token),
        )
    };
    let (on_a, on_b) = (client(a.channel().await), client(b.channel().await));
    // Each guess from another address: only the account's count matters here.
    let attempt = |mut client: DeliveryPbClient, password: String, from: u8| async move {
        client
            .authenticate(pb::AuthenticateRequest {
                login: login.into(),
                password,
                client_ip: format!("192.0.2.{from}"),
            })
            .await
            .map(tonic::Response::into_inner)
    };
    // The limit (10 per account), half through each replica.
    for i in 0..10 {
        let replica = if i % 2 == 0 { &on_a } else { &on_b };
        let answer = attempt(replica.clone(), format!("wrong guess {i}"), i)
            .await
            .unwrap_or_else(|e| panic!("guess {i} is answered, not throttled yet: {e:?}"));
        assert!(!answer.allowed);
    }
    // Failures are announced after their answers, so the last ones are
    // still in flight (docs/rules.md, "Throttle limits"): the change feed
    // takes milliseconds, seconds at most on a loaded machine.
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    // Each replica, once it has heard of the other's failures, refuses even
    // the right password until the window ends.
    for (name, replica) in [("A", &on_a), ("B", &on_b)] {
        let started = Instant::now();
        loop {
            match attempt(replica.clone(), password_for(login), 200).await {
                Err(status) if status.code() == Code::ResourceExhausted => break,
                other => {
                    assert!(
                        started.elapsed() < REPLICA_DEADLINE,
                        "replica {name} still answers after 10 failures across both: {other:?}"
                    );
                    assert!(
                        !other.as_ref().is_ok_and(|a| a.allowed),
                        "replica {name} let the right password in after 10 failures across \
                         both replicas (it counted only its own)"
                    );
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            }
        }
    }
    a.assert_running();
    b.assert_running();
}
