//! ResolveAddress: exact addresses, sub-addresses, role addresses and the
//! verdicts for disabled, deleted and non-local addresses.

use super::{add_alias, alias, assert_resolves, create_at, delete_alias};
use crate::dns_server::TestDns;
use crate::harness::*;
use mailadmin_client::pb;
use pb::{MatchKind, Resolution};
use tonic::Code;

/// The setup these tests share: organization Acme (a Pro master) with the
/// custom domain `name` (ACTIVE, or only VERIFIED), alice (Entry) whose
/// primary address is `alice@<name>`, and bob (Entry) on the provider
/// domain.
struct Acme {
    org: Org,
    domain: pb::Domain,
    alice: pb::User,
    bob: pb::User,
}

impl Acme {
    async fn start(s: &TestServer, dns: &TestDns, name: &str, active: bool) -> Acme {
        let org = s.create_org("Acme", Plan::Pro).await;
        let domain = if active {
            s.active_domain(&org, dns, name).await
        } else {
            s.verified_domain(&org, dns, name).await
        };
        let alice = s
            .create_user_at(&org, "alice", &format!("alice@{name}"), Plan::Entry)
            .await;
        let bob = s.create_user(&org.admin, org.id, "bob", Plan::Entry).await;
        Acme {
            org,
            domain,
            alice,
            bob,
        }
    }
}

