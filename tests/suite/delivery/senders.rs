//! AllowedSenders: the addresses an account may send as.

use super::Mta;
use crate::harness::*;
use mailadmin_client::pb;

/// AllowedSenders (docs/rules.md, "Allowed senders"): the primary address
/// and the aliases of an
/// enabled account, by username or primary address; nothing for an unknown
/// login, an alias used as login, a disabled or a deleted account.
async fn allowed_senders(s: &TestServer) {
    let org = s.create_org("Acme", Plan::Entry).await;
    let alice = s
        .create_user(&org.admin, org.id, "alice", Plan::Entry)
        .await;
    org.add_alias(alice.id, "alice.smith@mailadmin.example")
        .await;
    org.add_alias(alice.id, "Ali@MailAdmin.Example").await;
    let bob = s.create_user(&org.admin, org.id, "bob", Plan::Free).await;
    let carol = s.create_user(&org.admin, org.id, "carol", Plan::Free).await;
    let mta = Mta::new(s).await;

    let sorted = |mut addresses: Vec<String>| {
        addresses.sort();
        addresses
    };
    let mut expected = vec![
        "alice@mailadmin.example".to_string(),
        "alice.smith@mailadmin.example".to_string(),
        "ali@mailadmin.example".to_string(),
    ];
    expected.sort();
    for login in [
        "alice",
        "ALICE",
        "alice@mailadmin.example",
        "Alice@MailAdmin.Example",
    ] {
        let senders = mta
            .client
            .allowed_senders(login)
            .await
            .unwrap_or_else(|| panic!("AllowedSenders({login:?}) got no answer"));
        assert_eq!(sorted(senders), expected, "AllowedSenders({login:?})");
    }
    assert_eq!(
        mta.client.allowed_senders("bob").await,
        Some(vec![bob.primary_address.clone()])
    );
    for login in [
        "nobody",
        "nobody@mailadmin.example",
        "ali@mailadmin.example",
    ] {
        assert_eq!(
            mta.client.allowed_senders(login).await,
            Some(vec![]),
            "AllowedSenders({login:?})"
        );
    }
    org.disable(bob.id).await;
    assert_eq!(
        mta.client.allowed_senders("bob").await,
        Some(vec![]),
        "a disabled account"
    );
    assert_eq!(
        mta.client.allowed_senders(&address_for("bob")).await,
        Some(vec![]),
        "a disabled account, by address"
    );
    org.disable(carol.id).await;
    org.delete_user(carol.id).await;
    assert_eq!(
        mta.client.allowed_senders("carol").await,
        Some(vec![]),
        "a deleted account"
    );
    // The raw answer for an enabled account, primary address included.
    let raw = ok(mta
        .raw
        .clone()
        .allowed_senders(pb::AllowedSendersRequest {
            login: "alice".into(),
        })
        .await);
    assert!(raw.addresses.contains(&alice.primary_address), "{raw:?}");
}

backend_tests!(allowed_senders);
