//! Graceful shutdown: calls in flight when the shutdown starts finish
//! normally; the server then stops and refuses new connections.

use crate::harness::*;
use mailadmin_client::pb;
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio::time::{Instant, sleep, timeout};
use tonic::Status;
use tonic::transport::Endpoint;

type LoginCall = JoinHandle<Result<pb::LoginResponse, Status>>;

fn start_logins(s: &TestServer, count: usize) -> Vec<LoginCall> {
    (0..count)
        .map(|_| {
            let mut client = s.anonymous();
            tokio::spawn(async move {
                client
                    .login(pb::LoginRequest {
                        login: "alice".into(),
                        password: password_for("alice"),
                    })
                    .await
                    .map(tonic::Response::into_inner)
            })
        })
        .collect()
}

/// Eight concurrent Logins (Argon2 makes each take a while); the shutdown
/// starts while they are in flight; all of them answer OK, the server
/// stops, and a new connection fails (docs/rules.md, "Shutdown").
async fn graceful_shutdown_finishes_in_flight_calls(s: &mut TestServer) {
    let org = s.create_org("Acme", Plan::Pro).await;
    s.create_user(&org.admin, org.id, "alice", Plan::Free).await;
    let mut running = s.take_running();
    assert_eq!(running.in_flight(), 0, "idle server has nothing in flight");

    // Start a batch and wait until the server is serving some of it. If a
    // batch completes before it is ever seen in flight, start another.
    let mut calls = Vec::new();
    let mut caught = false;
    let deadline = Instant::now() + Duration::from_secs(10);
    while !caught && Instant::now() < deadline {
        calls = start_logins(s, 8);
        loop {
            if running.in_flight() >= 1 {
                caught = true;
                break;
            }
            if calls.iter().all(JoinHandle::is_finished) || Instant::now() >= deadline {
                break;
            }
            sleep(Duration::from_millis(1)).await;
        }
    }
    assert!(caught, "no call seen in flight within 10 s");
    // Give the rest of the batch a moment to reach the server too.
    let settle = Instant::now() + Duration::from_secs(1);
    while running.in_flight() < calls.len() && Instant::now() < settle {
        if calls.iter().all(JoinHandle::is_finished) {
            break;
        }
        sleep(Duration::from_millis(1)).await;
    }

    running.trigger_shutdown();
    for (i, call) in calls.into_iter().enumerate() {
        let answer = timeout(Duration::from_secs(30), call)
            .await
            .unwrap_or_else(|_| panic!("login {i} did not return within 30 s"))
            .expect("login task panicked");
        match answer {
            Ok(login) => assert!(!login.token.is_empty(), "login {i} returned a token"),
            Err(status) => panic!(
                "login {i} in flight during shutdown failed: {:?}: {}",
                status.code(),
                status.message()
            ),
        }
    }
    timeout(Duration::from_secs(20), running.wait())
        .await
        .expect("the server stops within 20 s of the shutdown")
        .expect("the server stops cleanly");

    // A new connection is refused.
    let endpoint = Endpoint::from_shared(format!("http://{}", s.addr))
        .expect("endpoint")
        .connect_timeout(Duration::from_secs(5));
    match timeout(Duration::from_secs(10), endpoint.connect()).await {
        Ok(Err(_)) => {}
        Ok(Ok(channel)) => {
            let mut client = pb::admin_service_client::AdminServiceClient::new(channel);
            let result = client
                .login(pb::LoginRequest {
                    login: "alice".into(),
                    password: password_for("alice"),
                })
                .await;
            assert!(
                result.is_err(),
                "a stopped server answered a new connection: {result:?}"
            );
        }
        Err(_) => panic!("connecting to a stopped server hung for 10 s"),
    }
}

backend_tests!(graceful_shutdown_finishes_in_flight_calls);
