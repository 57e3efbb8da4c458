//! What happens to addresses when aliases, accounts and domains go away:
//! provider addresses stay reserved, custom ones are freed, a domain in use
//! stays.

use super::{
    add_alias, addresses_of, alias, assert_resolves, create_at, delete_alias, disable_and_delete,
    remove_domain,
};
use crate::dns_server::TestDns;
use crate::harness::*;
use mailadmin_client::pb;
use pb::{AddressKind, Resolution};
use tonic::Code;

/// Provider-domain addresses can never be deleted, and stay reserved after
/// the account is deleted (docs/rules.md, "Provider domains"): nobody (in
/// any organization) gets them again, as primary or alias; mail to them is
/// UNKNOWN.
async fn provider_addresses_stay_reserved(s: &TestServer) {
    let a = s.create_org("Alpha", Plan::Entry).await;
    let b = s.create_org("Bravo", Plan::Pro).await;
    let alice = s.create_user(&a.admin, a.id, "alice", Plan::Entry).await;
    let bob = s.create_user(&a.admin, a.id, "bob", Plan::Entry).await;
    let extra = alias(&a.admin, alice.id, "Alice.Extra@MailAdmin.Example").await;
    assert_eq!(extra.address, "alice.extra@mailadmin.example");
    assert_eq!(extra.kind, AddressKind::Alias as i32);
    assert!(extra.provider_domain);

    assert_code(
        delete_alias(&a.admin, alice.id, "alice.extra@mailadmin.example").await,
        Code::FailedPrecondition,
    );
    assert_code(
        delete_alias(&s.operator(), alice.id, "alice.extra@mailadmin.example").await,
        Code::FailedPrecondition,
    );
    assert_code(
        delete_alias(&a.admin, alice.id, &address_for("alice")).await,
        Code::FailedPrecondition,
    );
    assert_eq!(
        addresses_of(&a.admin, alice.id).await,
        vec![
            address_for("alice"),
            "alice.extra@mailadmin.example".to_string()
        ]
    );

    disable_and_delete(&a, alice.id).await;
    for (org, username, address) in [
        (&b, "alice.again", "alice@mailadmin.example"),
        (&a, "alice.three", "Alice.Extra@mailadmin.example"),
        (&b, "alice.four", "ALICE.EXTRA@MAILADMIN.EXAMPLE"),
    ] {
        assert_code(
            create_at(org, username, address, Plan::Free).await,
            Code::AlreadyExists,
        );
    }
    for address in ["alice@mailadmin.example", "ALICE.EXTRA@mailadmin.example"] {
        assert_code(
            add_alias(&a.admin, bob.id, address).await,
            Code::AlreadyExists,
        );
    }
    for address in ["alice@mailadmin.example", "alice.extra@mailadmin.example"] {
        assert_resolves(&s.operator(), address, Resolution::Unknown, None).await;
    }
}

