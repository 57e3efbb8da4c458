//! The bridge's verdict cache (docs/rules.md, "Mail-server bridge"): with
//! it, a change made in the control plane reaches Postfix at most the TTL
//! late; without it (TTL 0), at once.

use super::edges::lookup;
use super::*;
use crate::harness::*;
use mailadmin_client::VerdictCache;

async fn a_change_reaches_the_bridge_at_most_a_ttl_late(s: &TestServer) {
    let org = s.create_org("Acme", Plan::Entry).await;
    let alice = s.create_user(&org.admin, org.id, "alice", Plan::Free).await;
    let client = delivery_client(s).await;
    let uncached = serve_socketmap(client.clone()).await;
    let short = Duration::from_millis(300);
    let cached_long = serve_lookups(Lookups::with_cache(
        client.clone(),
        VerdictCache::new(Duration::from_secs(600), 100),
    ))
    .await;
    let cached_short =
        serve_lookups(Lookups::with_cache(client, VerdictCache::new(short, 100))).await;
    let request = "mailboxes alice@mailadmin.example";
    let found = "OK mailadmin.example/alice/";
    for bridge in [&uncached, &cached_long, &cached_short] {
        assert_eq!(lookup(bridge.addr, request).await, found);
    }

    org.disable(alice.id).await;
    assert_eq!(
        lookup(uncached.addr, request).await,
        "NOTFOUND ",
        "no cache: at once"
    );
    assert_eq!(
        lookup(cached_long.addr, request).await,
        found,
        "within the TTL the cached verdict answers"
    );
    tokio::time::sleep(short * 2).await;
    assert_eq!(
        lookup(cached_short.addr, request).await,
        "NOTFOUND ",
        "after the TTL the change is seen"
    );
}

/// With the directory watched, a verdict is kept past any TTL until the
/// control plane's directory changes, and the change reaches the bridge as
/// soon as the version does; while the watch is down (the server stopped),
/// the TTL decides again.
async fn a_watched_directory_keeps_verdicts_until_it_changes(s: &mut TestServer) {
    use mailadmin_client::{CallEvent, Observer};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[derive(Default)]
    struct Checks(AtomicUsize);
    impl Observer for Checks {
        fn call_finished(&self, event: &CallEvent<'_>) {
            if event.method.starts_with("CheckRecipient") {
                self.0.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    let org = s.create_org("Acme", Plan::Entry).await;
    let alice = s.create_user(&org.admin, org.id, "alice", Plan::Free).await;
    let checks = Arc::new(Checks::default());
    let client = DeliveryClient::builder(&s.delivery_token().await)
        .replica(&format!("http://{}", s.addr))
        .timeout(TIMEOUT)
        .observer(checks.clone())
        .watch_directory(true)
        .build()
        .unwrap();
    let bridge = serve_lookups(Lookups::with_cache(
        client,
        VerdictCache::new(Duration::from_millis(200), 100),
    ))
    .await;
    let request = "mailboxes alice@mailadmin.example";
    let found = "OK mailadmin.example/alice/";

    // The first answers may come before the watch is open (then the TTL
    // holds them); once it is, one more question is kept for good.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        assert_eq!(lookup(bridge.addr, request).await, found);
        let asked = checks.0.load(Ordering::Relaxed);
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(lookup(bridge.addr, request).await, found);
        if checks.0.load(Ordering::Relaxed) == asked {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "past its 200 ms TTL, the verdict was never kept"
        );
    }

    org.disable(alice.id).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while lookup(bridge.addr, request).await != "NOTFOUND " {
        assert!(
            std::time::Instant::now() < deadline,
            "the disabled account was still found 10 s later"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // The server stopped, the watch ends: the kept verdict lasts its TTL,
    // then the bridge says "retry".
    s.stop().await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    let answer = lookup(bridge.addr, request).await;
    assert!(answer.starts_with("TEMP "), "{answer}");
    s.restart().await;
}

backend_tests!(
    a_change_reaches_the_bridge_at_most_a_ttl_late,
    a_watched_directory_keeps_verdicts_until_it_changes
);
