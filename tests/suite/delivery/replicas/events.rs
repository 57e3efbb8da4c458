//! Account events across two replicas (docs/rules.md, "Account events"):
//! a watcher on B hears of a change made through A as soon as B's change
//! feed brings it, and resuming on A with B's cursor continues the same
//! numbering.

use super::{Replicas, free_user};
use crate::harness::*;
use mailadmin_client::pb;

async fn next_event(stream: &mut tonic::Streaming<pb::AccountEvent>) -> pb::AccountEvent {
    tokio::time::timeout(super::REPLICA_DEADLINE, stream.message())
        .await
        .expect("an event within the replica deadline")
        .expect("the stream goes on")
        .expect("an event")
}

pub(super) async fn events_follow_across_replicas(url: &str) {
    let Replicas {
        dir: _dir,
        mut a,
        mut b,
        mut admin_a,
        org_id,
        mta_token,
        ..
    } = Replicas::start(url, url, "Events").await;
    let watch = |channel: tonic::transport::Channel, after: i64| {
        let token = mta_token.clone();
        async move {
            pb::delivery_service_client::DeliveryServiceClient::with_interceptor(
                channel,
                Bearer::token(&token),
            )
            .watch_account_events(pb::WatchAccountEventsRequest { after })
            .await
            .expect("the stream opens")
            .into_inner()
        }
    };
    let channel_b = b.channel().await;
    // The organization's master was event 1.
    let mut on_b = watch(channel_b, 1).await;

    let alice = ok(admin_a.create_user(free_user(org_id, "alice")).await)
        .user
        .expect("user");
    let created = next_event(&mut on_b).await;
    assert_eq!((created.seq, created.user_id), (2, alice.id));
    ok(admin_a
        .disable_user(pb::DisableUserRequest { user_id: alice.id })
        .await);
    let disabled = next_event(&mut on_b).await;
    assert_eq!(disabled.seq, 3);
    assert_eq!(disabled.kind, pb::AccountEventKind::Disabled as i32);
    b.assert_running();

    // Resumed on A from B's cursor: the same numbering, nothing repeated.
    let mut on_a = watch(a.channel().await, disabled.seq).await;
    ok(admin_a
        .delete_user(pb::DeleteUserRequest { user_id: alice.id })
        .await);
    let deleted = next_event(&mut on_a).await;
    assert_eq!((deleted.seq, deleted.user_id), (4, alice.id));
    assert_eq!(deleted.kind, pb::AccountEventKind::Deleted as i32);
    assert_eq!(next_event(&mut on_b).await, deleted, "B hears of it too");
}
