//! Where a new address may live, and one address in every spelling
//! (case, IDNA): platform-wide uniqueness after normalization.

use super::{add_alias, addresses_of, alias, create_at, list_aliases};
use crate::dns_server::TestDns;
use crate::harness::*;
use mailadmin_client::pb;
use pb::AddressKind;
use tonic::Code;

/// `John.Doe@Bücher.Example` and `john.doe@xn--bcher-kva.example` are one
/// address (docs/rules.md, "Normalization"): the second is ALREADY_EXISTS
/// as a primary address or as an alias; addresses are stored normalized
/// and shown in Unicode.
async fn idn_addresses_collide(s: &TestServer, dns: &TestDns) {
    let org = s.create_org("Buecher", Plan::Pro).await;
    let domain = s.verified_domain(&org, dns, "Bücher.Example").await;
    assert_eq!(domain.name, "xn--bcher-kva.example");

    let john = s
        .create_user_at(&org, "john.doe", "John.Doe@Bücher.Example", Plan::Entry)
        .await;
    assert_eq!(john.primary_address, "john.doe@xn--bcher-kva.example");
    assert_code(
        create_at(
            &org,
            "john.two",
            "john.doe@xn--bcher-kva.example",
            Plan::Free,
        )
        .await,
        Code::AlreadyExists,
    );
    let mary = s.create_user(&org.admin, org.id, "mary", Plan::Entry).await;
    assert_code(
        add_alias(&org.admin, mary.id, "JOHN.DOE@BÜCHER.EXAMPLE").await,
        Code::AlreadyExists,
    );
    assert_code(
        add_alias(&org.admin, mary.id, "john.doe@XN--BCHER-KVA.example").await,
        Code::AlreadyExists,
    );

    let info = alias(&org.admin, mary.id, "Info@Bücher.Example").await;
    assert_eq!(info.address, "info@xn--bcher-kva.example");
    assert_eq!(info.display, "info@bücher.example");
    assert_eq!(info.kind, AddressKind::Alias as i32);
    assert!(!info.provider_domain);
    assert_code(
        create_at(&org, "info.user", "info@xn--bcher-kva.example", Plan::Free).await,
        Code::AlreadyExists,
    );
    assert_code(
        add_alias(&org.admin, john.id, "INFO@bücher.example").await,
        Code::AlreadyExists,
    );

    let listed = ok(list_aliases(&org.admin, john.id).await).addresses;
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0].display, "john.doe@bücher.example");
    assert_eq!(listed[0].kind, AddressKind::Primary as i32);
    assert_eq!(s.get_domain(&org, domain.id).await.address_count, 2);

    // The Unicode spelling logs in too.
    let login = ok(s
        .login("John.Doe@BÜCHER.example", &password_for("john.doe"))
        .await);
    assert_eq!(login.user_id, john.id);
}

/// Addresses live on the provider domain or on a VERIFIED/ACTIVE domain of
/// the organization (docs/rules.md, "Where addresses may live"): a PENDING
/// domain is FAILED_PRECONDITION, an unknown or another organization's
/// domain INVALID_ARGUMENT naming the field; `+` is refused in a new
/// address.
async fn where_addresses_may_live(s: &TestServer, dns: &TestDns) {
    let a = s.create_org("Alpha", Plan::Pro).await;
    let b = s.create_org("Bravo", Plan::Pro).await;
    s.add_domain(&a, "pending.example").await;
    s.verified_domain(&a, dns, "verified.example").await;
    s.active_domain(&a, dns, "active.example").await;
    s.verified_domain(&b, dns, "bravo.example").await;
    let alice = s.create_user(&a.admin, a.id, "alice", Plan::Entry).await;

    assert_code(
        create_at(&a, "pat", "pat@pending.example", Plan::Free).await,
        Code::FailedPrecondition,
    );
    assert_code(
        add_alias(&a.admin, alice.id, "alice@pending.example").await,
        Code::FailedPrecondition,
    );
    for domain in ["nowhere.example", "bravo.example"] {
        assert_invalid(
            create_at(&a, "nina", &format!("nina@{domain}"), Plan::Free).await,
            "account.primary_address",
        );
        assert_invalid(
            add_alias(&a.admin, alice.id, &format!("alice@{domain}")).await,
            "address",
        );
    }
    assert_invalid(
        add_alias(&a.admin, alice.id, "alice+news@mailadmin.example").await,
        "address",
    );
    assert_eq!(
        addresses_of(&a.admin, alice.id).await,
        vec![address_for("alice")],
        "nothing was added"
    );

    let vera = s
        .create_user_at(&a, "vera", "Vera@Verified.Example", Plan::Entry)
        .await;
    assert_eq!(vera.primary_address, "vera@verified.example");
    s.create_user_at(&a, "andy", "andy@active.example", Plan::Free)
        .await;
    alias(&a.admin, alice.id, "alice@verified.example").await;
    alias(&a.admin, alice.id, "alice@active.example").await;
    let extra = alias(&a.admin, alice.id, "alice.extra@mailadmin.example").await;
    assert!(extra.provider_domain);
    assert_eq!(
        addresses_of(&a.admin, alice.id).await,
        vec![
            address_for("alice"),
            "alice@verified.example".to_string(),
            "alice@active.example".to_string(),
            "alice.extra@mailadmin.example".to_string(),
        ]
    );
}

backend_tests!(
    idn_addresses_collide: TestDns,
    where_addresses_may_live: TestDns,
);
