//! Lookups that arrive together leave together (docs/rules.md,
//! "Mail-server bridge"): 200 Postfix connections asking at once through a
//! coalescing bridge each get their own right answer, in fewer
//! `CheckRecipients` calls than lookups; the control plane down, every one
//! of them is told to retry.

use super::edges::lookup;
use super::*;
use crate::harness::*;
use mailadmin_client::{CallEvent, Observer};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Counts the calls the client makes, by kind.
#[derive(Default)]
struct Calls {
    single: AtomicUsize,
    batches: AtomicUsize,
}

impl Observer for Calls {
    fn call_finished(&self, event: &CallEvent<'_>) {
        match event.method {
            "CheckRecipient" => self.single.fetch_add(1, Ordering::Relaxed),
            "CheckRecipients" => self.batches.fetch_add(1, Ordering::Relaxed),
            _ => 0,
        };
    }
}

async fn lookups_asked_together_share_calls(s: &TestServer) {
    let org = s.create_org("Acme", Plan::Pro).await;
    let mut users = Vec::new();
    for n in 0..10 {
        users.push(
            s.create_user(&org.admin, org.id, &format!("user{n}"), Plan::Free)
                .await,
        );
    }
    org.disable(users[9].id).await;
    let calls = Arc::new(Calls::default());
    let client = DeliveryClient::builder(&s.delivery_token().await)
        .replica(&format!("http://{}", s.addr))
        .timeout(TIMEOUT)
        .observer(calls.clone())
        .build()
        .unwrap();
    let bridge = serve_lookups(Lookups::new(client).coalesced(2)).await;

    let asked: Vec<(String, String)> = (0..200)
        .map(|n| match n % 12 {
            9 => (
                "mailboxes user9@mailadmin.example".to_string(),
                "NOTFOUND ".to_string(),
            ),
            10 | 11 => (
                format!("mailboxes nobody{n}@mailadmin.example"),
                "NOTFOUND ".to_string(),
            ),
            i => (
                format!("mailboxes user{i}@mailadmin.example"),
                format!("OK mailadmin.example/user{i}/"),
            ),
        })
        .collect();
    let answers = futures::future::join_all(
        asked
            .iter()
            .map(|(request, _)| lookup(bridge.addr, request)),
    )
    .await;
    for ((request, expected), answer) in asked.iter().zip(&answers) {
        assert_eq!(answer, expected, "{request}");
    }
    let (single, batches) = (
        calls.single.load(Ordering::Relaxed),
        calls.batches.load(Ordering::Relaxed),
    );
    assert!(
        batches > 0 && single + batches < asked.len(),
        "{} lookups took {single} single calls and {batches} batches",
        asked.len()
    );
}

async fn a_coalescing_bridge_without_control_plane_says_retry(_s: &TestServer) {
    let bridge = serve_lookups(Lookups::new(unreachable_client()).coalesced(2)).await;
    let requests: Vec<String> = (0..50)
        .map(|n| format!("mailboxes u{n}@mailadmin.example"))
        .collect();
    let answers =
        futures::future::join_all(requests.iter().map(|request| lookup(bridge.addr, request)))
            .await;
    for answer in answers {
        assert!(answer.starts_with("TEMP "), "{answer}");
    }
}

backend_tests!(
    lookups_asked_together_share_calls,
    a_coalescing_bridge_without_control_plane_says_retry
);
