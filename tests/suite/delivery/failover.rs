//! The typed client over several replicas (docs/rules.md, "Replicas"): a
//! replica that refuses connections costs nothing, one that goes silent
//! costs the one call that waited on it, and one that comes back is probed
//! back into rotation. The client's observer hooks report each of these.

use super::{allowed, deliver, ip};
use crate::harness::*;
use mailadmin_client::{CallEvent, CallOutcome, DeliveryClient, Observer, Verdict};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A loopback port nothing listens on: a replica that refuses connections.
const REFUSING: &str = "http://127.0.0.1:1";

/// What the client reported, in order.
#[derive(Default)]
struct Recorded {
    events: Mutex<Vec<String>>,
}

impl Observer for Recorded {
    fn call_finished(&self, event: &CallEvent<'_>) {
        let outcome = match event.outcome {
            CallOutcome::Ok => "ok".to_string(),
            CallOutcome::Status(code) => format!("{code:?}"),
            CallOutcome::Timeout => "timeout".to_string(),
        };
        self.push(format!("{} {} {outcome}", event.method, event.replica));
    }

    fn replica_down(&self, replica: &str, _reason: &str) {
        self.push(format!("down {replica}"));
    }

    fn replica_up(&self, replica: &str) {
        self.push(format!("up {replica}"));
    }
}

impl Recorded {
    fn push(&self, event: String) {
        self.events.lock().unwrap().push(event);
    }

    fn count(&self, wanted: &str) -> usize {
        let events = self.events.lock().unwrap();
        events.iter().filter(|e| e.as_str() == wanted).count()
    }

    fn all(&self) -> Vec<String> {
        self.events.lock().unwrap().clone()
    }
}

fn client_over(
    replicas: &[&str],
    token: &str,
    timeout: Duration,
    observer: &Arc<Recorded>,
) -> DeliveryClient {
    replicas
        .iter()
        .fold(DeliveryClient::builder(token), |b, url| b.replica(url))
        .timeout(timeout)
        .observer(observer.clone())
        .build()
        .expect("a client over the replicas")
}

/// The first replica refuses connections: every call, logins included,
/// moves on to the live one within its timeout, the dead one is tried once
/// and reported down once.
async fn a_refusing_replica_costs_no_temporary_failure(s: &mut TestServer) {
    let org = s.create_org("Acme", Plan::Entry).await;
    let alice = s.create_user(&org.admin, org.id, "alice", Plan::Free).await;
    let token = s.delivery_token().await;
    let live = format!("http://{}", s.addr);
    let seen = Arc::new(Recorded::default());
    let client = client_over(&[REFUSING, &live], &token, Duration::from_secs(10), &seen);

    let address = address_for("alice");
    for _ in 0..10 {
        assert_eq!(client.check_recipient(&address).await, deliver(&alice));
    }
    assert_eq!(
        client
            .authenticate("alice", &password_for("alice"), ip("192.0.2.1"))
            .await,
        allowed(&alice),
        "a login is sent on when the first replica could not be connected to"
    );
    assert_eq!(
        client.allowed_senders("alice").await,
        Some(vec![address.clone()])
    );
    let mut stream = client.stream().await.expect("a stream on the live replica");
    assert_eq!(
        stream.check(std::slice::from_ref(&address)).await,
        vec![deliver(&alice)]
    );

    assert_eq!(
        seen.count(&format!("down {REFUSING}")),
        1,
        "{:?}",
        seen.all()
    );
    let attempts_on_dead = seen
        .all()
        .iter()
        .filter(|e| !e.starts_with("down") && e.contains(REFUSING))
        .count();
    assert_eq!(
        attempts_on_dead,
        1,
        "once down, the refusing replica is not asked again: {:?}",
        seen.all()
    );
    assert_eq!(
        seen.count(&format!("CheckRecipient {live} ok")),
        10,
        "{:?}",
        seen.all()
    );
}

/// The first replica accepts connections and never answers: the call that
/// waited on it is a temporary failure (never a refusal), and from then on
/// the live replica answers everything.
async fn a_silent_replica_is_set_aside_after_one_timeout(s: &mut TestServer) {
    let org = s.create_org("Acme", Plan::Entry).await;
    let alice = s.create_user(&org.admin, org.id, "alice", Plan::Free).await;
    let token = s.delivery_token().await;
    let live = format!("http://{}", s.addr);
    let silent = SilentServer::start().await;
    let seen = Arc::new(Recorded::default());
    let client = client_over(
        &[&silent.url, &live],
        &token,
        Duration::from_millis(500),
        &seen,
    );
    let address = address_for("alice");

    let first = client.check_recipient(&address).await;
    assert!(
        first.is_temporary(),
        "the call on the silent replica: {first:?}"
    );
    for _ in 0..10 {
        assert_eq!(client.check_recipient(&address).await, deliver(&alice));
    }
    assert_eq!(
        seen.count(&format!("down {}", silent.url)),
        1,
        "{:?}",
        seen.all()
    );
    assert_eq!(
        seen.count(&format!("CheckRecipient {} timeout", silent.url)),
        1,
        "{:?}",
        seen.all()
    );
}

/// The only replica stops: calls are temporary failures and the replica is
/// reported down; once it is back, a background probe reports it up and
/// calls are answered again, without a new client.
async fn a_replica_that_comes_back_is_probed_into_rotation(s: &mut TestServer) {
    let org = s.create_org("Acme", Plan::Entry).await;
    let alice = s.create_user(&org.admin, org.id, "alice", Plan::Free).await;
    let token = s.delivery_token().await;
    let url = format!("http://{}", s.addr);
    let seen = Arc::new(Recorded::default());
    let client = client_over(&[&url], &token, Duration::from_secs(2), &seen);
    let address = address_for("alice");
    assert_eq!(client.check_recipient(&address).await, deliver(&alice));

    s.stop().await;
    assert!(matches!(
        client.check_recipient(&address).await,
        Verdict::TempFail { .. }
    ));
    assert_eq!(seen.count(&format!("down {url}")), 1, "{:?}", seen.all());

    s.restart().await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while seen.count(&format!("up {url}")) == 0 {
        assert!(
            Instant::now() < deadline,
            "no probe found the replica back within 30 s: {:?}",
            seen.all()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(client.check_recipient(&address).await, deliver(&alice));
}

backend_tests!(
    a_refusing_replica_costs_no_temporary_failure,
    a_silent_replica_is_set_aside_after_one_timeout,
    a_replica_that_comes_back_is_probed_into_rotation
);

/// A TCP server that accepts connections, reads what comes and never says
/// a word: a replica whose process hangs.
struct SilentServer {
    url: String,
    task: tokio::task::JoinHandle<()>,
}

impl SilentServer {
    async fn start() -> SilentServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binding a loopback port");
        let url = format!("http://{}", listener.local_addr().expect("its address"));
        let task = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                held.push(socket);
            }
        });
        SilentServer { url, task }
    }
}

impl Drop for SilentServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}
