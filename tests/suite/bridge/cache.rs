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

backend_tests!(a_change_reaches_the_bridge_at_most_a_ttl_late);
