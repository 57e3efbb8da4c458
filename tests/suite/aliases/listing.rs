//! ListAliases as the user itself: its own addresses, in order, read-only.

use super::{add_alias, alias, delete_alias, list_aliases, try_resolve};
use crate::harness::*;
use mailadmin_client::pb;
use pb::AddressKind;
use tonic::Code;

/// A user lists its own addresses (primary first, then aliases in creation
/// order), not another account's; it cannot change them
/// (docs/rules.md, "Aliases").
async fn list_aliases_as_the_user(s: &TestServer) {
    let org = s.create_org("Acme", Plan::Entry).await;
    let alice = s
        .create_user(&org.admin, org.id, "alice", Plan::Entry)
        .await;
    let bob = s.create_user(&org.admin, org.id, "bob", Plan::Entry).await;
    alias(&org.admin, alice.id, "alice.zed@mailadmin.example").await;
    alias(&org.admin, alice.id, "alice.abc@mailadmin.example").await;

    let own = s.user_client("alice").await;
    let listed = ok(list_aliases(&own, alice.id).await).addresses;
    let summary: Vec<(&str, i32, bool)> = listed
        .iter()
        .map(|a| (a.address.as_str(), a.kind, a.provider_domain))
        .collect();
    assert_eq!(
        summary,
        vec![
            ("alice@mailadmin.example", AddressKind::Primary as i32, true),
            (
                "alice.zed@mailadmin.example",
                AddressKind::Alias as i32,
                true
            ),
            (
                "alice.abc@mailadmin.example",
                AddressKind::Alias as i32,
                true
            ),
        ]
    );
    for address in &listed {
        assert_eq!(address.display, address.address, "ASCII shows as is");
        assert!(address.created_at.is_some(), "{address:?}");
    }
    assert_eq!(
        ok(list_aliases(&org.admin, alice.id).await).addresses,
        listed,
        "the admin sees the same list"
    );

    assert_code(list_aliases(&own, bob.id).await, Code::NotFound);
    assert_code(list_aliases(&own, org.master.id).await, Code::NotFound);
    assert_code(
        add_alias(&own, alice.id, "alice.more@mailadmin.example").await,
        Code::PermissionDenied,
    );
    assert_code(
        delete_alias(&own, alice.id, "alice.abc@mailadmin.example").await,
        Code::PermissionDenied,
    );
    assert_code(
        try_resolve(&own, "alice@mailadmin.example").await,
        Code::PermissionDenied,
    );
}

backend_tests!(list_aliases_as_the_user);
