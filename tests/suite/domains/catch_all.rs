//! A domain's catch-all (docs/rules.md, "Catch-all"), seen by a mail server
//! through the client crate: it takes only what nothing else takes, a
//! disabled target refuses, clearing it (or deleting its account) makes
//! unknown addresses unknown again, and only the domain's own
//! organization's accounts may be the target.

use crate::dns_server::TestDns;
use crate::harness::*;
use mailadmin_client::{DeliveryClient, Verdict, pb};
use std::time::Duration;
use tonic::Code;

async fn mta_for(s: &TestServer) -> DeliveryClient {
    let token = s.delivery_token().await;
    DeliveryClient::new(
        &format!("http://{}", s.addr),
        &token,
        Duration::from_secs(10),
    )
    .expect("a delivery client")
}

fn deliver_to(user: &pb::User) -> Verdict {
    Verdict::Deliver {
        user_id: user.id,
        primary_address: user.primary_address.clone(),
    }
}

async fn a_catch_all_takes_only_what_nothing_else_takes(s: &TestServer, dns: &TestDns) {
    let org = s.create_org("Acme", Plan::Pro).await;
    let domain = s.active_domain(&org, dns, "acme.example").await;
    let bin = s
        .create_user_at(&org, "bin", "bin@acme.example", Plan::Free)
        .await;
    let carol = s
        .create_user_at(&org, "carol", "carol@acme.example", Plan::Entry)
        .await;
    let mta = mta_for(s).await;
    let mut domains = s.domains(&org);

    assert_eq!(
        mta.check_recipient("stranger@acme.example").await,
        Verdict::RejectUnknown,
        "no catch-all yet"
    );
    let set = ok(domains
        .set_catch_all(pb::SetCatchAllRequest {
            domain_id: domain.id,
            user_id: bin.id,
        })
        .await)
    .domain
    .expect("the domain");
    assert_eq!(set.catch_all_user_id, bin.id);
    assert_eq!(
        s.get_domain(&org, domain.id).await.catch_all_user_id,
        bin.id
    );

    // What nothing else takes goes to the catch-all...
    for address in ["stranger@acme.example", "stranger+tag@acme.example"] {
        assert_eq!(
            mta.check_recipient(address).await,
            deliver_to(&bin),
            "{address}"
        );
    }
    // ...and it loses to an exact address, a sub-address, an alias and a
    // role address.
    org.add_alias(carol.id, "sales@acme.example").await;
    for (address, owner) in [
        ("carol@acme.example", &carol),
        ("carol+news@acme.example", &carol),
        ("sales@acme.example", &carol),
        ("postmaster@acme.example", &org.master),
    ] {
        assert_eq!(
            mta.check_recipient(address).await,
            deliver_to(owner),
            "{address}"
        );
    }
    let resolved = ok(org
        .admin
        .clone()
        .resolve_address(pb::ResolveAddressRequest {
            address: "stranger@acme.example".into(),
        })
        .await);
    assert_eq!(resolved.user_id, bin.id, "{resolved:?}");
    assert_eq!(resolved.r#match, pb::MatchKind::CatchAll as i32);

    // A disabled target refuses as disabled.
    org.disable(bin.id).await;
    assert_eq!(
        mta.check_recipient("stranger@acme.example").await,
        Verdict::RejectDisabled { user_id: bin.id }
    );

    // Cleared: unknown again.
    ok(domains
        .clear_catch_all(pb::ClearCatchAllRequest {
            domain_id: domain.id,
        })
        .await);
    assert_eq!(
        mta.check_recipient("stranger@acme.example").await,
        Verdict::RejectUnknown
    );

    // Deleting the target clears the catch-all too.
    ok(domains
        .set_catch_all(pb::SetCatchAllRequest {
            domain_id: domain.id,
            user_id: bin.id,
        })
        .await);
    org.delete_user(bin.id).await;
    assert_eq!(s.get_domain(&org, domain.id).await.catch_all_user_id, 0);
    assert_eq!(
        mta.check_recipient("stranger@acme.example").await,
        Verdict::RejectUnknown
    );
}

async fn a_catch_all_belongs_to_the_domains_organization(s: &TestServer, dns: &TestDns) {
    let org = s.create_org("Acme", Plan::Pro).await;
    let other = s.create_org("Bravo", Plan::Pro).await;
    let domain = s.active_domain(&org, dns, "acme.example").await;
    let stranger = s
        .create_user(&other.admin, other.id, "stranger", Plan::Free)
        .await;
    let mut domains = s.domains(&org);
    for (user_id, why) in [(stranger.id, "another organization's"), (9_999_999, "no")] {
        let status = domains
            .set_catch_all(pb::SetCatchAllRequest {
                domain_id: domain.id,
                user_id,
            })
            .await
            .expect_err(why);
        assert_eq!(status.code(), Code::NotFound, "{why} account: {status:?}");
    }
    assert_invalid(
        domains
            .set_catch_all(pb::SetCatchAllRequest {
                domain_id: domain.id,
                user_id: 0,
            })
            .await,
        "user_id",
    );
    assert_eq!(s.get_domain(&org, domain.id).await.catch_all_user_id, 0);
}

backend_tests!(
    a_catch_all_takes_only_what_nothing_else_takes: TestDns,
    a_catch_all_belongs_to_the_domains_organization: TestDns
);
