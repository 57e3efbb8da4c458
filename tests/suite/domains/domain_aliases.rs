//! Domain aliases (docs/rules.md, "Domain aliases"), seen by a mail server
//! through the client crate: user@alias reaches whatever user@target
//! reaches, the alias holds no addresses of its own, and the refusals that
//! keep aliases simple (no chains, one organization, no addresses).

use crate::dns_server::TestDns;
use crate::harness::*;
use mailadmin_client::{DeliveryClient, Verdict, pb};
use std::time::Duration;
use tonic::Code;

fn deliver_to(user: &pb::User) -> Verdict {
    Verdict::Deliver {
        user_id: user.id,
        primary_address: user.primary_address.clone(),
    }
}

async fn add_alias_domain(
    s: &TestServer,
    org: &Org,
    alias: i64,
    target: i64,
) -> Result<tonic::Response<pb::AddDomainAliasResponse>, tonic::Status> {
    s.domains(org)
        .add_domain_alias(pb::AddDomainAliasRequest {
            alias_domain_id: alias,
            target_domain_id: target,
        })
        .await
}

async fn an_alias_domain_reaches_what_its_target_reaches(s: &TestServer, dns: &TestDns) {
    let org = s.create_org("Acme", Plan::Pro).await;
    let target = s.active_domain(&org, dns, "acme.example").await;
    let alias = s.active_domain(&org, dns, "acme.test").await;
    let alice = s
        .create_user_at(&org, "alice", "alice@acme.example", Plan::Entry)
        .await;
    org.add_alias(alice.id, "sales@acme.example").await;
    let carol = s
        .create_user_at(&org, "carol", "carol@acme.example", Plan::Free)
        .await;
    org.disable(carol.id).await;
    let mta = DeliveryClient::new(
        &format!("http://{}", s.addr),
        &s.delivery_token().await,
        Duration::from_secs(10),
    )
    .expect("a delivery client");
    assert_eq!(
        mta.check_recipient("alice@acme.test").await,
        Verdict::RejectUnknown,
        "not an alias yet"
    );

    let added = ok(add_alias_domain(s, &org, alias.id, target.id).await)
        .domain
        .expect("the alias domain");
    assert_eq!(added.alias_of_domain_id, target.id);
    assert_eq!(
        s.get_domain(&org, target.id).await.alias_domain_ids,
        vec![alias.id]
    );

    for (address, expected) in [
        ("alice@acme.test", deliver_to(&alice)),
        ("alice+news@acme.test", deliver_to(&alice)),
        ("sales@acme.test", deliver_to(&alice)),
        ("postmaster@acme.test", deliver_to(&org.master)),
        (
            "carol@acme.test",
            Verdict::RejectDisabled { user_id: carol.id },
        ),
        ("nobody@acme.test", Verdict::RejectUnknown),
    ] {
        assert_eq!(mta.check_recipient(address).await, expected, "{address}");
    }
    let resolved = ok(org
        .admin
        .clone()
        .resolve_address(pb::ResolveAddressRequest {
            address: "alice@acme.test".into(),
        })
        .await);
    assert_eq!(resolved.user_id, alice.id, "{resolved:?}");
    assert_eq!(resolved.r#match, pb::MatchKind::DomainAlias as i32);

    // The target's catch-all catches for the alias too.
    ok(s.domains(&org)
        .set_catch_all(pb::SetCatchAllRequest {
            domain_id: target.id,
            user_id: alice.id,
        })
        .await);
    assert_eq!(
        mta.check_recipient("nobody@acme.test").await,
        deliver_to(&alice)
    );

    // The alias holds no addresses; the target cannot go while it has one.
    let status = org
        .admin
        .clone()
        .add_alias(pb::AddAliasRequest {
            user_id: alice.id,
            address: "alice2@acme.test".into(),
            ..Default::default()
        })
        .await
        .expect_err("an address on an alias domain");
    assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
    let status = s
        .domains(&org)
        .remove_domain(pb::RemoveDomainRequest {
            domain_id: target.id,
        })
        .await
        .expect_err("removing a domain with an alias");
    assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");

    // Deactivating the target leaves the alias's addresses unknown, not relayed.
    ok(s.domains(&org)
        .deactivate_domain(pb::DeactivateDomainRequest {
            domain_id: target.id,
        })
        .await);
    assert_eq!(
        mta.check_recipient("alice@acme.test").await,
        Verdict::RejectUnknown
    );
    ok(s.domains(&org)
        .activate_domain(pb::ActivateDomainRequest {
            domain_id: target.id,
        })
        .await);
    assert_eq!(
        mta.check_recipient("alice@acme.test").await,
        deliver_to(&alice)
    );

    // Removed: unknown again.
    let removed = ok(s
        .domains(&org)
        .remove_domain_alias(pb::RemoveDomainAliasRequest {
            alias_domain_id: alias.id,
        })
        .await)
    .domain
    .expect("the domain");
    assert_eq!(removed.alias_of_domain_id, 0);
    assert_eq!(
        mta.check_recipient("alice@acme.test").await,
        Verdict::RejectUnknown
    );
}

async fn domain_aliases_stay_simple(s: &TestServer, dns: &TestDns) {
    let org = s.create_org("Acme", Plan::Pro).await;
    let other = s.create_org("Bravo", Plan::Pro).await;
    let target = s.active_domain(&org, dns, "acme.example").await;
    let alias = s.active_domain(&org, dns, "acme.test").await;
    let busy = s.active_domain(&org, dns, "busy.example").await;
    let foreign = s.active_domain(&other, dns, "bravo.example").await;
    s.create_user_at(&org, "bob", "bob@busy.example", Plan::Free)
        .await;

    assert_invalid(
        add_alias_domain(s, &org, target.id, target.id).await,
        "target_domain_id",
    );
    let status = add_alias_domain(s, &org, alias.id, foreign.id)
        .await
        .expect_err("another organization's domain");
    assert_eq!(status.code(), Code::NotFound, "{status:?}");
    let status = add_alias_domain(s, &org, busy.id, target.id)
        .await
        .expect_err("a domain with addresses");
    assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
    assert!(status.message().contains("addresses"), "{status:?}");

    ok(add_alias_domain(s, &org, alias.id, target.id).await);
    let claimed = s.verified_domain(&org, dns, "acme.dev").await;
    let status = add_alias_domain(s, &org, claimed.id, alias.id)
        .await
        .expect_err("an alias of an alias");
    assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
    assert!(status.message().contains("itself an alias"), "{status:?}");
    let status = add_alias_domain(s, &org, target.id, claimed.id)
        .await
        .expect_err("a target becoming an alias");
    assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
    let status = s
        .domains(&org)
        .set_catch_all(pb::SetCatchAllRequest {
            domain_id: alias.id,
            user_id: org.master.id,
        })
        .await
        .expect_err("a catch-all on an alias domain");
    assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
}

backend_tests!(
    an_alias_domain_reaches_what_its_target_reaches: TestDns,
    domain_aliases_stay_simple: TestDns
);