/// An alias on the organization's own domain may be deleted and the
/// address is free again at once (docs/rules.md, "Aliases"); deleting an
/// account frees its custom-domain addresses (primary and aliases) for
/// others (docs/rules.md, "Deleting an account").
async fn custom_addresses_are_freed(s: &TestServer, dns: &TestDns) {
    let org = s.create_org("Acme", Plan::Pro).await;
    let domain = s.verified_domain(&org, dns, "team.example").await;
    let alice = s
        .create_user(&org.admin, org.id, "alice", Plan::Entry)
        .await;
    let bob = s.create_user(&org.admin, org.id, "bob", Plan::Entry).await;

    let sales = alias(&org.admin, alice.id, "sales@team.example").await;
    assert!(!sales.provider_domain);
    assert_code(
        add_alias(&org.admin, bob.id, "Sales@Team.Example").await,
        Code::AlreadyExists,
    );
    assert_code(
        delete_alias(&org.admin, bob.id, "sales@team.example").await,
        Code::NotFound,
    );
    ok(delete_alias(&org.admin, alice.id, "SALES@team.example").await);
    assert_eq!(
        addresses_of(&org.admin, alice.id).await,
        vec![address_for("alice")]
    );
    assert_code(
        delete_alias(&org.admin, alice.id, "sales@team.example").await,
        Code::NotFound,
    );
    alias(&org.admin, bob.id, "sales@team.example").await;

    // A deleted account's custom addresses go back to the pool.
    let carol = s
        .create_user_at(&org, "carol", "carol@team.example", Plan::Entry)
        .await;
    alias(&org.admin, carol.id, "c.extra@team.example").await;
    disable_and_delete(&org, carol.id).await;
    let dave = s
        .create_user_at(&org, "dave", "carol@team.example", Plan::Entry)
        .await;
    assert_eq!(dave.primary_address, "carol@team.example");
    alias(&org.admin, bob.id, "c.extra@team.example").await;
    assert_eq!(s.get_domain(&org, domain.id).await.address_count, 3);

    // The new holder of the address logs in with it.
    match s.login("carol@team.example", &password_for("dave")).await {
        Ok(login) => assert_eq!(
            login.into_inner().user_id,
            dave.id,
            "Login by primary address reaches its current holder"
        ),
        Err(status) => panic!(
            "Login(carol@team.example) as its new holder dave: expected OK, got {:?}: {}",
            status.code(),
            status.message()
        ),
    }
}

/// A domain with addresses cannot be removed (FAILED_PRECONDITION with the
/// count); once they are gone it can (docs/rules.md, "Removal").
async fn removing_a_domain_in_use(s: &TestServer, dns: &TestDns) {
    let org = s.create_org("Acme", Plan::Pro).await;
    let domain = s.verified_domain(&org, dns, "busy.example").await;
    let alice = s
        .create_user_at(&org, "alice", "alice@busy.example", Plan::Entry)
        .await;
    let bob = s.create_user(&org.admin, org.id, "bob", Plan::Entry).await;
    alias(&org.admin, bob.id, "b1@busy.example").await;
    alias(&org.admin, bob.id, "b2@busy.example").await;
    assert_eq!(s.get_domain(&org, domain.id).await.address_count, 3);

    let status = assert_code(
        remove_domain(s, &org, domain.id).await,
        Code::FailedPrecondition,
    );
    assert!(
        status.message().contains('3'),
        "the refusal gives the count (3): {:?}",
        status.message()
    );
    ok(delete_alias(&org.admin, bob.id, "b1@busy.example").await);
    ok(delete_alias(&org.admin, bob.id, "b2@busy.example").await);
    assert_eq!(s.get_domain(&org, domain.id).await.address_count, 1);
    let status = assert_code(
        remove_domain(s, &org, domain.id).await,
        Code::FailedPrecondition,
    );
    assert!(
        status.message().contains('1'),
        "the refusal gives the count (1): {:?}",
        status.message()
    );
    assert_eq!(
        s.get_domain(&org, domain.id).await.state,
        pb::DomainState::Verified as i32,
        "a refused removal changes nothing"
    );

    disable_and_delete(&org, alice.id).await;
    assert_eq!(s.get_domain(&org, domain.id).await.address_count, 0);
    ok(remove_domain(s, &org, domain.id).await);
    assert_code(
        s.domains(&org)
            .get_domain(pb::GetDomainRequest {
                domain_id: domain.id,
            })
            .await,
        Code::NotFound,
    );
    // Gone for good: no address may be created on it, and it can be claimed
    // again from scratch.
    assert_invalid(
        add_alias(&org.admin, bob.id, "b3@busy.example").await,
        "address",
    );
    s.add_domain(&org, "busy.example").await;
}

backend_tests!(
    provider_addresses_stay_reserved,
    custom_addresses_are_freed: TestDns,
    removing_a_domain_in_use: TestDns,
);
