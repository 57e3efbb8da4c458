//! `WatchAccountEvents` (docs/rules.md, "Account events"): what a mailbox
//! store needs to purge a deleted account's data exactly once. Events come
//! in commit order, numbered without gaps; a watcher that hangs up and
//! resumes with its cursor, before or after a server restart, sees each
//! event once; a cursor past the retention is refused.

use crate::harness::*;
use mailadmin_client::{DeliveryClient, EventsError, pb};
use pb::AccountEventKind as K;
use std::time::Duration;
use tonic::Code;

async fn watch(s: &TestServer, token: &str, after: i64) -> tonic::Streaming<pb::AccountEvent> {
    s.delivery_pb_client(Some(token))
        .watch_account_events(pb::WatchAccountEventsRequest { after })
        .await
        .expect("the stream opens")
        .into_inner()
}

/// The next `n` events of `stream`, waiting at most 10 s for each.
async fn take(stream: &mut tonic::Streaming<pb::AccountEvent>, n: usize) -> Vec<pb::AccountEvent> {
    let mut events = Vec::with_capacity(n);
    for _ in 0..n {
        let event = tokio::time::timeout(Duration::from_secs(10), stream.message())
            .await
            .expect("an event within 10 s")
            .expect("the stream goes on")
            .expect("an event");
        events.push(event);
    }
    events
}

fn kinds_of(events: &[pb::AccountEvent], user_id: i64) -> Vec<(K, String)> {
    events
        .iter()
        .filter(|e| e.user_id == user_id)
        .map(|e| (K::try_from(e.kind).unwrap(), e.address.clone()))
        .collect()
}

async fn events_come_in_commit_order_and_resume_exactly_once(s: &mut TestServer) {
    let org = s.create_org("Acme", Plan::Pro).await;
    let token = s.delivery_token().await;
    let alice = s
        .create_user(&org.admin, org.id, "alice", Plan::Entry)
        .await;
    let mut admin = org.admin.clone();
    org.add_alias(alice.id, "ali@mailadmin.example").await;
    org.disable(alice.id).await;
    org.enable(alice.id).await;
    ok(admin
        .suspend_user(pb::SuspendUserRequest { user_id: alice.id })
        .await);
    ok(admin
        .resume_user(pb::ResumeUserRequest { user_id: alice.id })
        .await);
    org.disable(alice.id).await;
    org.delete_user(alice.id).await;

    // Everything so far: the master's creation, then alice's 8 events.
    let mut stream = watch(s, &token, 0).await;
    let all = take(&mut stream, 9).await;
    let seqs: Vec<i64> = all.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, (1..=9).collect::<Vec<_>>(), "numbered without gaps");
    assert_eq!(
        kinds_of(&all, org.master.id),
        vec![(K::Created, org.master.primary_address.clone())]
    );
    let address = address_for("alice");
    let none = String::new;
    assert_eq!(
        kinds_of(&all, alice.id),
        vec![
            (K::Created, address.clone()),
            (K::AddressAdded, "ali@mailadmin.example".to_string()),
            (K::Disabled, none()),
            (K::Enabled, none()),
            (K::Suspended, none()),
            (K::Resumed, none()),
            (K::Disabled, none()),
            (K::Deleted, none()),
        ]
    );
    assert!(all.iter().all(|e| e.organization_id == org.id));

    // A change made while the stream is open arrives on it.
    let bob = s.create_user(&org.admin, org.id, "bob", Plan::Free).await;
    let live = take(&mut stream, 1).await;
    assert_eq!((live[0].seq, live[0].user_id), (10, bob.id));
    drop(stream);

    // Resumed after event 4: events 5 to 10, once each.
    let mut resumed = watch(s, &token, 4).await;
    let rest = take(&mut resumed, 6).await;
    assert_eq!(
        rest.iter().map(|e| e.seq).collect::<Vec<_>>(),
        (5..=10).collect::<Vec<_>>()
    );
    assert_eq!(
        rest,
        all[4..].iter().chain(&live).cloned().collect::<Vec<_>>()
    );

    // A restart ends the stream; resuming from the last event on the new
    // process gives what happened since, and nothing twice.
    s.stop().await;
    let ended = tokio::time::timeout(Duration::from_secs(10), resumed.message())
        .await
        .expect("the stream ends when the server stops");
    assert!(!matches!(ended, Ok(Some(_))), "{ended:?}");
    s.restart().await;
    // (The operator: the snapshot reloaded at start judges sessions by the
    // real clock, and this test's clock is far behind it.)
    let carol = s
        .create_user(&s.operator(), org.id, "carol", Plan::Free)
        .await;
    let mut after_restart = watch(s, &token, 10).await;
    let next = take(&mut after_restart, 1).await;
    assert_eq!((next[0].seq, next[0].user_id), (11, carol.id));
    assert_eq!(K::try_from(next[0].kind).unwrap(), K::Created);
}

