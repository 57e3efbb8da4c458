//! Tenancy of addresses: another organization's are NOT_FOUND for an org
//! admin; the operator reaches every organization's.

use super::{
    add_alias, addresses_of, alias, assert_resolves, delete_alias, list_aliases, try_resolve,
};
use crate::dns_server::TestDns;
use crate::harness::*;
use mailadmin_client::pb;
use pb::{MatchKind, Resolution};
use tonic::{Code, Status};

/// Another organization's accounts, domains and addresses are NOT_FOUND
/// for an org admin (GetDomain, VerifyDomain, AddAlias, DeleteAlias,
/// ListAliases, ResolveAddress); the operator may resolve anything
/// (docs/rules.md, "Tenancy").
async fn other_organizations_addresses_are_not_found(s: &TestServer, dns: &TestDns) {
    let a = s.create_org("Alpha", Plan::Pro).await;
    let b = s.create_org("Bravo", Plan::Pro).await;
    let domain = s.active_domain(&a, dns, "alpha.example").await;
    let alice = s
        .create_user_at(&a, "alice", "alice@alpha.example", Plan::Entry)
        .await;
    alias(&a.admin, alice.id, "alice.a@mailadmin.example").await;
    let bob = s.create_user(&b.admin, b.id, "bob", Plan::Entry).await;
    let bc = &b.admin;

    let mut failures = Vec::new();
    let mut expect = |what: String, result: Result<(), Status>, code: Code| {
        if let Err(e) = check_code(result, code) {
            failures.push(format!("{what}: {e}"));
        }
    };
    expect(
        "B GetDomain(A's)".into(),
        s.domains(&b)
            .get_domain(pb::GetDomainRequest {
                domain_id: domain.id,
            })
            .await
            .map(|_| ()),
        Code::NotFound,
    );
    expect(
        "B VerifyDomain(A's)".into(),
        s.domains(&b)
            .verify_domain(pb::VerifyDomainRequest {
                domain_id: domain.id,
            })
            .await
            .map(|_| ()),
        Code::NotFound,
    );
    expect(
        "B AddAlias(alice)".into(),
        add_alias(bc, alice.id, "alice.b@mailadmin.example")
            .await
            .map(|_| ()),
        Code::NotFound,
    );
    expect(
        "B DeleteAlias(alice)".into(),
        delete_alias(bc, alice.id, "alice.a@mailadmin.example")
            .await
            .map(|_| ()),
        Code::NotFound,
    );
    expect(
        "B ListAliases(alice)".into(),
        list_aliases(bc, alice.id).await.map(|_| ()),
        Code::NotFound,
    );
    for address in [
        "alice@alpha.example",
        "alice+x@alpha.example",
        "postmaster@alpha.example",
        "nobody@alpha.example",
        "alice.a@mailadmin.example",
    ] {
        expect(
            format!("B ResolveAddress({address:?})"),
            try_resolve(bc, address).await.map(|_| ()),
            Code::NotFound,
        );
    }
    if let Err(e) = check_invalid(add_alias(bc, bob.id, "bob@alpha.example").await, "address") {
        failures.push(format!("B AddAlias(bob, on A's domain): {e}"));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    // Nothing changed.
    assert_eq!(
        addresses_of(&a.admin, alice.id).await,
        vec![
            "alice@alpha.example".to_string(),
            "alice.a@mailadmin.example".to_string()
        ]
    );
    // B resolves its own; A and the operator resolve A's.
    assert_resolves(
        bc,
        &address_for("bob"),
        Resolution::Deliver,
        Some((&bob, MatchKind::Exact)),
    )
    .await;
    for client in [&a.admin, &s.operator()] {
        assert_resolves(
            client,
            "alice@alpha.example",
            Resolution::Deliver,
            Some((&alice, MatchKind::Exact)),
        )
        .await;
        assert_resolves(
            client,
            "postmaster@alpha.example",
            Resolution::Deliver,
            Some((&a.master, MatchKind::RoleDefault)),
        )
        .await;
    }
    assert_resolves(
        &s.operator(),
        &address_for("bob"),
        Resolution::Deliver,
        Some((&bob, MatchKind::Exact)),
    )
    .await;
}

backend_tests!(other_organizations_addresses_are_not_found: TestDns);
