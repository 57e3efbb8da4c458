//! `WatchDirectoryVersion` (docs/rules.md, "Directory version"): a mail
//! server's cache learns that a replica's answers may have changed the
//! moment they may have, and the stream ends when the replica stops.

use crate::harness::*;
use mailadmin_client::pb;
use std::time::Duration;
use tonic::Code;

async fn next_version(
    versions: &mut tonic::Streaming<pb::DirectoryVersion>,
) -> Result<Option<pb::DirectoryVersion>, tonic::Status> {
    tokio::time::timeout(Duration::from_secs(10), versions.message())
        .await
        .expect("the stream says something within 10 s")
}

async fn the_version_moves_with_every_change_and_ends_at_shutdown(s: &mut TestServer) {
    let org = s.create_org("Acme", Plan::Entry).await;
    let alice = s.create_user(&org.admin, org.id, "alice", Plan::Free).await;
    s.create_user(&org.admin, org.id, "bob", Plan::Free).await;
    let token = s.delivery_token().await;
    let mut versions = s
        .delivery_pb_client(Some(&token))
        .watch_directory_version(pb::WatchDirectoryVersionRequest {})
        .await
        .expect("a delivery token may watch")
        .into_inner();
    let first = next_version(&mut versions)
        .await
        .unwrap()
        .expect("the current version at once")
        .version;

    org.disable(alice.id).await;
    let moved = next_version(&mut versions)
        .await
        .unwrap()
        .expect("a new version after a change")
        .version;
    assert!(moved > first, "{moved} after {first}");

    // Only mail servers (and operators) may watch.
    let user_token = s.login_token("bob").await;
    let refused = s
        .delivery_pb_client(Some(&user_token))
        .watch_directory_version(pb::WatchDirectoryVersionRequest {})
        .await
        .expect_err("a user token may not watch");
    assert!(
        matches!(
            refused.code(),
            Code::PermissionDenied | Code::Unauthenticated
        ),
        "{refused:?}"
    );

    // Stopping the server ends the stream instead of holding the drain.
    // (Versions sent before, for the token changes since, may still be
    // on their way.)
    s.stop().await;
    let mut last = moved;
    while let Ok(Some(version)) = next_version(&mut versions).await {
        assert!(version.version > last, "versions only grow");
        last = version.version;
    }
    s.restart().await;
}

backend_tests!(the_version_moves_with_every_change_and_ends_at_shutdown);