/// The client crate's stream resumes by itself across a server restart,
/// and says when the token is refused.
async fn the_client_stream_resumes_on_its_own(s: &mut TestServer) {
    let org = s.create_org("Acme", Plan::Pro).await;
    let url = format!("http://{}", s.addr);
    let client = DeliveryClient::new(&url, &s.delivery_token().await, Duration::from_secs(10))
        .expect("a delivery client");
    let mut events = client.account_events(0);
    let first = events.next().await.expect("the master's creation");
    assert_eq!((first.seq, first.user_id), (1, org.master.id));

    s.stop().await;
    s.restart().await;
    let bob = s
        .create_user(&s.operator(), org.id, "bob", Plan::Free)
        .await;
    let next = tokio::time::timeout(Duration::from_secs(30), events.next())
        .await
        .expect("the stream resumed within 30 s")
        .expect("an event");
    assert_eq!((next.seq, next.user_id), (2, bob.id));
    assert_eq!(events.cursor(), 2);

    let stranger =
        DeliveryClient::new(&url, "mat_not_a_token", Duration::from_secs(10)).expect("a client");
    match stranger.account_events(0).next().await {
        Err(EventsError::Refused(Code::Unauthenticated, _)) => {}
        other => panic!("expected a refusal, got {other:?}"),
    }
}

/// Events kept one day, swept every 50 ms.
struct OneDayOfEvents;

impl Fixture for OneDayOfEvents {
    async fn start() -> Self {
        OneDayOfEvents
    }
    fn configure(&self, settings: &mut mailadmin_server::Settings) {
        settings.account_event_retention = Duration::from_secs(24 * 3600);
        settings.account_event_sweep_interval = Duration::from_millis(50);
    }
}

async fn a_cursor_past_the_retention_is_refused(s: &TestServer, _retention: &OneDayOfEvents) {
    let org = s.create_org("Acme", Plan::Pro).await;
    let token = s.delivery_token().await;
    s.create_user(&org.admin, org.id, "alice", Plan::Free).await;
    s.advance(chrono::Duration::days(2));
    // (The operator: the admin's 12-hour session has expired.)
    s.create_user(&s.operator(), org.id, "bob", Plan::Free)
        .await;

    // The sweep drops the two events older than a day; bob's (3) stays.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let status = loop {
        match s
            .delivery_pb_client(Some(&token))
            .watch_account_events(pb::WatchAccountEventsRequest { after: 0 })
            .await
        {
            Err(status) => break status,
            Ok(_) => {
                assert!(
                    std::time::Instant::now() < deadline,
                    "the old events were never swept"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };
    assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
    assert!(status.message().contains("resync"), "{status:?}");

    let mut stream = watch(s, &token, 2).await;
    let kept = take(&mut stream, 1).await;
    assert_eq!(kept[0].seq, 3);
    assert_invalid(
        s.delivery_pb_client(Some(&token))
            .watch_account_events(pb::WatchAccountEventsRequest { after: -1 })
            .await,
        "after",
    );
}

backend_tests!(
    events_come_in_commit_order_and_resume_exactly_once,
    the_client_stream_resumes_on_its_own,
    a_cursor_past_the_retention_is_refused: OneDayOfEvents
);