/// Role addresses (docs/rules.md, "Role addresses"): never a primary
/// address (custom or provider domain), refused as aliases on the provider
/// domain; on an ACTIVE custom domain they reach the master account
/// (ROLE_DEFAULT) until an alias takes one over (EXACT), and again once
/// that alias is deleted.
async fn role_addresses(s: &TestServer, dns: &TestDns) {
    let Acme {
        org, alice, bob, ..
    } = Acme::start(s, dns, "acme.example", true).await;
    let master = org.master.clone();

    let mut failures = Vec::new();
    for (i, address) in [
        "postmaster@acme.example",
        "Support@Acme.Example",
        "abuse@acme.example",
        "postmaster@mailadmin.example",
        "abuse@MailAdmin.Example",
    ]
    .into_iter()
    .enumerate()
    {
        if let Err(e) = check_invalid(
            create_at(&org, &format!("role{i}"), address, Plan::Free).await,
            "account.primary_address",
        ) {
            failures.push(format!("CreateUser(primary {address:?}): {e}"));
        }
    }
    for address in [
        "postmaster@mailadmin.example",
        "support@mailadmin.example",
        "ABUSE@mailadmin.example",
    ] {
        if let Err(e) = check_invalid(add_alias(&org.admin, bob.id, address).await, "address") {
            failures.push(format!("AddAlias({address:?}): {e}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    let admin = &org.admin;
    let answer = assert_resolves(
        admin,
        "postmaster@acme.example",
        Resolution::Deliver,
        Some((&master, MatchKind::RoleDefault)),
    )
    .await;
    assert_eq!(answer.normalized, "postmaster@acme.example");
    let answer = assert_resolves(
        admin,
        "Abuse@ACME.example",
        Resolution::Deliver,
        Some((&master, MatchKind::RoleDefault)),
    )
    .await;
    assert_eq!(answer.normalized, "abuse@acme.example");
    assert_resolves(
        admin,
        "abuse+report@acme.example",
        Resolution::Deliver,
        Some((&master, MatchKind::RoleDefault)),
    )
    .await;

    alias(admin, alice.id, "Postmaster@acme.example").await;
    assert_resolves(
        admin,
        "postmaster@acme.example",
        Resolution::Deliver,
        Some((&alice, MatchKind::Exact)),
    )
    .await;
    assert_resolves(
        admin,
        "support@acme.example",
        Resolution::Deliver,
        Some((&master, MatchKind::RoleDefault)),
    )
    .await;
    assert_code(
        add_alias(admin, bob.id, "postmaster@acme.example").await,
        Code::AlreadyExists,
    );

    ok(delete_alias(admin, alice.id, "postmaster@acme.example").await);
    assert_resolves(
        admin,
        "postmaster@acme.example",
        Resolution::Deliver,
        Some((&master, MatchKind::RoleDefault)),
    )
    .await;
    // Free again: another user may take it over.
    alias(admin, bob.id, "postmaster@acme.example").await;
    assert_resolves(
        &s.operator(),
        "POSTMASTER@acme.example",
        Resolution::Deliver,
        Some((&bob, MatchKind::Exact)),
    )
    .await;
}

/// `local+tag@domain` reaches the owner of `local@domain` (SUBADDRESS), for
/// primary addresses and aliases, custom and provider domains; the exact
/// address is EXACT (docs/rules.md, "Resolution order").
async fn subaddress_resolution(s: &TestServer, dns: &TestDns) {
    let Acme {
        org, alice, bob, ..
    } = Acme::start(s, dns, "acme.example", true).await;
    alias(&org.admin, alice.id, "sales@acme.example").await;
    let admin = &org.admin;

    assert_resolves(
        admin,
        "alice@acme.example",
        Resolution::Deliver,
        Some((&alice, MatchKind::Exact)),
    )
    .await;
    let answer = assert_resolves(
        admin,
        "Alice+News@Acme.Example",
        Resolution::Deliver,
        Some((&alice, MatchKind::Subaddress)),
    )
    .await;
    assert_eq!(answer.normalized, "alice+news@acme.example");
    assert_resolves(
        admin,
        "sales@acme.example",
        Resolution::Deliver,
        Some((&alice, MatchKind::Exact)),
    )
    .await;
    assert_resolves(
        admin,
        "sales+q1@acme.example",
        Resolution::Deliver,
        Some((&alice, MatchKind::Subaddress)),
    )
    .await;
    assert_resolves(
        admin,
        "bob+lists@mailadmin.example",
        Resolution::Deliver,
        Some((&bob, MatchKind::Subaddress)),
    )
    .await;
    assert_resolves(admin, "nobody+x@acme.example", Resolution::Unknown, None).await;
}

/// The verdicts (docs/rules.md, "Resolution order"): NOT_LOCAL for a
/// domain that is VERIFIED but not
/// ACTIVE (and for a foreign domain), UNKNOWN for an unknown local part,
/// DISABLED for a disabled account, UNKNOWN for a deleted account's provider
/// address.
async fn resolution_verdicts(s: &TestServer, dns: &TestDns) {
    let Acme {
        org,
        domain,
        alice,
        bob,
    } = Acme::start(s, dns, "later.example", false).await;
    let admin = &org.admin;

    for address in ["alice@later.example", "postmaster@later.example"] {
        assert_resolves(admin, address, Resolution::NotLocal, None).await;
    }
    assert_resolves(
        &s.operator(),
        "someone@elsewhere.example",
        Resolution::NotLocal,
        None,
    )
    .await;

    publish_all(dns, &domain, &[pb::RecordPurpose::Mx]);
    let activated = ok(s
        .domains(&org)
        .activate_domain(pb::ActivateDomainRequest {
            domain_id: domain.id,
        })
        .await);
    assert!(activated.activated, "{activated:?}");
    assert_resolves(
        admin,
        "alice@later.example",
        Resolution::Deliver,
        Some((&alice, MatchKind::Exact)),
    )
    .await;
    assert_resolves(admin, "nobody@later.example", Resolution::Unknown, None).await;

    org.disable(alice.id).await;
    assert_resolves(
        admin,
        "alice@later.example",
        Resolution::Disabled,
        Some((&alice, MatchKind::Exact)),
    )
    .await;
    assert_resolves(
        admin,
        "alice+x@later.example",
        Resolution::Disabled,
        Some((&alice, MatchKind::Subaddress)),
    )
    .await;
    ok(admin
        .clone()
        .enable_user(pb::EnableUserRequest { user_id: alice.id })
        .await);
    assert_resolves(
        admin,
        "alice@later.example",
        Resolution::Deliver,
        Some((&alice, MatchKind::Exact)),
    )
    .await;

    ok(s.domains(&org)
        .deactivate_domain(pb::DeactivateDomainRequest {
            domain_id: domain.id,
        })
        .await);
    assert_resolves(admin, "alice@later.example", Resolution::NotLocal, None).await;

    assert_resolves(
        admin,
        &address_for("bob"),
        Resolution::Deliver,
        Some((&bob, MatchKind::Exact)),
    )
    .await;
    org.disable(bob.id).await;
    assert_resolves(
        admin,
        &address_for("bob"),
        Resolution::Disabled,
        Some((&bob, MatchKind::Exact)),
    )
    .await;
    org.delete_user(bob.id).await;
    assert_resolves(admin, &address_for("bob"), Resolution::Unknown, None).await;
    assert_resolves(
        &s.operator(),
        &address_for("bob"),
        Resolution::Unknown,
        None,
    )
    .await;
}

backend_tests!(
    role_addresses: TestDns,
    subaddress_resolution: TestDns,
    resolution_verdicts: TestDns,
);
